"""`layersynth import SRC --format oclr --out DIR` end to end: summary, resume, validate (deep
against the source), export and import round trips, flow, and oclr-train / oclr-eval on the
imported folder."""

import json

import numpy as np
import pytest
from hostile_cli import refused, run, tiny_dataset
from layersynth import open_dataset
from layersynth.store.middlebury_flo import read_flo
from layersynth.store.schema import FLOW_SCALE
from layersynth.viz import preview
from PIL import Image
from released_layout import write_released

SPECS = [("1_a", 4, 32, 48), ("2_b", 4, 32, 48), ("3_c", 5, 32, 48)]


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    root = tmp_path_factory.mktemp("released") / "src"
    write_released(root, SPECS, np.random.default_rng(2))
    return root


def import_args(src, out, *extra):
    return ["import", src, "--format", "oclr", "--out", out, "--workers", "1", "--shard-size",
            "2", *extra]


@pytest.fixture(scope="module")
def imported(src, tmp_path_factory):
    from layersynth.cli.main import main

    out = tmp_path_factory.mktemp("imported") / "ds"
    assert main([str(a) for a in import_args(src, out)]) == 0
    return out


def test_the_command_prints_a_summary_then_the_json_last(src, tmp_path, capsys):
    ran = run(capsys, *import_args(src, tmp_path / "ds"))
    assert ran.code == 0, ran.err
    lines = ran.out.strip().splitlines()
    assert lines[2].startswith("sequences      3 (3 made, 0 kept, 0 skipped)")
    summary = json.loads(lines[-1])
    assert summary["frames"] == 13 and summary["shards"] == 2 and summary["workers"] == 1


def test_the_same_command_again_keeps_every_shard(src, imported, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in imported.glob("shard-*.h5")}
    ran = run(capsys, *import_args(src, imported))
    summary = json.loads(ran.out.strip().splitlines()[-1])
    assert (summary["made"], summary["kept"]) == (0, 3)
    assert {p.name: p.stat().st_mtime_ns for p in imported.glob("shard-*.h5")} == before


def test_another_size_on_the_same_folder_is_refused(src, imported, capsys):
    refused(run(capsys, *import_args(src, imported, "--size", "16x24")), "other settings", "size")


def test_two_workers_write_the_same_arrays_as_one(src, imported, tmp_path, capsys):
    assert run(capsys, *import_args(src, tmp_path / "ds2"), "--workers", "2").code == 0
    with open_dataset(imported) as one, open_dataset(tmp_path / "ds2") as two:
        for i in one.ids:
            a, b = one[i], two[i]
            assert all(np.array_equal(a[n], b[n]) for n in a)


def test_validate_and_deep_validate_accept_the_import(imported, capsys):
    assert run(capsys, "validate", imported).code == 0
    ran = run(capsys, "validate", imported, "--deep")
    assert ran.code == 0 and json.loads(ran.out.strip().splitlines()[-1])["deep"]


def test_deep_validate_compares_against_the_source_files(src, tmp_path, capsys):
    copy = tmp_path / "src"
    write_released(copy, SPECS[:1], np.random.default_rng(2))
    assert run(capsys, *import_args(copy, tmp_path / "ds")).code == 0
    mask = copy / "AmodalAnnotations" / "1_a" / "1_00002.png"
    Image.fromarray(np.full((32, 48), 255, np.uint8)).save(mask)
    ran = run(capsys, "validate", tmp_path / "ds", "--deep")
    assert ran.code == 1
    assert "problem: shard-00000.h5: 000000: amodal differs from the source (1_a)" in ran.out
    assert run(capsys, "validate", tmp_path / "ds").code == 0  # the shards themselves are sound


def test_export_of_an_import_gives_back_the_masks_exactly_and_the_flows_to_the_quantum(
        src, imported, tmp_path, capsys):
    assert run(capsys, "export", imported, "--format", "oclr", "--out", tmp_path / "x",
               "--flow", "raft").code == 0
    for name, _, _, _ in SPECS:
        for path in sorted((src / "AmodalAnnotations" / name).glob("*.png")):
            back = tmp_path / "x" / "AmodalAnnotations" / f"{name[0]}_{name_id(imported, name)}"
            assert np.array_equal(np.asarray(Image.open(path)),
                                  np.asarray(Image.open(back / path.name)))
        for gap in ("Flows_gap1", "Flows_gap-1"):
            for path in sorted((src / gap / name).glob("*.flo")):
                back = tmp_path / "x" / gap / f"{name[0]}_{name_id(imported, name)}" / path.name
                assert np.abs(read_flo(back) - read_flo(path)).max() <= FLOW_SCALE / 2 + 1e-6


def name_id(root, name):
    with open_dataset(root) as ds:
        return next(i for i in ds.ids if ds.record(i)["source"]["sequence"] == name)


def test_import_of_an_export_gives_back_the_arrays_rgb_up_to_jpeg_loss(tmp_path, capsys):
    made = tiny_dataset(tmp_path / "made")
    assert run(capsys, "export", made, "--format", "oclr", "--out", tmp_path / "x").code == 0
    assert run(capsys, *import_args(tmp_path / "x", tmp_path / "back")).code == 0
    with open_dataset(made) as a, open_dataset(tmp_path / "back") as b:
        assert len(a) == len(b) == 4
        for i in a.ids:
            old, new = a[i], b[i]
            assert b.record(i)["source"]["sequence"].endswith(i)
            for name in ("amodal", "order"):
                assert np.array_equal(old[name], new[name]), name
            shown = ~old["occluder"]  # occluders count as background; the layout has none
            assert np.array_equal(old["modal"][shown], new["modal"][shown])
            assert np.array_equal(old["flow_gt"], new["flow_raft"])
            assert psnr(old["rgb"], new["rgb"]) > 20.0  # JPEG q95, 4:2:0, on 32 x 48 textures


def psnr(a, b):
    """Peak signal-to-noise ratio (dB) of two uint8 arrays."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse) if mse else np.inf


def test_a_flow_pass_adds_dis_flow_to_an_import(src, tmp_path, capsys):
    assert run(capsys, *import_args(src, tmp_path / "ds")).code == 0
    assert run(capsys, "flow", tmp_path / "ds", "--method", "dis").code == 0
    with open_dataset(tmp_path / "ds") as ds:
        assert ds.flow_methods == ["dis", "raft"]
        assert ds[ds.ids[0]]["flow_dis"].shape == ds[ds.ids[0]]["flow_raft"].shape
    assert run(capsys, "validate", tmp_path / "ds").code == 0


def test_export_of_gt_flow_says_the_import_has_none(imported, tmp_path, capsys):
    refused(run(capsys, "export", imported, "--format", "oclr", "--out", tmp_path / "x"),
            "--flow gt", "raft")
    assert not (tmp_path / "x").exists()


def test_preview_of_an_import_draws_its_raft_flow_and_says_so(imported, tmp_path, capsys):
    ran = run(capsys, "preview", imported, "--seq", "000000", "--out", tmp_path / "p.png")
    assert ran.code == 0, ran.err
    arrays = open_dataset(imported)["000000"]
    assert preview.shown_flow(arrays) == "flow_raft"
    assert preview.column_titles(2, "flow_raft")[2] == "flow +1 (raft)"
    sheet = np.asarray(Image.open(tmp_path / "p.png"))
    rows = preview.frames(arrays)
    h, w = arrays["rgb"].shape[1:3]
    # The flow tile of the first row (after the rgb and its H x H edge zoom) is the colour-wheel
    # picture of the imported flow.
    x0 = w + h
    tile = sheet[preview.HEADER:preview.HEADER + h, x0:x0 + w]
    assert np.array_equal(tile, rows[0][:, x0:x0 + w]) and tile.std() > 0


OCLR_SMALL = ["frames=4", "height=32", "width=48", "cnn_channels=[8,16,32]", "d_model=32",
              "heads=2", "ffn_dim=32"]


def test_oclr_trains_and_scores_on_an_import_with_its_raft_flow(imported, tmp_path, capsys):
    from oclr import cli_eval, cli_train

    model = [a for m in OCLR_SMALL for a in ("--model", m)]
    assert cli_train.main(["--shards", str(imported), "--out", str(tmp_path / "run"), "--preset",
                           "tiny", *model, "--batch", "2", "--workers", "0", "--steps", "1",
                           "--flow", "raft"]) == 0
    capsys.readouterr()
    assert cli_eval.main(["--checkpoint", str(tmp_path / "run" / "last.pt"), "--shards",
                          str(imported), "--flow", "raft"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= result["amodal_j"] <= 1
    assert {clip.split("@")[0] for clip in result["sequences"]} == {"000000", "000001", "000002"}


def test_plain_inspect_reports_an_import_from_its_records(imported, capsys):
    ran = run(capsys, "inspect", imported)
    assert ran.code == 0, ran.err
    assert "flows          raft" in ran.out and "objects        1: 1, 2: 1, 3: 1" in ran.out
    assert json.loads(ran.out.strip().splitlines()[-1])["sequences"] == 3


def test_flow_raft_on_an_import_is_refused_so_the_sources_flow_keeps_its_provenance(imported,
                                                                                    capsys):
    before = (imported / "manifest.json").read_bytes()
    refused(run(capsys, "flow", imported, "--method", "raft"), "--method raft", "imported from",
            "--method dis")
    assert (imported / "manifest.json").read_bytes() == before
