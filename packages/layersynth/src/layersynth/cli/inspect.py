"""`layersynth inspect DIR [--stats]`: counts, objects, occlusion, sizes, settings, EPE of
estimated flows; `--stats` adds the realism statistics read from the arrays (viz/realism.py)."""

from __future__ import annotations

import click

from layersynth.cli.conventions import CONTEXT, AtLeast, OneLineCommand, OutputFile, emit_result
from layersynth.store import gaps as flow_gaps
from layersynth.store.reader import open_dataset
from layersynth.viz.realism import realism_stats
from layersynth.viz.stats import dataset_stats, flow_epe

HELP = ("counts, objects per sequence, occlusion fractions, depth-order changes, sizes, settings; "
        "--stats: realism "
        "statistics from the arrays (table, then JSON)")
# (label, key in a group of realism figures, format): the rows of the --stats table
REALISM_ROWS = (
    ("object-frames", "object_frames", "{:d}"),
    ("area share, median", "area_share_median", "{:.3f}"),
    ("object flow px, median", "object_flow_px_median", "{:.2f}"),
    ("relative motion px, median", "relative_motion_px_median", "{:.2f}"),
    ("near-static (< 0.3 px)", "near_static_share", "{:.1%}"),
    ("fully occluded", "fully_occluded_share", "{:.1%}"),
    ("touching the border", "touching_border_share", "{:.1%}"),
    ("out of frame", "out_of_frame_share", "{:.1%}"),
    ("border or out of frame", "border_or_out_share", "{:.1%}"),
    ("solidity, median", "solidity_median", "{:.3f}"),
)


def print_table(s: dict) -> None:
    occ = s["occlusion_fraction"]
    print(f"sequences      {s['sequences']} of {s['requested']} requested, in {s['shards']} shards")
    print(f"frames         {s['frames']} x {s['height']} x {s['width']}")
    per = s["bytes_per_sequence"] or 0
    print(f"size           {s['bytes'] / 1e6:,.1f} MB ({per / 1e6:.2f} MB/sequence)")
    print("objects        " + ", ".join(f"{k}: {v}" for k, v in s["objects"].items()))
    if occ["mean"] is not None:
        print(f"occlusion      mean {occ['mean']:.3f}  min {occ['min']:.3f}  median "
              f"{occ['median']:.3f}  max {occ['max']:.3f}  (hidden fraction of object area)")
    for k, o in s["occlusion_fraction_by_objects"].items():
        print(f"  {k} object(s)  mean {o['mean']:.3f}  median {o['median']:.3f}")
    ch = s["order_changes"]
    if ch["sequences"]:
        print(f"depth order    changes in {ch['sequences']} of {ch['multi_object']} multi-object "
              f"sequences ({ch['share']:.0%}), {ch['per_changing_sequence']:.2f} per changing "
              f"sequence ({ch['changes']} in all)")
    else:
        print(f"depth order    one order per clip in all {ch['multi_object']} multi-object "
              "sequences")
    print(f"flows          {', '.join(s['flows'])}")
    gaps = tuple(s["gaps"])
    print(f"flow gaps      {flow_gaps.label(gaps)} (gap axis: {flow_gaps.layout(gaps)})")
    for method, options in s.get("estimated_flow", {}).items():
        print(f"  {method:10s} " + ", ".join(f"{k} {v}" for k, v in options.items()))
    for method, e in s.get("epe", {}).items():
        print(f"  EPE {method:6s} {e['epe']:.3f} px overall, {e['epe_boundary']:.3f} px on "
              f"boundaries ({e['sequences']} sequences)")
    st = s["settings"]
    scene = st.get("scene") if isinstance(st.get("scene"), dict) else {}
    print(f"settings       preset {st.get('preset', '?')}, seed {st.get('seed', '?')}, namespace "
          f"{st.get('namespace', '?')}, objects {scene.get('objects', '?')}, occlusion "
          f"{scene.get('occlusion', '?')}, layersynth {st.get('generator_version', '?')}")


def _cell(fmt: str, value) -> str:
    return "-" if value is None else fmt.format(value)


def print_realism(r: dict) -> None:
    """The --stats table: one column for all objects, one per sprite kind."""
    kind = "exact" if r["flow_exact"] else "estimated"
    flow = f"flow_{r['flow']} ({kind})" if r["flow"] else "no stored flow"
    print(f"realism        {r['sequences']} sequences, {r['objects']} objects, "
          f"{r['object_frames']} object-frames; motion from {flow}, gap +1")
    groups = {"all": r["overall"], **r["by_kind"]}
    print("  " + " " * 26 + "".join(f"{name:>12s}" for name in groups))
    for label, key, fmt in REALISM_ROWS:
        print(f"  {label:26s}" + "".join(f"{_cell(fmt, g[key]):>12s}" for g in groups.values()))
    print(f"  {'sprite kinds':26s}" + ", ".join(
        f"{k} {v['objects']} ({v['share']:.0%})" for k, v in r["sprite_kinds"].items()))
    bg, res = r["background_flow_px"], r["background_residual_px"]
    print(f"  {'background flow px':26s}median {_cell('{:.2f}', bg['median'])} per frame")
    print(f"  {'background residual px':26s}median {_cell('{:.3f}', res['median'])}  p75 "
          f"{_cell('{:.3f}', res['p75'])}  max {_cell('{:.3f}', res['max'])}; above 0.3 px "
          f"(parallax) in {_cell('{:.0%}', res['parallax_share'])} of {res['sequences']} "
          "sequences")


@click.command("inspect", cls=OneLineCommand, context_settings=CONTEXT, help=HELP,
               short_help=HELP)
@click.argument("root", metavar="DIR", help="dataset folder (with manifest.json)")
@click.option("--epe-sequences", type=AtLeast(0), default=100, metavar="EPE_SEQUENCES",
              help="sequences (evenly spaced) used for the EPE of estimated flows; 0 = all")
@click.option("--json", "json_file", type=OutputFile(), metavar="FILE",
              help="also write the JSON here")
@click.option("--stats", "realism", is_flag=True,
              help="also the realism statistics from the arrays (motion, static, occluded and "
                   "out-of-frame shares, background parallax residual, mask solidity, sprite "
                   "kinds); reads every sequence")
def command(*, root: str, epe_sequences: int, json_file: str | None, realism: bool) -> int:
    with open_dataset(root) as ds:
        stats = dict(dataset_stats(ds), gaps=list(ds.gaps))
        # EPE needs flow_gt, which an imported dataset (only flow_raft) lacks
        stats["epe"] = flow_epe(ds, epe_sequences) if "gt" in ds.flow_methods else {}
        if realism:
            stats["realism"] = realism_stats(ds)
    print_table(stats)
    if realism:
        print_realism(stats["realism"])
    emit_result(stats, json_file)
    return 0
