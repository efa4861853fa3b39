"""`layersynth flow`: estimated flow added to existing shards in place, atomically and resumably."""

import json

import numpy as np
import pytest
from clirun import invoke, script
from layersynth.cli.main import main
from layersynth.estimators import FlowEstimator, build_estimator
from layersynth.estimators.inplace import add_estimated_flow
from layersynth.store import manifest
from layersynth.store.reader import open_dataset
from layersynth.store.schema import FLOW_SCALE
from layersynth.store.writer import ShardWriter

SHARD_SIZE, N, T, H, W = 2, 5, 3, 24, 32


def fake_sequence(rng: np.random.Generator) -> dict:
    """Arrays of one valid sequence (K = 1): textured frames, a square object, zero GT flow."""
    rgb = rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8)
    amodal = np.zeros((1, T, H, W), bool)
    amodal[:, :, 8:16, 8:16] = True
    return {
        "rgb": rgb, "amodal": amodal, "modal": amodal[0].astype(np.uint8),
        "occluder": np.zeros((T, H, W), bool), "flow_gt": np.zeros((T, 2, H, W, 2), np.float32),
        "order": np.zeros(1, np.int16),
    }


@pytest.fixture
def dataset(tmp_path):
    """A folder of 3 shards (2 + 2 + 1 sequences) written by the shard writer, with its manifest."""
    root = tmp_path / "ds"
    root.mkdir()
    manifest.save(root, manifest.new({"preset": "test"}, shard_size=SHARD_SIZE, n=N,
                                     generator_version="test"))
    rng = np.random.default_rng(0)
    for j in range(manifest.n_shards(N, SHARD_SIZE)):
        file = manifest.shard_name(j)
        with ShardWriter(root / file, shard_index=j, settings={}, generator_version="t") as w:
            for seq_id in manifest.expected_ids(j, SHARD_SIZE, N):
                w.add(seq_id, fake_sequence(rng), {"seed": None})
        manifest.put_entry(root, w.entry)
    return root


class Interrupting(FlowEstimator):
    """DIS that raises KeyboardInterrupt (as Ctrl-C would) on its `stop_at`-th call."""

    name = "dis"

    def __init__(self, stop_at: int):
        self.inner, self.calls, self.stop_at = build_estimator("dis"), 0, stop_at

    def estimate_pairs(self, src, dst):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return self.inner.estimate_pairs(src, dst)


def shard_bytes(root) -> dict:
    return {p.name: p.read_bytes() for p in sorted(root.glob("shard-*"))}


def test_flow_command_adds_dis_flow_equal_to_estimating_each_clip_and_still_validates(
    dataset, capsys
):
    assert main(["flow", str(dataset), "--method", "dis"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (result["written"], result["skipped"], result["sequences"]) == (3, 0, N)
    assert result["pairs"] == N * 2 * (T - 1)
    assert main(["validate", str(dataset)]) == 0
    est = build_estimator("dis")
    with open_dataset(dataset) as ds:
        assert ds.flow_methods == ["gt", "dis"]
        for seq_id in ds.ids:
            arrays = ds.read(seq_id, ["rgb", "flow_dis"])
            want = est.estimate(arrays["rgb"])  # what `generate --flow dis` computes inline
            np.testing.assert_allclose(arrays["flow_dis"], want, atol=FLOW_SCALE / 2 + 1e-6)


def test_the_manifest_records_the_settings_that_made_each_estimated_flow(dataset, capsys):
    assert main(["flow", str(dataset), "--method", "dis"]) == 0
    options = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["options"]
    assert manifest.load(dataset)["estimated_flow"] == {"dis": options}
    assert options == {"preset": "medium"}


def test_a_second_run_skips_every_shard_and_rewrites_nothing(dataset, capsys):
    assert main(["flow", str(dataset), "--method", "dis"]) == 0
    before = shard_bytes(dataset)
    assert main(["flow", str(dataset), "--method", "dis"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (result["written"], result["skipped"]) == (0, 3)
    assert shard_bytes(dataset) == before


def test_an_interrupted_run_leaves_whole_shards_and_resumes_where_it_stopped(dataset):
    untouched = shard_bytes(dataset)
    with pytest.raises(KeyboardInterrupt):
        add_estimated_flow(dataset, Interrupting(stop_at=2))  # during the second shard
    after = shard_bytes(dataset)
    assert after["shard-00000.h5"] != untouched["shard-00000.h5"]
    assert {k: after[k] for k in ("shard-00001.h5", "shard-00002.h5")} == {
        k: untouched[k] for k in ("shard-00001.h5", "shard-00002.h5")
    }
    assert not list(dataset.glob("*.tmp-*"))
    assert main(["validate", str(dataset)]) == 0
    report = add_estimated_flow(dataset, build_estimator("dis"))
    assert (report.written, report.skipped, report.sequences) == (2, 1, 3)
    assert main(["validate", str(dataset)]) == 0
    with open_dataset(dataset) as ds:
        assert ds.flow_methods == ["gt", "dis"]


def test_an_interruption_while_a_shard_is_rewritten_leaves_no_partial_file(dataset, monkeypatch):
    import layersynth.store.writer as shards

    untouched = shard_bytes(dataset)
    real = shards.write_array

    def write_array(group, name, stored):
        if name == "flow_dis":
            raise KeyboardInterrupt
        real(group, name, stored)

    monkeypatch.setattr(shards, "write_array", write_array)
    with pytest.raises(KeyboardInterrupt):
        add_estimated_flow(dataset, build_estimator("dis"))
    assert shard_bytes(dataset) == untouched
    assert not list(dataset.glob("*.tmp-*"))


def test_a_shard_renamed_before_its_manifest_update_is_only_re_listed_on_resume(
    dataset, monkeypatch
):
    real = manifest.put_entry
    calls = []

    def put_entry(root, entry):
        calls.append(entry["file"])
        if len(calls) == 1:
            raise KeyboardInterrupt  # killed between the rename and the manifest update
        return real(root, entry)

    monkeypatch.setattr(manifest, "put_entry", put_entry)
    with pytest.raises(KeyboardInterrupt):
        add_estimated_flow(dataset, build_estimator("dis"))
    assert main(["validate", str(dataset)]) == 1  # checksum now differs from the manifest
    renamed = shard_bytes(dataset)["shard-00000.h5"]
    report = add_estimated_flow(dataset, build_estimator("dis"))
    assert (report.written, report.skipped) == (2, 1)
    assert shard_bytes(dataset)["shard-00000.h5"] == renamed
    assert main(["validate", str(dataset)]) == 0


def test_a_temporary_shard_left_by_a_killed_run_is_removed_when_the_shard_is_done(dataset):
    stale = dataset / "shard-00001.h5.tmp-999999"
    stale.write_bytes(b"partial")
    add_estimated_flow(dataset, build_estimator("dis"))
    assert not stale.exists()
    assert main(["validate", str(dataset)]) == 0


def test_parts_split_the_shards_between_runs(dataset):
    first = add_estimated_flow(dataset, build_estimator("dis"), part=(0, 2))
    second = add_estimated_flow(dataset, build_estimator("dis"), part=(1, 2))
    assert (first.shards, second.shards) == (2, 1)
    assert first.written + second.written == 3
    with open_dataset(dataset) as ds:
        assert ds.flow_methods == ["gt", "dis"]


class Renamed(FlowEstimator):
    """DIS stored under another array name, as a second method would be."""

    def __init__(self, name: str):
        self.name, self.inner = name, build_estimator("dis")

    def estimate_pairs(self, src, dst):
        return self.inner.estimate_pairs(src, dst)


def _slow_pass(root, method: str, start) -> None:
    """Child process: a flow pass whose shard rewrites take long enough to overlap another's."""
    import time

    import layersynth.store.writer as shards

    real = shards._rewrite

    def slow_rewrite(*args):
        real(*args)
        time.sleep(0.3)

    shards._rewrite = slow_rewrite
    start.wait()
    add_estimated_flow(root, Renamed(method))


def test_two_processes_adding_different_flows_at_once_keep_both(dataset):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_slow_pass, args=(dataset, m, start)) for m in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    with open_dataset(dataset) as ds:
        assert ds.flow_methods == ["gt", "a", "b"]
    assert main(["validate", str(dataset)]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method", "raft", "--raft-weights", "missing.ckpt"], "RAFT weights not found"),
        (["--method", "dis", "--part", "2/2"], "--part"),
        (["--method", "farneback"], "Invalid value for '--method': 'farneback' is not one of"),
        (["--method", "dis", "--batch", "many"], "Invalid value for '--batch': 'many' is not a"),
    ],
)
def test_bad_options_exit_2_with_one_line(dataset, capsys, argv, message):
    assert main(["flow", str(dataset), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert message in invoke("flow", dataset, *argv).error_line()


def test_a_missing_method_is_named_by_the_console_script(dataset):
    assert "Missing option '--method'" in script("flow", dataset).error_line()


def test_a_zero_batch_is_refused_before_any_weights_load(dataset, capsys):
    placeholder = dataset / "manifest.json"  # exists; never read as weights
    argv = ["flow", str(dataset), "--method", "raft", "--raft-weights", str(placeholder)]
    assert main([*argv, "--batch", "0"]) == 2
    assert "--batch 0: must be at least 1" in capsys.readouterr().err


def test_a_folder_without_manifest_is_named_in_the_error(tmp_path, capsys):
    assert main(["flow", str(tmp_path), "--method", "dis"]) == 2
    assert "manifest.json" in capsys.readouterr().err


@pytest.mark.slow
def test_raft_from_a_local_random_checkpoint_adds_flow_that_validates(dataset, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    import warnings

    from layersynth.estimators.raft import import_ptlflow

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = import_ptlflow().get_model("raft")
    weights = tmp_path / "raft-random.ckpt"
    torch.save({"state_dict": model.state_dict()}, weights)
    argv = ["flow", str(dataset), "--method", "raft", "--raft-weights", str(weights),
            "--iters", "1", "--batch", "16"]
    assert main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert result["written"] == 3 and result["options"]["precision"] == "float32"
    assert result["options"]["iters"] == 1 and len(result["options"]["weights_sha256"]) == 16
    assert not any("alt_cuda_corr" in line for line in out)  # ptlflow's print kept off stdout
    assert main(["validate", str(dataset)]) == 0
    with open_dataset(dataset) as ds:
        assert ds.flow_methods == ["gt", "raft"]
        assert ds.read(ds.ids[0], ["flow_raft"])["flow_raft"].shape == (T, 2, H, W, 2)


@pytest.mark.slow
def test_flow_estimated_inline_by_generate_equals_the_later_flow_pass(tmp_path):
    common = ["--preset", "tiny", "--n", "2", "--workers", "1"]
    assert main(["generate", *common, "--out", str(tmp_path / "inline"), "--flow", "gt,dis"]) == 0
    assert main(["generate", *common, "--out", str(tmp_path / "later")]) == 0
    assert main(["flow", str(tmp_path / "later"), "--method", "dis"]) == 0
    with open_dataset(tmp_path / "inline") as a, open_dataset(tmp_path / "later") as b:
        assert a.ids == b.ids
        for seq_id in a.ids:
            np.testing.assert_array_equal(a.read(seq_id, ["flow_dis"])["flow_dis"],
                                          b.read(seq_id, ["flow_dis"])["flow_dis"])
