"""DATASET.md: the dataset card written beside the shards (fields from the schema in code)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from layersynth.store import manifest, schema
from layersynth.store.gaps import label, layout


def field_table() -> str:
    """Markdown table of every array of the schema, estimated flows included."""
    rows = ["| array | axes | stored dtype | read as | units | meaning |",
            "|---|---|---|---|---|---|"]
    items = [*schema.FIELDS.items(), ("flow_<method>", schema.ESTIMATED_FLOW)]
    for name, f in items:
        rows.append(f"| `{name}` | {f.axes} | {f.stored} | {f.decoded} | {f.units} | {f.meaning} |")
    return "\n".join(rows)


def render_card(data: dict) -> str:
    """The text of DATASET.md for a manifest dict (generated or imported)."""
    if data["settings"].get("kind") == schema.IMPORTED:
        return render_import_card(data)
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
        *_sprite_lines(scene),
        *_events_line(scene),
        *_order_line(scene),
        *_background_depth(scene),
        f"- flows stored: {', '.join('flow_' + m for m in s['flow'])}",
        gaps_line(data),
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
        "the generator version and statistics (objects, occlusion_fraction, order_changes). An "
        "object's",
        "`sprite.kind` is `polygon`, `silhouette` or `articulated`; an articulated sprite lists",
        "its `parts` (outline at rest, parent, hinge, joint swing / freq / phase: angle = swing",
        "* sin(freq * tau + phase) rad), nearest part first; all parts share the object's label.",
        "",
        "## Settings",
        "",
        "```json",
        json.dumps(s, indent=1, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(lines)


def gaps_line(data: dict) -> str:
    """Which frame gaps every flow holds, and where each sits on the gap axis."""
    gaps = manifest.gaps_of(data)
    return (f"- flow gaps stored: {label(gaps)}: every flow is (T, {2 * len(gaps)}, H, W, 2), gap "
            f"index {layout(gaps)}; pick one with `ds.flow_for(flow, gap)`")


def _sprite_lines(scene: dict) -> list[str]:
    """The sprite-kind shares (issue 13's fields; absent from older manifests)."""
    if "articulated_prob" not in scene:
        return []
    return [f"- sprites: {scene['articulated_prob']:.3g} articulated (parts on hinges, joint swing "
            f"up to {scene['articulated_swing']} rad at {scene['articulated_speed']} rad/frame); "
            f"of the rest {scene['polygon_prob']:.3g} polygons ({scene['polygon_nonconvex']:.3g} "
            f"of them non-convex), the others silhouettes"]


def _reading(flows: str) -> list[str]:
    return [
        "## Reading", "", "```python", "import layersynth",
        "ds = layersynth.open_dataset('.')      # ds.ids, len(ds)",
        "seq = ds[ds.ids[0]]                    # dict of numpy arrays (table below)", "```", "",
        "Without layersynth: h5py + `import hdf5plugin` (Blosc/zstd); group `/<id>/` per sequence;",
        f"{flows} int16, multiply by {schema.FLOW_SCALE} to get pixels (float32).", "",
    ]


def render_import_card(data: dict) -> str:
    """DATASET.md of an imported dataset: the source folder, what was read and skipped."""
    s, scene, src = data["settings"], data["settings"]["scene"], data["settings"]["source"]
    n_ids = sum(len(e["ids"]) for e in data["shards"])
    size = sum(e["bytes"] for e in data["shards"])
    shape = (f"{scene['frames'] or 'various'} frames at "
             f"{scene['height'] or '?'} x {scene['width'] or '?'}")
    lines = [
        "# layersynth dataset (imported)", "",
        f"{n_ids} sequences of {shape} in {len(data['shards'])} HDF5 shards ({size / 1e6:,.1f} "
        f"MB), imported by layersynth {data['generator_version']} (shard schema version "
        f"{data['schema_version']}) from the {src['format'].upper()} layout in `{src['root']}`.",
        "",
        f"- read: {src['sequences']} sequence folders (JPEGImages, AmodalAnnotations, Flows_gap1,"
        f" Flows_gap-1), sha256 of their listing {src['listing_sha256'][:16]}...",
        f"- skipped: {len(src['skipped'])}" + "".join(f"\n  - {p}" for p in src["skipped"]),
        "- resized to " + ("x".join(map(str, s["size"])) if s["size"] else "(not resized)")
        + "; each record keeps the source size, sequence name and frame names",
        "- **no ground-truth flow** (`flow_gt` absent): `flow_raft` holds the source's RAFT "
        "flows (provenance \"imported\"); end flows the source lacks are filled with the "
        "negated opposite gap and listed in the record (`filled_flows`)",
        "- amodal channel 0 is the front-most object (the source's file k = 1 is the back-most); "
        "modal labels composed front to back; occluder all False", gaps_line(data), "",
        *_reading("flows are"), "## Arrays of each sequence", "", field_table(), "",
        "## Settings", "", "```json", json.dumps(s, indent=1, sort_keys=True), "```", "",
    ]
    return "\n".join(lines)


def _events_line(scene: dict) -> list[str]:
    """The motion-event rates of the scene settings (none for datasets made before them)."""
    if "static_spell_prob" not in scene:
        return []
    return [f"- motion events: static spells for {scene['static_spell_prob']} of objects "
            f"({scene['static_spell_frames']} frames, ramps {scene['static_ramp']}), entering or "
            f"leaving the frame {scene['enter_exit_prob']} of objects, one object wholly hidden "
            f"in {scene['full_occlusion_prob']} of scenes ({scene['full_occlusion_frames']} "
            f"frames); per object `spell`, `crossing` and per scene `hidden`, `hidden_window` in "
            f"each record's scene parameters"]


def _order_line(scene: dict) -> list[str]:
    """Issue 16: the depth-order changes (none for a manifest made before them)."""
    if "order_change_prob" not in scene:
        return []
    if not scene["order_change_prob"]:
        return ["- depth order: one per clip (`order` (T, K) is the same at every frame); amodal "
                "channel k is the k-th nearest object"]
    at = "at a crossing (while they overlap)" if scene["order_change_crossing"] else (
        "while they are apart")
    return [f"- depth order changes (order_change_prob, order_change_crossing): in "
            f"{scene['order_change_prob']} of multi-object scenes two objects adjacent in depth "
            f"swap once, {at}; `order` (T, K) holds each frame's ranks (0 = front-most), amodal "
            f"channel k is one object over the clip (the k-th nearest at frame 0), modal labels "
            f"are each frame's front-most object; each record's scene parameters list "
            f"`order_changes` (tau, a, b) and its stats `order_changes` (frames whose order "
            f"differs from the frame before)"]


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
