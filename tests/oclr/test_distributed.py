import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from oclr import distributed as D
from oclr.checkpoint import read_checkpoint

BIN = Path(sys.executable).parent
SMALL = ["frames=4", "height=32", "width=48", "cnn_channels=[8,16,32]", "d_model=32", "heads=2",
         "ffn_dim=32"]


def train_args(shards, out, *extra):
    model = [a for m in SMALL for a in ("--model", m)]
    return ["-m", "oclr.cli_train", "--shards", str(shards), "--out", str(out), "--preset", "tiny",
            *model, "--steps", "4", "--batch", "1", "--workers", "0", "--ckpt-every", "2",
            "--seed", "5", *extra]


def torchrun(*args, nproc=2):
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", str(nproc), *args],
                          capture_output=True, text=True, env=env, timeout=300)


def sync_records(run):
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [m for m in lines if "ranks_in_sync" in m]


@pytest.mark.slow  # two torchrun launches of two processes: ~20 s each on a loaded 2-core box
def test_two_gloo_processes_end_with_identical_weights_and_resume_on_two_processes(
        shards, tmp_path):
    run = tmp_path / "run"
    proc = torchrun(*train_args(shards, run))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count('"step": 4') == 1  # one summary, from rank 0
    sync = sync_records(run)
    assert len(sync) == 1 and sync[0]["ranks_in_sync"] is True
    assert len(sync[0]["rank_digests"]) == 2
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["world_size"] == 2 and cfg["global_batch"] == 2
    ckpt = read_checkpoint(run / "last.pt")
    assert ckpt["sampler"]["position"] == 8  # 4 steps x 2 ranks x 1 clip
    assert not any(k.startswith("module.") for k in ckpt["model"])

    proc = torchrun(*train_args(shards, run, "--resume", "--steps", "6"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert read_checkpoint(run / "last.pt")["sampler"]["position"] == 12
    assert [m["ranks_in_sync"] for m in sync_records(run)] == [True, True]


def test_without_torchrun_the_run_is_one_process_and_digests_compare_weights():
    assert D.from_env() == D.DistInfo() or os.environ.get("WORLD_SIZE")
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    assert D.weights_digest(a) == D.weights_digest(b)
    with torch.no_grad():
        b.weight[0, 0] += 1e-3
    assert D.weights_digest(a) != D.weights_digest(b)
    assert D.gather_digests(a, D.DistInfo()) == [D.weights_digest(a)]
    assert D.all_mean(2.5, D.DistInfo(), torch.device("cpu")) == 2.5
