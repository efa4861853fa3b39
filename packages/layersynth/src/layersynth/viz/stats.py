"""The numbers `layersynth inspect` reports: counts, objects, occlusion, sizes, settings, EPE."""

from __future__ import annotations

from collections import Counter

import numpy as np

from layersynth.estimators import EpeMeter
from layersynth.store.schema import ShardError


def mean_and_quartiles(values: list[float]) -> dict:
    """mean, min, quartiles and max of a list of numbers (None for all if it is empty)."""
    if not values:
        return dict.fromkeys(("mean", "min", "p25", "median", "p75", "max"))
    v = np.asarray(values, np.float64)
    q = np.quantile(v, [0.0, 0.25, 0.5, 0.75, 1.0])
    return {"mean": float(v.mean()), "min": float(q[0]), "p25": float(q[1]),
            "median": float(q[2]), "p75": float(q[3]), "max": float(q[4])}


def record_stats(ds, seq_id: str) -> dict:
    """{"objects": K, "occlusion_fraction": f, "order_changes": n} of one sequence's record
    (n: frames whose depth order differs from the frame before); ShardError naming the sequence
    and its shard if the record lacks the first two."""
    stats = ds.record(seq_id).get("stats")
    k = stats.get("objects") if isinstance(stats, dict) else None
    occ = stats.get("occlusion_fraction") if isinstance(stats, dict) else None
    if not (isinstance(k, int) and isinstance(occ, int | float)):
        where = ds.root / ds.shard_of(seq_id).path.name
        raise ShardError(f"{where}: sequence {seq_id}: its record holds no stats (objects, "
                         "occlusion_fraction): not made by layersynth generate?")
    changes = stats.get("order_changes", 0)  # absent from datasets made before issue 16: none
    return {"objects": k, "occlusion_fraction": float(occ),
            "order_changes": changes if isinstance(changes, int) else 0}


def dataset_stats(ds) -> dict:
    """Statistics of an open Dataset from the per-sequence records (no arrays are read).

    Sizes come from the settings' scene (None where the dataset's settings hold no scene)."""
    records = [record_stats(ds, i) for i in ds.ids]
    objects = Counter(r["objects"] for r in records)
    occ = [r["occlusion_fraction"] for r in records]
    by_k = {k: mean_and_quartiles([r["occlusion_fraction"] for r in records
                                   if r["objects"] == k]) for k in sorted(objects)}
    size = sum(e["bytes"] for e in ds.manifest["shards"])
    scene = ds.settings.get("scene")
    scene = scene if isinstance(scene, dict) else {}
    return {
        "sequences": len(ds), "requested": ds.manifest["n"], "shards": len(ds.manifest["shards"]),
        "bytes": size, "bytes_per_sequence": size / len(ds) if len(ds) else None,
        "frames": scene.get("frames"), "height": scene.get("height"),
        "width": scene.get("width"),
        "objects": {str(k): objects[k] for k in sorted(objects)},
        "occlusion_fraction": mean_and_quartiles(occ),
        "occlusion_fraction_by_objects": {str(k): v for k, v in by_k.items()},
        "order_changes": order_change_stats(records),
        "flows": ds.flow_methods, "settings": ds.settings,
        "estimated_flow": ds.manifest.get("estimated_flow", {}),
    }


def order_change_stats(records: list[dict]) -> dict:
    """How many multi-object sequences change depth order, and how often: `sequences` (with at
    least one change), `multi_object` (sequences of 2+ objects), `share` (of those; None with
    none), `changes` (all changes) and `per_changing_sequence` (their mean; None with none)."""
    multi = sum(1 for r in records if r["objects"] > 1)
    changing = [r["order_changes"] for r in records if r["order_changes"] > 0]
    return {"sequences": len(changing), "multi_object": multi,
            "share": len(changing) / multi if multi else None, "changes": sum(changing),
            "per_changing_sequence": sum(changing) / len(changing) if changing else None}


def flow_epe(ds, max_sequences: int) -> dict:
    """EPE (px) of each estimated flow against flow_gt over evenly spaced sequences (0 = all).

    Hook for issue 5: uses `layersynth.estimators.EpeMeter` (overall and on object boundaries).
    """
    methods = [m for m in ds.flow_methods if m != "gt"]
    if not methods or not len(ds):
        return {}
    step = max(1, len(ds) // max_sequences) if max_sequences else 1
    ids = ds.ids[::step]
    meters = {m: EpeMeter() for m in methods}
    for i in ids:
        a = ds.read(i, ["flow_gt", "modal", *(f"flow_{m}" for m in methods)])
        for m, meter in meters.items():
            meter.add(a[f"flow_{m}"], a["flow_gt"], a["modal"])
    return {m: dict(meter.result(), sequences=len(ids)) for m, meter in meters.items()}
