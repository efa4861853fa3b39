import json

import h5py
import numpy as np
import pytest
from layersynth.cli import main as cli
from layersynth.pipeline.generation import generate, make_settings
from layersynth.store import manifest

SMALL = ["--preset", "tiny", "--seed", "3", "--shard-size", "2", "--frames", "4",
         "--size", "32x48", "--workers", "1"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds") / "d"
    settings = make_settings(preset="tiny", seed=3, shard_size=2, frames=4, height=32, width=48)
    generate(settings, n=3, out=root, workers=1, scheduler=None)
    return root


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def test_every_module_in_commands_becomes_a_sub_command_without_editing_cli():
    names = set(cli.command_modules())
    assert {"generate", "validate", "inspect", "preview", "export"} <= names


def test_a_new_command_module_is_discovered(tmp_path, monkeypatch):
    from layersynth import cli as commands

    (tmp_path / "hello.py").write_text(
        "NAME = 'hello'\nHELP = 'say hi'\n"
        "def add_arguments(p):\n    p.add_argument('--who', default='you')\n"
        "def run(args):\n    print('hi', args.who)\n    return 0\n")
    monkeypatch.setattr(commands, "__path__", [*commands.__path__, str(tmp_path)])
    assert "hello" in cli.command_modules()


@pytest.mark.parametrize("bad, message", [
    (["--size", "32"], "--size 32: expected HxW"),
    (["--objects", "0,1"], "--objects 0,1: counts must be >= 1"),
    (["--occlusion", "0.6:0.2"], "--occlusion 0.6:0.2: need 0 <= LO <= HI <= 1"),
    (["--flow", "gt,pwc"], "--flow gt,pwc: unknown method 'pwc'"),
    (["--workers", "0"], "--workers 0: must be at least 1"),
    (["--n", "0"], "--n 0: must be at least 1"),
    (["--frames", "0"], "frames: a positive integer"),
    (["--textures", "/no/such/dir"], "--textures /no/such/dir: no such folder"),
    (["--raft-weights", "/no/w.ckpt", "--flow", "gt,raft"], "--raft-weights /no/w.ckpt: no such"),
])
def test_bad_generate_options_give_one_line_and_exit_2_before_any_work(capsys, tmp_path, bad,
                                                                      message):
    argv = ["generate", "--n", "2", "--out", str(tmp_path / "d"), *SMALL, *bad]
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()


def test_an_unreachable_scheduler_is_refused_before_any_work(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("layersynth.pipeline.generation.CONNECT_TIMEOUT", "1s")
    argv = ["generate", "--n", "2", "--out", str(tmp_path / "d"), *SMALL]
    code, _, err = run(capsys, *argv, "--scheduler", "tcp://127.0.0.1:1")
    assert code == 2 and "--scheduler tcp://127.0.0.1:1: cannot reach the Dask scheduler" in err
    assert not (tmp_path / "d").exists()


def test_generate_prints_a_summary_then_json_and_resumes_with_nothing_to_do(capsys, tmp_path):
    argv = ["generate", "--n", "3", "--out", str(tmp_path / "d"), *SMALL]
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "sequences      3 (3 made, 0 kept)" in out
    assert last_json(out)["shards"] == 2
    code, out, _ = run(capsys, *argv, "--workers", "2")
    assert code == 0 and last_json(out)["kept"] == 3
    code, _, err = run(capsys, *argv[:-2], "--seed", "4")
    assert code == 2 and "seed: 3 -> 4" in err


def test_validate_passes_a_sound_dataset_and_deep_regenerates_it(capsys, dataset):
    code, out, _ = run(capsys, "validate", str(dataset), "--deep")
    assert code == 0 and last_json(out) == {"ok": True, "deep": True, "shards": 2,
                                            "sequences": 3, "problems": []}


def copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_validate_names_a_truncated_shard_and_a_corrupted_one(capsys, dataset, tmp_path):
    root = copy(dataset, tmp_path / "d")
    cut = root / "shard-00001.h5"
    cut.write_bytes(cut.read_bytes()[:2000])
    code, out, _ = run(capsys, "validate", str(root))
    assert code == 1 and "shard-00001.h5: checksum differs" in out
    data = manifest.load(root)
    data["shards"][1]["sha256"] = manifest.sha256_file(cut)
    manifest.save(root, data)
    code, out, _ = run(capsys, "validate", str(root))
    assert code == 1 and "shard-00001.h5: not a readable HDF5 file" in out
    assert last_json(out)["problems"][0].startswith("shard-00001.h5")


def test_validate_deep_names_a_sequence_whose_arrays_no_longer_match_its_seed(capsys, dataset,
                                                                            tmp_path):
    root = copy(dataset, tmp_path / "d")
    with h5py.File(root / "shard-00000.h5", "r+") as f:
        rgb = f["000001/rgb"]
        rgb[0, 0, 0] = (np.asarray(rgb[0, 0, 0]).astype(int) + 1) % 256
    manifest.refresh_entry(root, "shard-00000.h5")
    code, out, _ = run(capsys, "validate", str(root))
    assert code == 0
    code, out, _ = run(capsys, "validate", str(root), "--deep", "--workers", "2")
    assert code == 1
    problem = "shard-00000.h5: 000001: rgb differs from its regeneration"
    assert last_json(out)["problems"] == [problem]


def test_validate_reports_an_unfinished_dataset(capsys, dataset, tmp_path):
    root = copy(dataset, tmp_path / "d")
    data = manifest.load(root)
    manifest.save(root, dict(data, shards=data["shards"][:1]))
    code, out, _ = run(capsys, "validate", str(root))
    assert code == 1 and "1 of 3 sequences not generated yet (first 000002)" in out


def test_validate_of_a_folder_without_manifest_is_a_one_line_usage_error(capsys, tmp_path):
    code, _, err = run(capsys, "validate", str(tmp_path))
    assert code == 2 and "manifest.json: no manifest" in err


def test_inspect_prints_a_table_then_json_with_counts_and_settings(capsys, dataset):
    code, out, _ = run(capsys, "inspect", str(dataset))
    stats = last_json(out)
    assert code == 0 and "sequences      3 of 3 requested, in 2 shards" in out
    assert sum(stats["objects"].values()) == 3 and stats["settings"]["seed"] == 3
    assert 0.0 <= stats["occlusion_fraction"]["mean"] <= 1.0
    assert stats["frames"] == 4 and stats["flows"] == ["gt"]


def test_preview_and_export_refuse_bad_requests_in_one_line(capsys, dataset, tmp_path):
    code, _, err = run(capsys, "preview", str(dataset), "--seq", "999", "--out", "x.png")
    assert code == 2 and "--seq 999: no such sequence" in err
    code, _, err = run(capsys, "preview", str(dataset), "--seq", "000000", "--out", "x.bmp")
    assert code == 2 and "use a .png, .gif or .mp4" in err
    code, _, err = run(capsys, "export", str(dataset), "--format", "oclr", "--out",
                       str(tmp_path / "x"), "--flow", "raft")
    assert code == 2 and "--flow raft: " in err and "holds flows gt" in err
