"""`layersynth preview DIR --seq ID --out FILE`: a picture of one sequence; bad requests refused."""

import pytest
from clirun import invoke, script, tiny_dataset
from PIL import Image


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("ds") / "d", n=1)


def test_preview_refuses_an_unknown_sequence_and_an_unknown_file_type_in_one_line(dataset):
    ran = invoke("preview", dataset, "--seq", "999", "--out", "x.png")
    assert "--seq 999: no such sequence" in ran.error_line()
    assert "(ids 000000 .. 000000)" in ran.err
    ran = invoke("preview", dataset, "--seq", "000000", "--out", "x.bmp")
    assert "use a .png, .gif or .mp4" in ran.error_line()
    assert "--fps 0: must be at least 1" in invoke(
        "preview", dataset, "--seq", "000000", "--out", "x.gif", "--fps", "0").error_line()


def test_the_console_script_writes_a_png_contact_sheet(dataset, tmp_path):
    ran = script("preview", dataset, "--seq", "000000", "--out", tmp_path / "p.png")
    assert ran.code == 0 and str(tmp_path / "p.png") in ran.out
    with Image.open(tmp_path / "p.png") as image:
        assert image.format == "PNG" and min(image.size) > 32
