"""DATASET.md: the dataset card written beside the shards (fields from the schema in code)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from layersynth.store import schema


def field_table() -> str:
    """Markdown table of every array of the schema, estimated flows included."""
    rows = ["| array | axes | stored dtype | read as | units | meaning |",
            "|---|---|---|---|---|---|"]
    items = [*schema.FIELDS.items(), ("flow_<method>", schema.ESTIMATED_FLOW)]
    for name, f in items:
        rows.append(f"| `{name}` | {f.axes} | {f.stored} | {f.decoded} | {f.units} | {f.meaning} |")
    return "\n".join(rows)


def render_card(data: dict) -> str:
    """The text of DATASET.md for a manifest dict."""
    s = data["settings"]
    scene = s["scene"]
    n_ids = sum(len(e["ids"]) for e in data["shards"])
    size = sum(e["bytes"] for e in data["shards"])
    lines = [
        "# layersynth dataset",
        "",
        f"{n_ids} sequences of {scene['frames']} frames at {scene['height']} x {scene['width']}"
        f" in {len(data['shards'])} HDF5 shards ({size / 1e6:,.1f} MB), made by layersynth "
        f"{data['generator_version']} (shard schema version {data['schema_version']}).",
        "",
        f"- preset `{s['preset']}`, seed {s['seed']}, seed namespace {s['namespace']}; "
        f"sequence i uses `numpy.random.SeedSequence(entropy={s['seed']}, "
        f"spawn_key=({s['namespace']}, i))`",
        f"- objects per sequence drawn from {scene['objects']}, hidden fraction of object area "
        f"in {scene['occlusion']}",
        *_background_depth(scene),
        f"- flows stored: {', '.join('flow_' + m for m in s['flow'])}",
        f"- assets: {json.dumps(s['asset_dirs'])}",
        f"- {s['shard_size']} sequences per shard: shard j holds ids [j*{s['shard_size']}, "
        f"(j+1)*{s['shard_size']})",
        "",
        "## Reading",
        "",
        "```python",
        "import layersynth",
        "ds = layersynth.open_dataset('.')      # ds.ids, len(ds)",
        "seq = ds[ds.ids[0]]                    # dict of numpy arrays (table below)",
        "```",
        "",
        "Without layersynth: h5py + `import hdf5plugin` (Blosc/zstd); group `/<id>/` per sequence;",
        f"flows are int16, multiply by {schema.FLOW_SCALE} to get pixels (float32).",
        "",
        "## Arrays of each sequence",
        "",
        field_table(),
        "",
        "Each sequence group also has a JSON attribute `record`: its seed, its scene parameters,",
        "the generator version and statistics (objects, occlusion_fraction).",
        "",
        "## Settings",
        "",
        "```json",
        json.dumps(s, indent=1, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(lines)


def _background_depth(scene: dict) -> list[str]:
    """Issue 13 part (2): the card's lines on near planes, camera acceleration, pans and shake
    (none for a manifest made before them)."""
    if "parallax_prob" not in scene:
        return []
    return [
        f"- background depth (parallax_prob, near_planes, ground_prob, parallax, "
        f"occluder_parallax): near planes in {scene['parallax_prob']} of still-background scenes, "
        f"{scene['near_planes']} of them (first a ground plane in {scene['ground_prob']}), "
        f"{scene['parallax']} times nearer than the far plane; occluders "
        f"{scene['occluder_parallax']} times nearer; all labelled background (modal 0)",
        f"- camera (camera_accel, fast_pan_prob, fast_pan_speed, shake_prob, shake_amplitude, "
        f"shake_freq): acceleration up to {scene['camera_accel']} H/frame^2, fast pans in "
        f"{scene['fast_pan_prob']} at {scene['fast_pan_speed']} H/frame, hand-held shake in "
        f"{scene['shake_prob']} (amplitude {scene['shake_amplitude']} H, "
        f"{scene['shake_freq']} rad/frame)",
    ]


def write_card(root, data: dict) -> Path:
    path = Path(root) / "DATASET.md"
    tmp = path.with_name(f"DATASET.md.tmp-{os.getpid()}")
    tmp.write_text(render_card(data))
    tmp.replace(path)
    return path
