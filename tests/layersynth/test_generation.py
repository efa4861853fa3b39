import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from distributed import LocalCluster
from layersynth import open_dataset
from layersynth.errors import UsageError
from layersynth.pipeline.generation import (
    NAMESPACES,
    SHARD_SIZES,
    GenerationError,
    _job,
    generate,
    make_settings,
    make_shard,
    seed_sequence,
)
from layersynth.scene.config import PRESETS
from layersynth.store import manifest
from layersynth.store.folder_lock import FolderInUse, hold
from layersynth.store.oclr_export import export_oclr
from PIL import Image
from shard_damage import flip_in_chunk

SMALL = dict(preset="tiny", seed=7, shard_size=2, frames=4, height=32, width=48)


def make(out, n, workers=1, scheduler=None, **changes):
    settings = make_settings(**(SMALL | changes))
    return generate(settings, n=n, out=out, workers=workers, scheduler=scheduler)


def shard_sums(root):
    return {e["file"]: e["sha256"] for e in manifest.load(root)["shards"]}


def tree_digest(root):
    """sha256 of every file under root, by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}


def assert_same_datasets(a, b):
    da, db = open_dataset(a), open_dataset(b)
    assert da.ids == db.ids
    for i in da.ids:
        x, y = da[i], db[i]
        assert set(x) == set(y)
        for name in x:
            np.testing.assert_array_equal(x[name], y[name], err_msg=f"{i} {name}")
    assert shard_sums(a) == shard_sums(b)


@pytest.mark.slow
def test_one_two_workers_and_dask_make_identical_shards_and_exports(tmp_path):
    make(tmp_path / "w1", 5, workers=1)
    make(tmp_path / "w2", 5, workers=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster:
        summary = make(tmp_path / "dask", 5, scheduler=cluster.scheduler_address)
    assert summary["made"] == 5 and summary["shards"] == 3
    assert_same_datasets(tmp_path / "w1", tmp_path / "w2")
    assert_same_datasets(tmp_path / "w1", tmp_path / "dask")
    for name in ("w1", "w2", "dask"):
        export_oclr(open_dataset(tmp_path / name), tmp_path / f"x-{name}")
    assert tree_digest(tmp_path / "x-w1") == tree_digest(tmp_path / "x-w2")
    assert tree_digest(tmp_path / "x-w1") == tree_digest(tmp_path / "x-dask")


def test_sequence_i_lands_in_shard_i_over_s_with_its_seed_recorded(tmp_path):
    make(tmp_path, 5)
    data = manifest.load(tmp_path)
    assert [e["ids"] for e in data["shards"]] == [["000000", "000001"], ["000002", "000003"],
                                                  ["000004"]]
    record = open_dataset(tmp_path).record("000003")
    assert record["seed"] == {"entropy": 7, "spawn_key": [0, 3]}
    assert record["stats"]["objects"] in (1, 2, 3)
    assert (tmp_path / "DATASET.md").read_text().count("`flow_gt`") == 1


def test_a_larger_n_extends_the_dataset_and_keeps_earlier_sequences(tmp_path):
    make(tmp_path / "grow", 3)
    first = shard_sums(tmp_path / "grow")
    summary = make(tmp_path / "grow", 6)
    assert summary["kept"] == 2 and summary["made"] == 4
    assert shard_sums(tmp_path / "grow")["shard-00000.h5"] == first["shard-00000.h5"]
    make(tmp_path / "clean", 6)
    assert_same_datasets(tmp_path / "grow", tmp_path / "clean")


def test_resume_redoes_a_partial_shard_and_ends_with_the_clean_dataset(tmp_path):
    make(tmp_path / "clean", 6)
    make(tmp_path / "crash", 6)
    root = tmp_path / "crash"
    data = manifest.load(root)  # as if killed after shard 2 was renamed but before it was listed
    manifest.save(root, dict(data, shards=data["shards"][:1]))
    shard = root / "shard-00001.h5"
    shard.write_bytes(shard.read_bytes()[:1000])
    (root / "shard-00002.h5.tmp-99999").write_bytes(b"partial")
    summary = make(root, 6)
    assert summary["kept"] == 2 and summary["made"] == 4
    assert not list(root.glob("*.tmp-*"))
    assert_same_datasets(root, tmp_path / "clean")


@pytest.mark.slow
def test_kill_9_in_the_middle_then_resume_equals_one_clean_run(tmp_path):
    cmd = [sys.executable, "-m", "layersynth.cli", "generate", "--preset", "tiny", "--seed", "7",
           "--shard-size", "2", "--frames", "4", "--size", "32x48", "--workers", "1",
           "--n", "40", "--out", str(tmp_path / "killed")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    listed = 0
    deadline = time.monotonic() + 120
    while listed < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
        try:
            listed = len(manifest.load(tmp_path / "killed")["shards"])
        except Exception:
            listed = 0
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 2 <= len(manifest.load(tmp_path / "killed")["shards"]) < 20, "not killed mid-run"
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    make(tmp_path / "clean", 40)  # the same settings as `cmd`, uninterrupted
    assert_same_datasets(tmp_path / "killed", tmp_path / "clean")
    export_oclr(open_dataset(tmp_path / "killed"), tmp_path / "x-killed")
    export_oclr(open_dataset(tmp_path / "clean"), tmp_path / "x-clean")
    assert tree_digest(tmp_path / "x-killed") == tree_digest(tmp_path / "x-clean")


@pytest.mark.parametrize("change, named", [
    (dict(seed=8), "seed: 7 -> 8"),
    (dict(frames=5), "scene.frames: 4 -> 5"),
    (dict(objects=(1,)), "scene.objects"),
    (dict(shard_size=3), "shard_size: 2 -> 3"),
    (dict(flow=("gt", "dis")), "flow"),
])
def test_a_setting_that_changes_content_is_refused_on_a_non_empty_folder(tmp_path, change, named):
    make(tmp_path, 2)
    before = shard_sums(tmp_path)
    with pytest.raises(UsageError, match=named.replace("(", r"\(")):
        make(tmp_path, 2, **change)
    assert shard_sums(tmp_path) == before


def test_a_dataset_made_by_other_generator_code_is_not_resumed_nor_made_by_such_workers(tmp_path):
    make(tmp_path / "d", 2)
    other = replace(make_settings(**SMALL), generator_code="0123456789abcdef")
    with pytest.raises(UsageError, match="generator_code: .*layersynth's source changed"):
        generate(other, n=2, out=tmp_path / "d", workers=1, scheduler=None)
    with pytest.raises(GenerationError, match="not the code of the dataset"):
        make_shard(_job(tmp_path / "e", 0, other, 2, "cpu"))


def test_a_smaller_n_or_a_foreign_folder_is_refused(tmp_path):
    make(tmp_path / "d", 4)
    with pytest.raises(UsageError, match="holds a dataset of 4 sequences"):
        make(tmp_path / "d", 3)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty and has no manifest.json"):
        make(tmp_path / "other", 2)


def test_syn_val_sequences_come_from_a_seed_namespace_training_never_uses():
    train = make_settings(**(SMALL | dict(preset="oclr")))
    val = make_settings(**(SMALL | dict(preset="syn-val")))
    assert train.namespace != val.namespace
    a = np.random.default_rng(seed_sequence(train, 0)).random(4)
    b = np.random.default_rng(seed_sequence(val, 0)).random(4)
    assert not np.allclose(a, b)


def test_every_preset_has_its_own_seed_namespace_but_the_training_ones_share_zero():
    assert set(NAMESPACES) == set(PRESETS) and set(SHARD_SIZES) == set(PRESETS)
    val = [NAMESPACES[n] for n in PRESETS if n.startswith("syn-val")]
    assert len(set(val)) == len(val) and 0 not in val
    assert NAMESPACES["oclr"] == NAMESPACES["tiny"] == 0


def test_an_occlusion_range_no_scene_meets_stops_with_a_one_line_error(tmp_path):
    with pytest.raises(UsageError, match="sequence 000000: occlusion 0.99:1.0"):
        make(tmp_path, 1, occlusion=(0.99, 1.0), occlusion_tries=2, objects=(1,),
             full_occlusion_prob=0.0)


def test_the_summary_counts_frames_and_bytes(tmp_path):
    s = make(tmp_path, 3)
    assert s["sequences"] == 3 and s["bytes"] == sum(
        (tmp_path / f).stat().st_size for f in shard_sums(tmp_path))
    assert json.loads(json.dumps(s))["frames_per_second"] > 0


def test_a_textures_folder_is_recorded_and_changing_its_content_is_refused(tmp_path):
    folder = tmp_path / "pass"
    folder.mkdir()
    for i, rgb in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        Image.fromarray(np.full((40, 50, 3), rgb, np.uint8)).save(folder / f"img{i}.png")
    dirs = {"textures": str(folder)}
    make(tmp_path / "d", 2, asset_dirs=dirs)
    settings = manifest.load(tmp_path / "d")["settings"]
    assert settings["asset_dirs"]["textures"] == str(folder)
    assert settings["assets"]["textures"]["kind"] == "folder"
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(folder / "img3.png")
    with pytest.raises(UsageError, match="assets.textures"):
        make(tmp_path / "d", 3, asset_dirs=dirs)


def test_estimated_flow_asked_at_generation_is_stored_beside_the_exact_flow(tmp_path):
    make(tmp_path, 3, flow=("gt", "dis"))
    ds = open_dataset(tmp_path)
    assert ds.flow_methods == ["gt", "dis"]
    seq = ds[ds.ids[2]]
    assert seq["flow_dis"].shape == seq["flow_gt"].shape and seq["flow_dis"].dtype == np.float32
    assert np.abs(seq["flow_dis"] - seq["flow_gt"]).mean() < 2.0  # an estimate, not noise


def test_a_kept_shard_whose_bytes_changed_is_made_again_with_a_warning(tmp_path, capsys):
    make(tmp_path / "clean", 4)
    make(tmp_path / "flipped", 4)
    flip_in_chunk(tmp_path / "flipped" / "shard-00001.h5", "000003", "flow_gt")  # same size
    capsys.readouterr()
    summary = make(tmp_path / "flipped", 4)
    assert (summary["made"], summary["kept"]) == (2, 2)
    err = capsys.readouterr().err
    assert "shard-00001.h5: sha256 differs from manifest.json" in err and "making it again" in err
    assert "shard-00000.h5" not in err
    assert_same_datasets(tmp_path / "flipped", tmp_path / "clean")


def test_a_run_on_a_folder_another_run_holds_is_refused_and_changes_nothing(tmp_path):
    holder = f"in use by layersynth generate \\(pid {os.getpid()}\\)"
    with hold(tmp_path / "d", "layersynth generate"):
        with pytest.raises(FolderInUse, match=holder):
            make(tmp_path / "d", 2)
    assert [p.name for p in (tmp_path / "d").iterdir()] == [".lock"]
    make(tmp_path / "d", 2)  # the lock file alone does not make the folder foreign
    assert len(open_dataset(tmp_path / "d")) == 2
