"""Throughput of `layersynth generate`: whole pipeline vs the pure HDF5 write, and shard codecs.

    python bench/generate.py                    # oclr preset, 32 sequences, 1 and 2 workers
    python bench/generate.py --n 64 --workers 1,2 --codecs --json bench-generate.json

Measures, for the given preset and ground-truth flow only:
- render: sequences rendered in this process (frames per second);
- pure write: the same sequences written straight to shards (ShardWriter, the schema's chunking and
  compression), frames per second, bytes per sequence, and read time per sequence (warm cache);
- pipeline: `generate()` end to end (pool start, render, write, manifest) with each worker count;
- ratio: pipeline time / pure-write time, and the projected time and size for 4,000 sequences.
`--codecs` also compares flow and RGB encodings on the rendered data (bytes, write and read ms).
The machine may be shared: the load average is reported with the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from layersynth import open_dataset
from layersynth.pipeline.generation import generate, make_settings, render_sequence
from layersynth.report import emit_json
from layersynth.store import manifest
from layersynth.store.writer import ShardWriter

TARGET_SEQUENCES = 4000


class Clock:
    """Wall and CPU seconds (this process and its reaped children) of a block: on a shared
    machine the CPU time is the load-independent figure."""

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), self._cpu_now()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = self._cpu_now() - self._cpu

    @staticmethod
    def _cpu_now() -> float:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + kids.ru_utime + kids.ru_stime


def render_all(settings, n: int):
    """Render n sequences in-process: ([(arrays, record)], Clock)."""
    from layersynth.pipeline.generation import load_assets
    from layersynth.scene.config import SceneConfig

    cfg, assets = SceneConfig.from_dict(settings.scene), load_assets(settings.asset_dirs)
    render_sequence(settings, cfg, assets, n)  # warm-up (numba cache, asset loading)
    with Clock() as clock:
        made = [render_sequence(settings, cfg, assets, i) for i in range(n)]
    return [(seq.arrays(), rec) for seq, rec in made], clock


def pure_write(settings, made, out: Path) -> Clock:
    """Write rendered sequences as the generator would, without rendering."""
    out.mkdir(parents=True)
    size = settings.shard_size
    manifest.save(out, manifest.new(settings.to_dict(), shard_size=size, n=len(made),
                                    generator_version=settings.generator_version))
    with Clock() as clock:
        for j in range(manifest.n_shards(len(made), size)):
            file = manifest.shard_name(j)
            with ShardWriter(out / file, shard_index=j, settings=settings.to_dict(),
                             generator_version=settings.generator_version) as writer:
                for i in range(j * size, min((j + 1) * size, len(made))):
                    writer.add(manifest.seq_id(i), *made[i])
            manifest.put_entry(out, writer.entry)
    return clock


def read_times(root: Path) -> dict:
    """ms per sequence, random order: all arrays, and what a trainer reads (flow + amodal)."""
    ds = open_dataset(root)
    ids = list(ds.ids)
    random.Random(0).shuffle(ids)
    out = {}
    for label, names in (("all", None), ("flow_gt+amodal+order", ["flow_gt", "amodal", "order"])):
        start = time.perf_counter()
        for i in ids:
            ds.read(i, names)
        out[label] = (time.perf_counter() - start) / len(ids) * 1e3
    return out


def pipeline(settings, n: int, workers: int, out: Path) -> Clock:
    with Clock() as clock:
        generate(settings, n=n, out=out, workers=workers, scheduler=None)
    return clock


def codec_table(made) -> list[dict]:
    """Bytes per sequence and write/read ms of candidate encodings of flow_gt and rgb."""
    import h5py
    import hdf5plugin

    blosc = hdf5plugin.Blosc
    codecs = {
        "gzip-1+shuffle": dict(compression="gzip", compression_opts=1, shuffle=True),
        "lzf+shuffle": dict(compression="lzf", shuffle=True),
        "zstd-1+shuffle": dict(blosc(cname="zstd", clevel=1, shuffle=blosc.SHUFFLE)),
        "zstd-1+bitshuffle": dict(blosc(cname="zstd", clevel=1, shuffle=blosc.BITSHUFFLE)),
        "zstd-3+bitshuffle": dict(blosc(cname="zstd", clevel=3, shuffle=blosc.BITSHUFFLE)),
        "lz4+shuffle": dict(blosc(cname="lz4", clevel=5, shuffle=blosc.SHUFFLE)),
    }
    variants = {
        "flow float32": lambda a: a["flow_gt"],
        "flow float16": lambda a: a["flow_gt"].astype(np.float16),
        "flow int16/64": lambda a: np.rint(a["flow_gt"] * 64).astype(np.int16),
        "rgb uint8": lambda a: a["rgb"],
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for vname, fn in variants.items():
            data = [fn(a) for a, _ in made[:8]]
            for cname, opts in codecs.items():
                rows.append(_measure(Path(tmp) / "c.h5", vname, cname, data, opts, h5py))
    return rows


def _measure(path, vname, cname, data, opts, h5py) -> dict:
    start = time.perf_counter()
    with h5py.File(path, "w") as f:
        for i, arr in enumerate(data):
            f.create_dataset(str(i), data=arr, chunks=(1, *arr.shape[1:]), **opts)
    write = time.perf_counter() - start
    start = time.perf_counter()
    with h5py.File(path, "r") as f:
        for i in range(len(data)):
            f[str(i)][()]
    read = time.perf_counter() - start
    n = len(data)
    return {"array": vname, "codec": cname, "mb": path.stat().st_size / n / 1e6,
            "write_ms": write / n * 1e3, "read_ms": read / n * 1e3}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--preset", default="oclr")
    p.add_argument("--workers", default="1,2")
    p.add_argument("--codecs", action="store_true")
    p.add_argument("--json")
    args = p.parse_args()
    settings = make_settings(preset=args.preset, seed=0)
    frames = settings.scene["frames"]
    made, render_c = render_all(settings, args.n)
    with tempfile.TemporaryDirectory() as tmp:
        write_c = pure_write(settings, made, Path(tmp) / "pure")
        shard_bytes = sum(e["bytes"] for e in manifest.load(Path(tmp) / "pure")["shards"])
        reads = read_times(Path(tmp) / "pure")
        runs = {int(w): pipeline(settings, args.n, int(w), Path(tmp) / f"w{w}")
                for w in args.workers.split(",")}
    report(args, settings, frames, render_c, write_c, shard_bytes, reads, runs,
           codec_table(made) if args.codecs else None)


def report(args, settings, frames, render_c, write_c, shard_bytes, reads, runs, codecs) -> None:
    n_frames = args.n * frames
    per_seq = shard_bytes / args.n
    cores = len(os.sched_getaffinity(0))
    result = {
        "preset": args.preset, "sequences": args.n, "frames": n_frames,
        "size": [settings.scene["height"], settings.scene["width"]],
        "load_average": os.getloadavg()[0], "cores": cores,
        "render_fps": n_frames / render_c.wall, "render_frames_per_cpu_s": n_frames / render_c.cpu,
        "pure_write_fps": n_frames / write_c.wall,
        "pure_write_frames_per_cpu_s": n_frames / write_c.cpu,
        "bytes_per_sequence": per_seq, "read_ms_per_sequence": reads,
        "pipeline_fps": {w: n_frames / c.wall for w, c in runs.items()},
        "pipeline_frames_per_cpu_s": {w: n_frames / c.cpu for w, c in runs.items()},
        "pipeline_over_pure_write": {w: c.wall / write_c.wall for w, c in runs.items()},
        "pipeline_over_pure_write_cpu": {w: c.cpu / write_c.cpu for w, c in runs.items()},
        "projected_seconds_4000": {w: TARGET_SEQUENCES * c.wall / args.n for w, c in runs.items()},
        # if every core were free for us: CPU time spread over the cores the run could use
        "projected_seconds_4000_idle": {w: TARGET_SEQUENCES * c.cpu / args.n / min(w, cores)
                                        for w, c in runs.items()},
        "projected_gb_4000": TARGET_SEQUENCES * per_seq / 1e9,
        "codecs": codecs,
    }
    print_report(result, reads, codecs)
    emit_json(result, args.json)


def print_report(r: dict, reads: dict, codecs) -> None:
    print(f"{r['sequences']} sequences x {r['frames'] // r['sequences']} frames at "
          f"{r['size'][0]}x{r['size'][1]}, load average {r['load_average']:.1f} on "
          f"{r['cores']} cores (fps = wall clock; per CPU-s = load-independent)")
    print(f"render (1 process)      {r['render_fps']:8.1f} frames/s "
          f"{r['render_frames_per_cpu_s']:8.1f} per CPU-s")
    print(f"pure write              {r['pure_write_fps']:8.1f} frames/s "
          f"{r['pure_write_frames_per_cpu_s']:8.1f} per CPU-s, "
          f"{r['bytes_per_sequence'] / 1e6:.2f} MB/sequence -> {r['projected_gb_4000']:.1f} GB "
          f"for 4000")
    for label, ms in reads.items():
        print(f"read {label:19s}{ms:8.1f} ms/sequence")
    for w, fps in r["pipeline_fps"].items():
        print(f"pipeline {w} worker(s)    {fps:8.1f} frames/s "
              f"{r['pipeline_frames_per_cpu_s'][w]:8.1f} per CPU-s; "
              f"{r['pipeline_over_pure_write'][w]:.1f}x the pure write (CPU "
              f"{r['pipeline_over_pure_write_cpu'][w]:.1f}x); 4000 sequences: "
              f"{r['projected_seconds_4000'][w] / 60:.1f} min here, "
              f"{r['projected_seconds_4000_idle'][w] / 60:.1f} min on idle cores")
    for row in codecs or []:
        print(f"  {row['array']:14s} {row['codec']:18s} {row['mb']:6.2f} MB  "
              f"w {row['write_ms']:6.1f} ms  r {row['read_ms']:6.1f} ms")


if __name__ == "__main__":
    main()
