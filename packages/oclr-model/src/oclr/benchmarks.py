"""Real benchmarks in their own folder layouts: flow (cached), inference, masks, scores in one go.

`oclr-eval --checkpoint CKPT` with one of (REFERENCE.md section 5 gives the layouts):

    --davis ROOT --set 2016-val     ROOT/JPEGImages/480p/<seq>/<frame>.jpg, ROOT/Annotations/480p/
                                    <seq>/<frame>.png (binary), ROOT/ImageSets/2016/val.txt
    --davis ROOT --set 2017-motion  same layout, palette GT of jointly-moving groups,
                                    ROOT/ImageSets/2017/val.txt; multi-object scoring
    --segtrack ROOT / --fbms ROOT   ROOT/JPEGImages/<seq>/<frame>.(jpg|png), ROOT/Annotations/<seq>/
                                    <frame>.png; objects merged; only frames with a GT file scored
    --moca ROOT --moca-csv FILE     ROOT/JPEGImages/<seq>/<frame>.jpg + the box CSV; success rates

The sequence list comes from the ImageSets file where the benchmark has one and the root holds
it, else from the annotated folders (MoCA: the CSV); the result says which. Masks are written as
DAVIS palette PNGs to OUT/<protocol>/<seq>/<frame>.png for every frame, then scored by
`oclr.evaluate` / `oclr.moca` exactly as `oclr-eval --pred OUT/<protocol> --gt ...` would.
Both protocols of `oclr.infer` are run by default: "linked" (identities linked across windows
without ground truth: the top-level figures) and "reference" (non-overlapping windows, each
matched to the ground truth as the paper's code does); single-object sets merge all objects, so
there the two differ only in how windows are cut.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from layersynth.errors import UsageError
from layersynth.report import emit_json, progress

from oclr.davis_io import read_label_png, write_label_png


class LayoutError(UsageError):
    """A benchmark folder that is not in the expected layout; the message names the path."""


@dataclass(frozen=True)
class Benchmark:
    """Where a benchmark keeps frames and ground truth, relative to its root, and how it scores."""

    name: str
    images: str
    annotations: str | None  # None: boxes in a CSV (MoCA)
    image_set: str | None
    merge_objects: bool


BENCHMARKS = {
    "2016-val": Benchmark("DAVIS 2016 val", "JPEGImages/480p", "Annotations/480p",
                          "ImageSets/2016/val.txt", True),
    "2017-motion": Benchmark("DAVIS2017-motion", "JPEGImages/480p", "Annotations/480p",
                             "ImageSets/2017/val.txt", False),
    "segtrack": Benchmark("SegTrackv2", "JPEGImages", "Annotations", None, True),
    "fbms": Benchmark("FBMS-59", "JPEGImages", "Annotations", None, True),
    "moca": Benchmark("MoCA", "JPEGImages", None, None, True),
}
PROTOCOL_CHOICES = ("both", "linked", "reference")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark mode's options (`--checkpoint`, `--davis` and `--json` belong to oclr-eval)."""
    from oclr.cli_infer import add_flow_arguments

    parser.add_argument("--set", choices=("2016-val", "2017-motion"), help="DAVIS benchmark")
    parser.add_argument("--segtrack", metavar="ROOT", help="SegTrackv2 root")
    parser.add_argument("--fbms", metavar="ROOT", help="FBMS-59 root")
    parser.add_argument("--moca", metavar="ROOT", help="MoCA root (with --moca-csv)")
    parser.add_argument("--moca-csv", metavar="FILE", help="MoCA box annotations CSV")
    parser.add_argument("--out", metavar="DIR", help="masks go to DIR/<protocol>/<seq>/")
    parser.add_argument("--protocol", choices=PROTOCOL_CHOICES, default="both",
                        help="window linking: without GT (linked), GT-matched reference, or both")
    parser.add_argument("--sequences", metavar="LIST",
                        help="only these sequences (comma-separated), e.g. for a quick check")
    parser.add_argument("--overlap", type=int, metavar="N", help="frames shared by windows "
                        "under the linked protocol (default: a third of a window)")
    parser.add_argument("--batch", type=int, default=1, help="windows per forward pass")
    add_flow_arguments(parser)


add_benchmark_arguments = add_arguments


def chosen_benchmark(args: argparse.Namespace) -> tuple[str, Path]:
    """(key into BENCHMARKS, root) from the options; UsageError unless exactly one is given."""
    given = {k: getattr(args, k) for k in ("davis", "segtrack", "fbms", "moca")}
    given = {k: v for k, v in given.items() if v is not None}
    if len(given) != 1:
        raise UsageError("give exactly one of --davis ROOT --set NAME, --segtrack ROOT, "
                         "--fbms ROOT, --moca ROOT --moca-csv FILE (with --checkpoint)")
    kind, root = next(iter(given.items()))
    if kind == "davis" and args.set is None:
        raise UsageError("--davis needs --set 2016-val or --set 2017-motion")
    if kind == "moca" and args.moca_csv is None:
        raise UsageError("--moca needs --moca-csv FILE (the box annotations)")
    if args.out is None:
        raise UsageError("--out DIR is needed: the predicted masks are written there")
    return (args.set if kind == "davis" else kind), Path(root)


def _require_dir(path: Path, what: str, root: Path, bench: Benchmark) -> Path:
    if not path.is_dir():
        raise LayoutError(f"{path}: no such folder ({what}); {bench.name} expects "
                          f"{layout_hint(root, bench)}")
    return path


def layout_hint(root: Path, bench: Benchmark) -> str:
    images = f"{root}/{bench.images}/<seq>/<frame>.jpg"
    if bench.annotations is None:
        return images + " and a box CSV"
    return f"{images} and {root}/{bench.annotations}/<seq>/<frame>.png"


def list_sequences(root: Path, bench: Benchmark, annotations: dict | None) -> tuple[list[str], str]:
    """(sequence names, where the list came from)."""
    if not root.is_dir():
        raise LayoutError(f"{root}: no such folder ({bench.name} root)")
    _require_dir(root / bench.images, "frames", root, bench)
    if annotations is not None:
        return sorted(annotations), "the sequences of the box CSV"
    gt_dir = _require_dir(root / bench.annotations, "ground truth", root, bench)
    if bench.image_set and (root / bench.image_set).is_file():
        text = (root / bench.image_set).read_text().split()
        return list(dict.fromkeys(text)), str(root / bench.image_set)
    names = sorted(p.name for p in gt_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise LayoutError(f"{gt_dir}: no <seq> folders; {bench.name} expects "
                          f"{layout_hint(root, bench)}")
    return names, f"every folder in {gt_dir}"


def check_sequence(root: Path, bench: Benchmark, seq: str) -> tuple[Path, dict[str, Path]]:
    """(frame folder, {frame: GT png}) of one sequence; LayoutError naming what is missing."""
    frames = _require_dir(root / bench.images / seq, f"frames of {seq}", root, bench)
    if bench.annotations is None:
        return frames, {}
    gt_dir = _require_dir(root / bench.annotations / seq, f"ground truth of {seq}", root, bench)
    gt = {p.stem: p for p in sorted(gt_dir.glob("*.png"))}
    if not gt:
        raise LayoutError(f"{gt_dir}: no <frame>.png ground truth; {bench.name} expects "
                          f"{layout_hint(root, bench)}")
    return frames, gt


def run(args: argparse.Namespace) -> int:
    """`oclr-eval --checkpoint ... <benchmark>`: infer, write masks, score, print table + JSON."""
    key, root = chosen_benchmark(args)
    result = run_benchmark_args(args, key, root)
    print(format_result(result))
    emit_json(result, args.json)
    return 0


run_benchmark = run


def run_benchmark_args(args: argparse.Namespace, key: str, root: Path) -> dict:
    from oclr.cli_infer import check_window_options, flow_cache_dir, flow_spec, load_model
    from oclr.moca import parse_annotations

    bench = BENCHMARKS[key]
    annotations = parse_annotations(args.moca_csv) if key == "moca" else None
    names, listed_from = list_sequences(root, bench, annotations)
    names = _restrict(names, args.sequences)
    sequences = {seq: check_sequence(root, bench, seq) for seq in names}
    model = load_model(args.checkpoint, args.device)
    check_window_options(args, model)
    protocols = ["linked", "reference"] if args.protocol == "both" else [args.protocol]
    runner = SequenceRunner(model, flow_spec(args, model), flow_cache_dir(args), args, bench)
    start = time.perf_counter()
    for seq, (frames, gt) in progress(sequences.items(), len(sequences), "sequences"):
        runner.run(seq, frames, gt, protocols, Path(args.out))
    seconds = time.perf_counter() - start
    scores = {p: _score(bench, root, Path(args.out) / p, names, annotations) for p in protocols}
    return _combine(bench, key, root, args, scores, listed_from, seconds, runner.frames)


def _restrict(names: list[str], wanted: str | None) -> list[str]:
    if wanted is None:
        return names
    chosen = [n.strip() for n in wanted.split(",") if n.strip()]
    missing = [n for n in chosen if n not in names]
    if missing:
        raise UsageError(f"--sequences: {', '.join(missing)} not in this benchmark's list")
    return chosen


class SequenceRunner:
    """Flow (cached), inference under each protocol and mask writing, one sequence at a time."""

    def __init__(self, model, spec, cache_dir, args, bench: Benchmark) -> None:
        from oclr.infer import InferConfig

        self.model, self.spec, self.cache_dir, self.bench = model, spec, cache_dir, bench
        self.configs = {p: InferConfig(protocol=p, overlap=args.overlap, batch=args.batch,
                                       device=args.device) for p in ("linked", "reference")}
        self.frames = 0

    def run(self, seq: str, frame_dir: Path, gt: dict[str, Path], protocols: list[str],
            out: Path) -> None:
        from oclr.flowcache import flow_input_for
        from oclr.infer import infer_flow
        from oclr.video_io import MediaError, open_frames

        try:
            source = open_frames(frame_dir)
            flow = flow_input_for(source, self.spec, self.cache_dir)
        except MediaError as err:
            raise LayoutError(str(err)) from None
        _check_gt_frames(source, gt)
        self.frames += len(source)
        gt_masks, has_gt = self._gt_at_model_size(source, gt)
        for protocol in protocols:
            pred = infer_flow(self.model, flow, self.configs[protocol], gt_masks, has_gt)
            _write_masks(source, pred, gt, out / protocol / seq)

    def _gt_at_model_size(self, source, gt: dict[str, Path]):
        """(G, T, h, w) bool GT objects and (T,) has-GT flags, for the reference matching of
        multi-object sets (None, None for merged sets, where matching changes nothing)."""
        if self.bench.merge_objects or not gt:
            return None, None
        from oclr.linking import object_masks

        h, w = self.spec.height, self.spec.width
        labels = np.zeros((len(source), h, w), np.uint8)
        has_gt = np.array([name in gt for name in source.names])
        for t, name in enumerate(source.names):
            if name in gt:
                labels[t] = _resize_nearest(read_label_png(gt[name]), h, w)
        return object_masks(labels), has_gt


def _check_gt_frames(source, gt: dict[str, Path]) -> None:
    extra = sorted(set(gt) - set(source.names))
    if extra:
        path = gt[extra[0]]
        raise LayoutError(f"{path}: ground truth for a frame that is not in {source.path}")


def _resize_nearest(labels: np.ndarray, h: int, w: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(labels).resize((w, h), Image.NEAREST))


def _write_masks(source, pred, gt: dict[str, Path], folder: Path) -> None:
    """Every frame's modal labels as a DAVIS PNG, at the GT's size where the frame has GT (the
    scorer compares sizes), else at the frame's size."""
    folder.mkdir(parents=True, exist_ok=True)
    for t, name in enumerate(source.names):
        h, w = source.height, source.width
        if name in gt:
            h, w = read_label_png(gt[name]).shape
        labels, _ = pred.frame(t, h, w)
        write_label_png(folder / f"{name}.png", labels)


def _score(bench: Benchmark, root: Path, pred_dir: Path, names: list[str], annotations) -> dict:
    if annotations is not None:
        from oclr.moca import evaluate_moca

        chosen = {seq: annotations[seq] for seq in names}
        return evaluate_moca(chosen, pred_dir, root / bench.images)
    from oclr.evaluate import EvalConfig, evaluate_folders

    config = EvalConfig(merge_objects=bench.merge_objects, sequences=tuple(names))
    return evaluate_folders(pred_dir, root / bench.annotations, config)


def _combine(bench, key, root, args, scores: dict, listed_from: str, seconds: float,
             frames: int) -> dict:
    """The primary protocol's result at the top level (linked where run); every protocol's
    figures under `protocols` (per-sequence values there only for the non-primary one: the
    primary's are the top-level `sequences`)."""
    primary = "linked" if "linked" in scores else "reference"
    result = dict(scores[primary])
    per_protocol = {p: {k: v for k, v in s.items() if p != primary or k != "sequences"}
                    for p, s in scores.items()}
    result.update(
        benchmark=bench.name, set=key, root=str(root), checkpoint=str(args.checkpoint),
        flow=args.flow, protocol=primary, sequence_list=listed_from, out=str(args.out),
        frames_inferred=frames, seconds=seconds,
        protocols=per_protocol,
    )  # fmt: skip
    return result


def format_result(result: dict) -> str:
    """Per protocol: the DAVIS table (oclr.evaluate) or the MoCA success rates."""
    from oclr.evaluate import format_table

    blocks = [f"{result['benchmark']} ({result['sequence_list']}), flow {result['flow']}, "
              f"{result['frames_inferred']} frames in {result['seconds']:.1f} s"]
    for protocol, scores in result["protocols"].items():
        if protocol == result["protocol"]:
            scores = {**scores, "sequences": result["sequences"]}
        blocks.append(f"\nprotocol: {protocol} ({PROTOCOL_TEXT[protocol]})")
        blocks.append(_moca_table(scores) if "SR" in scores else format_table(scores))
    return "\n".join(blocks)


PROTOCOL_TEXT = {
    "linked": "overlapping windows, identities linked without ground truth",
    "reference": "non-overlapping windows, each matched to the ground truth",
}


def _moca_table(scores: dict) -> str:
    head = f"{'sequence':<24} {'frames':>6} {'SR':>6} {'mIoU':>6}"
    lines = [head, "-" * len(head)]
    for name, s in scores["sequences"].items():
        lines.append(f"{name[:24]:<24} {s['n_frames']:>6} {s['SR']:6.3f} {s['mean_iou']:6.3f}")
    lines.append("-" * len(head))
    lines.append(f"{'all frames pooled':<24} {scores['n_frames']:>6} {scores['SR']:6.3f} "
                 f"{scores['mean_iou']:6.3f}")
    rates = "  ".join(f"{t}: {v:.3f}" for t, v in scores["success"].items())
    lines.append(f"success rate at IoU > t   {rates}")
    return "\n".join(lines)
