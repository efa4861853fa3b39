"""`layersynth inspect DIR`: counts, objects, occlusion, sizes, settings, EPE of estimated flows."""

from __future__ import annotations

import click

from layersynth.cli.conventions import CONTEXT, AtLeast, OneLineCommand, OutputFile, emit_result
from layersynth.store.reader import open_dataset
from layersynth.viz.stats import dataset_stats, flow_epe

HELP = "counts, objects per sequence, occlusion fractions, sizes, settings (table, then JSON)"


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
    print(f"flows          {', '.join(s['flows'])}")
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


@click.command("inspect", cls=OneLineCommand, context_settings=CONTEXT, help=HELP,
               short_help=HELP)
@click.argument("root", metavar="DIR", help="dataset folder (with manifest.json)")
@click.option("--epe-sequences", type=AtLeast(0), default=100, metavar="EPE_SEQUENCES",
              help="sequences (evenly spaced) used for the EPE of estimated flows; 0 = all")
@click.option("--json", "json_file", type=OutputFile(), metavar="FILE",
              help="also write the JSON here")
def command(*, root: str, epe_sequences: int, json_file: str | None) -> int:
    with open_dataset(root) as ds:
        stats = dataset_stats(ds)
        stats["epe"] = flow_epe(ds, epe_sequences)
    print_table(stats)
    emit_result(stats, json_file)
    return 0
