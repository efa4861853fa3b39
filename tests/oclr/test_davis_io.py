import numpy as np
import pytest
from layersynth.errors import UsageError
from oclr.davis_io import (
    MaskFormatError,
    davis_palette,
    list_sequences,
    read_label_png,
    write_label_png,
)
from PIL import Image


def test_davis_palette_is_the_voc_colour_map():
    pal = np.frombuffer(davis_palette(), np.uint8).reshape(256, 3)
    assert pal[0].tolist() == [0, 0, 0]
    assert pal[1].tolist() == [128, 0, 0]
    assert pal[2].tolist() == [0, 128, 0]
    assert pal[3].tolist() == [128, 128, 0]
    assert pal[4].tolist() == [0, 0, 128]
    assert pal[8].tolist() == [64, 0, 0]
    assert pal[255].tolist() == [224, 224, 192]


def test_label_png_round_trips_as_a_palette_image(tmp_path):
    labels = np.zeros((7, 11), np.uint8)
    labels[1:4, 2:6] = 1
    labels[5, :] = 2
    labels[0, 0] = 255
    path = tmp_path / "00000.png"
    write_label_png(path, labels)
    with Image.open(path) as image:
        assert image.mode == "P"
        assert image.getpalette()[3:6] == [128, 0, 0]
    np.testing.assert_array_equal(read_label_png(path), labels)


def test_binary_grayscale_png_reads_as_object_one_not_void(tmp_path):
    mask = np.zeros((6, 8), np.uint8)
    mask[2:4, 3:7] = 255
    Image.fromarray(mask).save(tmp_path / "a.png")
    np.testing.assert_array_equal(
        read_label_png(tmp_path / "a.png"), (mask == 255).astype(np.uint8)
    )


def test_binary_png_is_refused_where_a_palette_png_is_required(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(MaskFormatError, match="a.png: a mode L image"):
        read_label_png(tmp_path / "a.png", allow_binary=False)


def test_rgb_png_and_grayscale_with_other_values_are_refused_naming_the_file(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(MaskFormatError, match="rgb.png: a mode RGB image"):
        read_label_png(tmp_path / "rgb.png")
    Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4)).save(tmp_path / "grey.png")
    with pytest.raises(MaskFormatError, match="grey.png: grayscale mask with values 0, 1"):
        read_label_png(tmp_path / "grey.png")


def test_unreadable_png_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(MaskFormatError, match="bad.png: cannot read"):
        read_label_png(tmp_path / "bad.png")


def test_mask_format_error_is_a_usage_error():
    assert issubclass(MaskFormatError, UsageError)


def make_layout(root, seqs=("b", "a"), frames=("00001", "00000")):
    for s in seqs:
        (root / s).mkdir(parents=True)
        for f in frames:
            write_label_png(root / s / f"{f}.png", np.zeros((4, 4), np.uint8))


def test_list_sequences_sorts_sequences_and_frames(tmp_path):
    make_layout(tmp_path)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "empty").mkdir()
    seqs = list_sequences(tmp_path, "--gt")
    assert list(seqs) == ["a", "b"]
    assert list(seqs["a"]) == ["00000", "00001"]
    assert seqs["a"]["00000"] == tmp_path / "a" / "00000.png"


def test_list_sequences_refuses_a_missing_folder(tmp_path):
    with pytest.raises(MaskFormatError, match="--pred .*nope: no such folder"):
        list_sequences(tmp_path / "nope", "--pred")


def test_list_sequences_refuses_pngs_directly_in_the_root(tmp_path):
    write_label_png(tmp_path / "00000.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(MaskFormatError, match="PNG files directly"):
        list_sequences(tmp_path, "--pred")


def test_list_sequences_points_a_dataset_root_to_its_annotations(tmp_path):
    make_layout(tmp_path / "Annotations" / "480p")
    with pytest.raises(MaskFormatError, match="Annotations/480p"):
        list_sequences(tmp_path, "--gt")


def test_a_mask_format_error_is_an_input_error_of_the_shared_base():
    from layersynth.errors import InputError
    from oclr.davis_io import MaskFormatError

    assert issubclass(MaskFormatError, InputError)
