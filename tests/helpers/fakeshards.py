"""Small fake sequences and the shards that hold them, for the tests of the shard store.

On the test path through pytest's `pythonpath` setting (pyproject.toml): `from fakeshards import
write_dataset`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from layersynth.store import manifest
from layersynth.store.writer import ShardWriter


def fake_arrays(rng, k=2, t=3, h=8, w=12):
    """A small sequence that follows the conventions of sequence.py."""
    amodal = np.zeros((k, t, h, w), bool)
    for i in range(k):
        y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
        amodal[i, :, y : y + h // 2, x : x + w // 2] = True
    modal = np.zeros((t, h, w), np.uint8)
    for i in reversed(range(k)):
        modal[amodal[i]] = i + 1
    return {
        "rgb": rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8),
        "amodal": amodal,
        "modal": modal,
        "occluder": rng.random((t, h, w)) < 0.1,
        "flow_gt": rng.normal(0, 5, (t, 2, h, w, 2)).astype(np.float32),
        "order": np.tile(np.arange(k, dtype=np.int16), (t, 1)),  # (T, K) ranks per frame
    }


def write_dataset(root, seqs_per_shard):
    """Write shards of fake sequences plus a manifest; return {id: arrays}."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    n = sum(seqs_per_shard)
    manifest.save(root, manifest.new({"x": 1}, shard_size=max(seqs_per_shard), n=n,
                                     generator_version="test"))
    written, i = {}, 0
    for j, count in enumerate(seqs_per_shard):
        file = manifest.shard_name(j)
        with ShardWriter(root / file, shard_index=j, settings={"x": 1},
                         generator_version="test") as w:
            for _ in range(count):
                sid = manifest.seq_id(i)
                written[sid] = fake_arrays(rng, k=1 + i % 3)
                w.add(sid, written[sid], {"seed": {"entropy": 1, "spawn_key": [0, i]}})
                i += 1
        manifest.put_entry(root, w.entry)
    return written


def with_flows(src: Path, dst: Path, methods: tuple[str, ...]) -> Path:
    """A copy of the dataset `src` with flow_<method> arrays added beside flow_gt (the ground
    truth stands in for the estimates: the tests that use it are about which array is read)."""
    import layersynth
    from layersynth.store.writer import add_arrays

    shutil.copytree(src, dst)
    ds = layersynth.open_dataset(dst)
    for entry in manifest.load(dst)["shards"]:
        new = {sid: {f"flow_{m}": ds[sid]["flow_gt"] for m in methods} for sid in entry["ids"]}
        add_arrays(dst, entry["file"], new)
    return dst
