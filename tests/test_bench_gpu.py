"""bench/gpu.sh --cpu-smoke: every measurement of the GPU check (training step in three modes with
the batch search, RAFT through layersynth's estimator, oclr-infer with RAFT and DIS) runs, tiny,
on the CPU, and reports numbers in its table and JSON."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def test_the_cpu_smoke_runs_every_section_and_reports_a_table_then_the_json(tmp_path):
    out = tmp_path / "gpu.json"
    proc = subprocess.run([str(ROOT / "bench/gpu.sh"), "--cpu-smoke", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result == json.loads(out.read_text())
    rows = result["rows"]
    assert not any("skipped" in r for r in rows)
    train = [r for r in rows if r["section"] == "train"]
    assert [r["mode"] for r in train] == ["fp32", "bf16", "bf16+compile"]
    assert all(r["fits"] and r["clips_per_s"] > 0 and r["peak_mib"] > 0 for r in train)
    raft = [r for r in rows if r["section"] == "raft"]
    assert [r["batch"] for r in raft] == [2, 4] and all(r["pairs_per_s"] > 0 for r in raft)
    infer = [r for r in rows if r["section"] == "infer"]
    assert [r["flow"] for r in infer] == ["raft", "dis"]
    assert all(r["frames"] == 2 and r["frames_per_s"] > 0 for r in infer)
    table = "\n".join(lines[:-1])
    assert "bf16+compile" in table and "pairs/s" in table and "frames/s" in table


def test_the_gpu_mode_refuses_in_one_line_where_there_is_no_gpu():
    proc = subprocess.run([str(ROOT / "bench/gpu.sh"), "--device", "cuda"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "no CUDA GPU here" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture()
def gpu(monkeypatch):
    """bench/gpu.py as a module (bench/ holds scripts, not a package); registered while the test
    runs, as dataclasses need their module."""
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "bench/gpu.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_gpu", module)
    spec.loader.exec_module(module)
    return module


def test_the_largest_batch_is_found_by_doubling_then_bisecting(monkeypatch, gpu):
    tried = []

    def fake_measure(settings, mode, batch):  # memory for 37 clips, no more
        tried.append(batch)
        return {"fits": batch <= 37}

    monkeypatch.setattr(gpu, "measure_train", fake_measure)
    largest, _ = gpu.largest_batch(gpu.GPU, "fp32")
    assert tried[:6] == [2, 4, 8, 16, 32, 64]  # doubling until 64 does not fit
    # then halving the gap 32..64 until it is at most a quarter of 32: 48 and 40 do not fit
    assert tried[6:] == [48, 40] and largest == 32
    monkeypatch.setattr(gpu, "measure_train", lambda s, m, b: {"fits": True})
    assert gpu.largest_batch(gpu.replace(gpu.GPU, max_batch=16), "bf16")[0] == 16


def test_an_out_of_memory_error_is_recognised_also_when_wrapped(gpu):
    try:
        try:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        except torch.cuda.OutOfMemoryError as inner:
            raise RuntimeError("backend compiler failed") from inner
    except RuntimeError as err:
        assert gpu.is_out_of_memory(err)
    assert not gpu.is_out_of_memory(ValueError("shapes do not match"))
