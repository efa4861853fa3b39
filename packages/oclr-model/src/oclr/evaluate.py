"""Score predicted masks against ground truth with DAVIS J, F and J&F -> one result dict.

Two modes (docs/evaluation.md says what each number means):

- multi-object (DAVIS 2017 / DAVIS2017-motion, unsupervised): the GT objects of a sequence are
  the ids 1..max of its first frame; predicted ids (at most 20) are matched to them by one
  Hungarian assignment per sequence; statistics per GT object; overall J and F are means over
  all objects of all sequences, J&F their average.
- merged (single-object sets: DAVIS 2016, SegTrackv2, FBMS-59): every predicted id and every GT
  id is one foreground; overall J and F are means over sequences ("J_per_sequence", the DAVIS
  2016 convention), and the means over all frames pooled are given beside them ("J_per_frame",
  the convention of the paper's reference evaluation for these sets).

Entry points: `evaluate_folders` (folders of DAVIS PNGs), `score_sequence` + `summarise_sequences`
(label arrays already in memory, e.g. a benchmark runner's predictions), `format_table`.
No torch here: the scorer stays light to start.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oclr.davis_io import MaskFormatError, frame_files, list_sequences, read_label_png
from oclr.metrics import VOID, frame_scores, match_ids_by_jf, series_stats
from oclr.tables import Column, mean_or_nan, percent, pooled_means, table_header, table_row

MAX_PRED_IDS = 20  # DAVIS refuses more proposals per sequence


@dataclass(frozen=True)
class EvalConfig:
    """merge_objects: score one merged foreground (single-object benchmarks);
    sequences: names to score (None: every GT sequence); workers: threads (1 = serial)."""

    merge_objects: bool = False
    sequences: tuple[str, ...] | None = None
    workers: int = 2  # threads decoding and scoring frames (PNG decoding and OpenCV free the GIL)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")


@dataclass(frozen=True)
class SequenceScores:
    """Per-frame scores of one sequence.

    j, f: (n_objects, T) float64, row i = GT object i + 1 (merged mode: one row, the foreground);
    pred_ids: matched predicted id of each GT object, None where it was matched to no prediction
    (or in merged mode); frames: the T frame names.
    """

    j: np.ndarray
    f: np.ndarray
    pred_ids: tuple[int | None, ...]
    frames: tuple[str, ...]


def score_sequence(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    merge_objects: bool,
    frames: Iterable[str] | None = None,
    pool: Executor | None = None,
) -> SequenceScores:
    """Score one sequence of label images: pred, gt (T, H, W) uint8 (GT 255 = void).

    Predicted ids must be at most 20 (ValueError otherwise; `evaluate_folders` names the file).
    `pool` (optional) scores frames concurrently; the result does not depend on it.
    """
    if pred.shape != gt.shape or pred.ndim != 3:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must both be (T, H, W)")
    names = tuple(frames) if frames is not None else tuple(f"{t:05d}" for t in range(len(gt)))
    if int(pred.max(initial=0)) > MAX_PRED_IDS:
        raise ValueError(f"predicted id {int(pred.max())} > {MAX_PRED_IDS}")
    mapper = map if pool is None else pool.map
    if merge_objects:
        return _score_merged(pred, gt, names, mapper)
    return _score_multi(pred, gt, names, mapper)


def _score_merged(pred, gt, names: tuple[str, ...], mapper) -> SequenceScores:
    pred_fg = (pred > 0).astype(np.uint8)
    gt_fg = np.where(gt == VOID, VOID, gt > 0).astype(np.uint8)
    j, f = _pairwise(pred_fg, gt_fg, 1, 1, mapper)
    return SequenceScores(j[0], f[0], (None,), names)


def _score_multi(pred, gt, names: tuple[str, ...], mapper) -> SequenceScores:
    first = gt[0][gt[0] != VOID]
    n_gt = int(first.max(initial=0))
    n_pred = int(pred.max(initial=0))
    if n_gt == 0:
        empty = np.zeros((0, len(gt)))
        return SequenceScores(empty, empty.copy(), (), names)
    # Ids beyond the predicted ones are empty masks: DAVIS's padding when n_pred < n_gt.
    j, f = _pairwise(pred, gt, max(n_pred, n_gt), n_gt, mapper)
    m = match_ids_by_jf(j, f)
    ids = tuple(int(k) if k <= n_pred else None for k in m.pred_ids)
    return SequenceScores(m.j, m.f, ids, names)


def _pairwise(pred: np.ndarray, gt: np.ndarray, n_pred: int, n_gt: int, mapper=map):
    """(n_pred, n_gt, T) pairwise J and F over the frames of a sequence."""
    per_frame = list(mapper(lambda t: frame_scores(pred[t], gt[t], n_pred, n_gt), range(len(gt))))
    j = np.stack([jf[0] for jf in per_frame], axis=-1)
    f = np.stack([jf[1] for jf in per_frame], axis=-1)
    return j, f


def load_sequence(
    name: str,
    gt_frames: dict[str, Path],
    pred_root: Path,
    *,
    binary_pred: bool,
    pool: Executor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read a GT sequence and the predicted frames of the same names -> (pred, gt) (T, H, W).

    Raises MaskFormatError naming the file (the first bad frame in order): a missing predicted
    frame, a size that differs from the GT's, more than 20 predicted ids, a PNG of the wrong
    kind. `pool` (optional) decodes frames concurrently.
    """

    predicted = frame_files(pred_root / name)

    def read_pair(item: tuple[str, Path]) -> tuple[Path, np.ndarray, Path, np.ndarray]:
        frame, gt_path = item
        pred_path = predicted.get(frame)
        if pred_path is None:
            raise MaskFormatError(f"{pred_root / name / f'{frame}.png'}: missing (the ground "
                                  f"truth has {gt_path})")
        p = read_label_png(pred_path, allow_binary=binary_pred)
        return pred_path, p, gt_path, read_label_png(gt_path)

    pred = gt = None
    pairs = (map if pool is None else pool.map)(read_pair, gt_frames.items())
    for t, (pred_path, p, gt_path, g) in enumerate(pairs):
        if gt is None:  # filled in place: stacking a long sequence afterwards costs a copy
            gt = np.empty((len(gt_frames), *g.shape), np.uint8)
            pred = np.empty_like(gt)
        _check_frame(pred_path, p, gt_path, g, gt.shape[1:])
        gt[t], pred[t] = g, p
    return pred, gt


def _check_frame(pred_path, p, gt_path, g, first_shape) -> None:
    if g.shape != first_shape:
        raise MaskFormatError(f"{gt_path}: {_size(g)} but earlier frames are {_size(first_shape)}")
    if p.shape != g.shape:
        raise MaskFormatError(f"{pred_path}: {_size(p)} but the ground truth is {_size(g)}")
    top = int(p.max(initial=0))
    if top > MAX_PRED_IDS:
        raise MaskFormatError(
            f"{pred_path}: predicted id {top}, more than the {MAX_PRED_IDS} ids DAVIS allows "
            "per sequence"
        )


def _size(a) -> str:
    shape = a if isinstance(a, tuple) else a.shape
    return f"{shape[1]}x{shape[0]} (WxH)"


def select_sequences(
    pred_dir: str | os.PathLike, gt_dir: str | os.PathLike, config: EvalConfig
) -> dict[str, dict[str, Path]]:
    """The GT sequences to score -> {seq: {frame: gt path}}; checks each has a predicted folder."""
    gt = list_sequences(gt_dir, "--gt")
    pred = list_sequences(pred_dir, "--pred")
    names = list(gt) if config.sequences is None else list(config.sequences)
    for name in names:
        if name not in gt:
            raise MaskFormatError(f"--gt {gt_dir}: no sequence folder {name!r}")
        if name not in pred:
            raise MaskFormatError(f"--pred {Path(pred_dir) / name}: missing sequence folder")
    return {name: gt[name] for name in names}


def evaluate_folders(
    pred_dir: str | os.PathLike,
    gt_dir: str | os.PathLike,
    config: EvalConfig = EvalConfig(),
    *,
    progress: Callable[[Iterable, int], Iterator] | None = None,
) -> dict:
    """Score PRED/<seq>/<frame>.png against GT/<seq>/<frame>.png -> the result dict.

    Frames are the GT's (a prediction folder may hold more, e.g. FBMS-59 where only some frames
    are annotated); `progress(items, total)` may wrap the loop over sequences.
    """
    chosen = select_sequences(pred_dir, gt_dir, config)
    items = chosen.items()
    if progress is not None:
        items = progress(items, len(chosen))
    scores, merge = {}, config.merge_objects
    with ThreadPoolExecutor(config.workers) as pool:
        for name, gt_frames in items:
            pred, gt = load_sequence(name, gt_frames, Path(pred_dir), binary_pred=merge, pool=pool)
            scores[name] = score_sequence(
                pred, gt, merge_objects=merge, frames=gt_frames, pool=pool
            )
    result = summarise_sequences(scores, merge_objects=config.merge_objects)
    result["pred"], result["gt"] = str(pred_dir), str(gt_dir)
    return result


def _object_entry(j: np.ndarray, f: np.ndarray, pred_id: int | None) -> dict:
    js, fs = series_stats(j), series_stats(f)
    return {
        "J": js.mean, "F": fs.mean, "J&F": (js.mean + fs.mean) / 2,
        "J-recall": js.recall, "J-decay": js.decay,
        "F-recall": fs.recall, "F-decay": fs.decay,
        "pred_id": pred_id, "n_frames": int(j.shape[-1]),
    }  # fmt: skip


_STATS = ("J", "F", "J-recall", "J-decay", "F-recall", "F-decay")


def _object_means(objects: list[dict]) -> dict:
    """Each statistic averaged over the objects (NaN-ignoring), and J&F of the means."""
    out = pooled_means(objects, _STATS)
    out["J&F"] = (out["J"] + out["F"]) / 2
    return out


def summarise_sequences(scores: dict[str, SequenceScores], *, merge_objects: bool) -> dict:
    """Per-sequence and overall statistics of scored sequences -> the JSON-ready result dict.

    Top level: "J", "F", "J&F" (fractions) and recall/decay, the averaging used, counts;
    "sequences": {seq: {"J", "F", "J&F", "n_objects", "n_frames", "objects": {id: stats}}}.
    """
    sequences, all_objects = {}, []
    for name, s in scores.items():
        objects = [_object_entry(j, f, p) for j, f, p in zip(s.j, s.f, s.pred_ids, strict=True)]
        all_objects += objects
        entry = _object_means(objects)  # all NaN for a sequence without objects
        entry.update(n_objects=len(objects), n_frames=len(s.frames))
        entry["objects"] = {str(i + 1): o for i, o in enumerate(objects)}
        sequences[name] = entry
    top = _object_means(all_objects)
    top.update(
        mode="merged" if merge_objects else "multi-object",
        n_sequences=len(scores), n_objects=len(all_objects),
        n_frames=sum(len(s.frames) for s in scores.values()),
    )  # fmt: skip
    if merge_objects:
        top.update(_merged_averages(scores, top))
    else:
        top["averaging"] = "per object (all GT objects of all sequences pooled)"
    top["sequences"] = sequences
    return top


def _merged_averages(scores: dict[str, SequenceScores], top: dict) -> dict:
    """Both averagings of the single-object sets, each under its own name."""
    j_frames = [v for s in scores.values() for v in s.j.ravel()]
    f_frames = [v for s in scores.values() for v in s.f.ravel()]
    jf, ff = mean_or_nan(j_frames), mean_or_nan(f_frames)
    return {
        "averaging": "per sequence (J, F, J&F); J_per_frame etc. pool all frames",
        "J_per_sequence": top["J"], "F_per_sequence": top["F"], "J&F_per_sequence": top["J&F"],
        "J_per_frame": jf, "F_per_frame": ff, "J&F_per_frame": (jf + ff) / 2,
    }  # fmt: skip


# Sequence name (cut to 24 characters), GT objects, frames, then the scores in percent.
_COLUMNS = (Column("sequence", 24, "<", clip=True), Column("obj", 3), Column("frames", 6),
            Column("J", 5), Column("F", 5), Column("J&F", 5))


def _scores(r: dict, suffix: str = "") -> list[str]:
    return [percent(r[f"{key}{suffix}"]) for key in ("J", "F", "J&F")]


def format_table(result: dict) -> str:
    """A readable table of a result dict (scores in percent); the JSON keeps fractions."""
    merged = result.get("mode") == "merged"
    head = table_header(_COLUMNS)
    lines = [head, "-" * len(head)]
    for name, s in result["sequences"].items():
        lines.append(table_row(_COLUMNS, [name, s["n_objects"], s["n_frames"], *_scores(s)]))
    lines.append("-" * len(head))
    label = "mean over sequences" if merged else "mean over objects"
    lines.append(table_row(_COLUMNS, [label, result["n_objects"], result["n_frames"],
                                      *_scores(result)]))
    if merged:
        lines.append(table_row(_COLUMNS, ["mean over frames", "", result["n_frames"],
                                          *_scores(result, "_per_frame")]))
    j_rec, j_dec, f_rec, f_dec = (f"{percent(result[k]):>5}" for k in
                                  ("J-recall", "J-decay", "F-recall", "F-decay"))
    lines.append(f"recall / decay (%): J {j_rec} / {j_dec}   F {f_rec} / {f_dec}   "
                 f"mode: {result['mode']}")
    return "\n".join(lines)
