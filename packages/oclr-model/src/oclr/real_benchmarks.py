"""Real benchmarks in their own folder layouts: flow (cached), inference, masks, scores in one go.

`run_benchmark(BenchmarkConfig(...))` runs one; `oclr-eval --checkpoint CKPT` builds the config
from one of (REFERENCE.md section 5 gives the layouts):

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
Every protocol the benchmark has is run by default (`protocol="all"`; docs/evaluation.md):

- "linked" (`oclr.infer`): identities linked across overlapping windows without ground truth; the
  top-level figures.
- "reference" (`oclr.gt_protocols`): the paper's code's windows (non-overlapping, the end-aligned
  last one keeping its frames), each matched to the ground truth on composed modal masks by
  frame-mean IoU. Single-object sets merge all objects, so there it differs from "linked" only in
  how windows are cut.
- "single-channel" (DAVIS 2016 and MoCA only, `oclr.gt_protocols`): the same windows, one channel
  per window picked with the ground truth and only it written: how the paper's DAVIS 2016 and MoCA
  figures were made.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from layersynth.errors import InputError
from PIL import Image

from oclr.davis_io import read_label_png, write_label_png
from oclr.evaluate import EvalConfig, evaluate_folders, format_table
from oclr.flowcache import FlowSpec, flow_input_for
from oclr.gt_protocols import GT_PROTOCOLS, boxes_at_model_size, infer_gt_assisted
from oclr.infer import InferConfig, infer_flow
from oclr.linking import object_masks
from oclr.moca import evaluate_moca, parse_annotations
from oclr.readout import check_reading, order_source, spare_reading
from oclr.realvideo import (
    FlowSettings,
    Progress,
    check_windows,
    load_model_or_input_error,
    read_as_asked,
)
from oclr.video_io import FrameSource, MediaError, open_frames


class LayoutError(InputError):
    """A benchmark folder that is not in the expected layout; the message names the path."""


@dataclass(frozen=True)
class Benchmark:
    """Where a benchmark keeps frames and ground truth, relative to its root, and how it scores."""

    name: str
    images: str
    annotations: str | None  # None: boxes in a CSV (MoCA)
    image_set: str | None
    merge_objects: bool
    single_channel: bool = False  # the reference scores one GT-picked channel per window here


BENCHMARKS = {
    "2016-val": Benchmark("DAVIS 2016 val", "JPEGImages/480p", "Annotations/480p",
                          "ImageSets/2016/val.txt", True, single_channel=True),
    "2017-motion": Benchmark("DAVIS2017-motion", "JPEGImages/480p", "Annotations/480p",
                             "ImageSets/2017/val.txt", False),
    "segtrack": Benchmark("SegTrackv2", "JPEGImages", "Annotations", None, True),
    "fbms": Benchmark("FBMS-59", "JPEGImages", "Annotations", None, True),
    "moca": Benchmark("MoCA", "JPEGImages", None, None, True, single_channel=True),
}
# "all": every protocol the benchmark has; "both": linked and reference
PROTOCOL_CHOICES = ("all", "both", "linked", "reference", "single-channel")


@dataclass(frozen=True)
class BenchmarkConfig:
    """One benchmark run: `benchmark` a key of BENCHMARKS, `root` its folder (MoCA: with the box
    CSV `moca_csv`), masks written under `out`/<protocol>/; `protocol` one of PROTOCOL_CHOICES
    ("single-channel" only where the benchmark has it); `sequences` only these (None: the
    benchmark's list); `overlap` frames shared by windows under "linked" (None: a third of a
    window), `batch` windows per forward pass, `device` for the model and RAFT, `flow` how flow
    is made and cached; `order_readout` reads the depth order another way than the checkpoint's
    config says, `spares` does what it says with the layers an objectness head calls spare
    (`oclr.readout`; None keeps the checkpoint's)."""

    checkpoint: str
    benchmark: str
    root: str
    out: str
    moca_csv: str | None = None
    protocol: str = "all"
    sequences: tuple[str, ...] | None = None
    overlap: int | None = None
    batch: int = 1
    device: str = "cpu"
    flow: FlowSettings = field(default_factory=FlowSettings)
    order_readout: str | None = None
    spares: str | None = None

    def __post_init__(self) -> None:
        check_reading(self.order_readout, self.spares)
        if self.benchmark not in BENCHMARKS:
            raise ValueError(f"benchmark must be one of {sorted(BENCHMARKS)}, "
                             f"got {self.benchmark!r}")
        if self.protocol not in PROTOCOL_CHOICES:
            raise ValueError(f"protocol must be one of {PROTOCOL_CHOICES}, got {self.protocol!r}")
        if self.benchmark == "moca" and self.moca_csv is None:
            raise ValueError("the MoCA benchmark needs moca_csv, its box annotations")
        if self.protocol == "single-channel" and not BENCHMARKS[self.benchmark].single_channel:
            raise ValueError(f"protocol single-channel is the reference's for DAVIS 2016 and MoCA "
                             f"only; {BENCHMARKS[self.benchmark].name} has linked and reference")

    @property
    def protocols(self) -> list[str]:
        if self.protocol == "all":
            extra = ["single-channel"] if BENCHMARKS[self.benchmark].single_channel else []
            return ["linked", "reference", *extra]
        return ["linked", "reference"] if self.protocol == "both" else [self.protocol]


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


def run_benchmark(cfg: BenchmarkConfig, *, progress: Progress | None = None) -> dict:
    """Infer, write the masks and score every sequence of the benchmark `cfg` names; returns the
    result (the JSON object `oclr-eval` prints). A folder in the wrong layout -> LayoutError
    naming it; a bad checkpoint or option -> InputError. `progress` wraps the sequence loop."""
    bench, root, out = BENCHMARKS[cfg.benchmark], Path(cfg.root), Path(cfg.out)
    annotations = parse_annotations(cfg.moca_csv) if cfg.benchmark == "moca" else None
    names, listed_from = list_sequences(root, bench, annotations)
    names = _restrict(names, cfg.sequences)
    sequences = {seq: check_sequence(root, bench, seq) for seq in names}
    model = read_as_asked(load_model_or_input_error(cfg.checkpoint, cfg.device), cfg)
    check_windows(model, cfg.batch, cfg.overlap)
    runner = SequenceRunner(model, cfg.flow.spec(model.cfg, cfg.device), cfg, bench,
                            annotations)
    items = sequences.items()
    if progress is not None:
        items = progress(items, len(sequences), "sequences")
    start = time.perf_counter()
    for seq, (frames, gt) in items:
        runner.run(seq, frames, gt, out)
    seconds = time.perf_counter() - start
    scores = {p: _score(bench, root, out / p, names, annotations) for p in cfg.protocols}
    return {**_combine(cfg, scores, listed_from, seconds, runner.frames),
            "order_readout": order_source(model.cfg), "spares": spare_reading(model.cfg)}


def _restrict(names: list[str], wanted: tuple[str, ...] | None) -> list[str]:
    if wanted is None:
        return names
    missing = [n for n in wanted if n not in names]
    if missing:
        raise InputError(f"--sequences: {', '.join(missing)} not in this benchmark's list")
    return list(wanted)


class SequenceRunner:
    """Flow (cached), inference under each protocol and mask writing, one sequence at a time;
    `boxes` the MoCA annotations ({seq: {frame: BoxAnnotation}}, None elsewhere)."""

    def __init__(self, model, spec: FlowSpec, cfg: BenchmarkConfig, bench: Benchmark,
                 boxes: dict | None = None) -> None:
        self.model, self.spec, self.bench, self.boxes = model, spec, bench, boxes
        self.cache_dir, self.protocols = cfg.flow.cache_dir(), cfg.protocols
        self.infer = InferConfig(overlap=cfg.overlap, batch=cfg.batch, device=cfg.device)
        self.frames = 0

    def run(self, seq: str, frame_dir: Path, gt: dict[str, Path], out: Path) -> None:
        try:
            source = open_frames(frame_dir)
            flow = flow_input_for(source, self.spec, self.cache_dir)
        except MediaError as err:
            raise LayoutError(str(err)) from None
        _check_gt_frames(source, gt)
        self.frames += len(source)
        preds = {}
        if "linked" in self.protocols:
            preds["linked"] = infer_flow(self.model, flow, self.infer)
        assisted = [p for p in self.protocols if p in GT_PROTOCOLS]
        if assisted:
            targets, has_gt = self._gt_at_model_size(seq, source, gt)
            preds.update(infer_gt_assisted(self.model, flow, self.infer,
                                           {p: targets.get(p) for p in assisted}, has_gt))
        for protocol in self.protocols:
            _write_masks(source, preds[protocol], gt, out / protocol / seq)

    def _gt_at_model_size(self, seq: str, source: FrameSource, gt: dict[str, Path]):
        """({protocol: (G, T, h, w) bool GT at the model size}, has_gt (T,) bool): the objects
        for "reference" on multi-object sets, the one foreground (MoCA: box) for
        "single-channel"; merged sets give "reference" nothing to match."""
        h, w = self.spec.height, self.spec.width
        if self.boxes is not None:
            masks, has_gt = boxes_at_model_size(self.boxes.get(seq, {}), source.names,
                                                (source.height, source.width), (h, w))
            return {"single-channel": masks}, has_gt
        labels = np.zeros((len(source), h, w), np.uint8)
        has_gt = np.array([name in gt for name in source.names])
        for t, name in enumerate(source.names):
            if name in gt:
                labels[t] = _resize_nearest(read_label_png(gt[name]), h, w)
        if self.bench.merge_objects:
            return {"single-channel": ((labels > 0) & (labels != 255))[None]}, has_gt
        return {"reference": object_masks(labels)}, has_gt


def _check_gt_frames(source, gt: dict[str, Path]) -> None:
    extra = sorted(set(gt) - set(source.names))
    if extra:
        path = gt[extra[0]]
        raise LayoutError(f"{path}: ground truth for a frame that is not in {source.path}")


def _resize_nearest(labels: np.ndarray, h: int, w: int) -> np.ndarray:
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
        chosen = {seq: annotations[seq] for seq in names}
        return evaluate_moca(chosen, pred_dir, root / bench.images)
    config = EvalConfig(merge_objects=bench.merge_objects, sequences=tuple(names))
    return evaluate_folders(pred_dir, root / bench.annotations, config)


def _combine(cfg: BenchmarkConfig, scores: dict, listed_from: str, seconds: float,
             frames: int) -> dict:
    """The primary protocol's result at the top level (linked where run); every protocol's
    figures under `protocols` (per-sequence values there only for the non-primary one: the
    primary's are the top-level `sequences`)."""
    primary = next(p for p in ("linked", "reference", "single-channel") if p in scores)
    result = dict(scores[primary])
    per_protocol = {p: {k: v for k, v in s.items() if p != primary or k != "sequences"}
                    for p, s in scores.items()}
    result.update(
        benchmark=BENCHMARKS[cfg.benchmark].name, set=cfg.benchmark, root=str(cfg.root),
        checkpoint=str(cfg.checkpoint), flow=cfg.flow.method, protocol=primary,
        sequence_list=listed_from, out=str(cfg.out),
        frames_inferred=frames, seconds=seconds,
        protocols=per_protocol,
    )  # fmt: skip
    return result


def format_result(result: dict) -> str:
    """Per protocol: the DAVIS table (oclr.evaluate) or the MoCA success rates."""
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
    "reference": "the reference's non-overlapping windows, each matched to the ground truth on "
                 "modal masks",
    "single-channel": "the reference's windows, one channel per window picked with the ground "
                      "truth (its DAVIS 2016 / MoCA figures)",
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
