"""MoCA (camouflaged animals): box success rate of predicted masks against annotated boxes.

The protocol of the paper's evaluation (REFERENCE.md section 5), written anew:

- Annotations: a CSV with a header row, then one row per annotated frame: an index, the file name
  `/<seq>/<frame>.jpg`, the box as a list string `[shape, xmin, ymin, width, height]` and a motion
  string `{"1": "0"|"1"|"2"}` (locomotion, deformation, static). Rows are sorted by file name;
  rows with an empty box `[]` are skipped; an empty motion `{}` takes the previous kept row's.
  xmin and ymin are clipped at 0 and the box ends at (clipped xmin + width, clipped ymin +
  height), as the reference does.
- Per annotated frame: the predicted mask as 8-bit grey (a palette PNG of ids: 255 wherever an
  object is); inverted when more than half of its border pixels are > 127.5; thresholded at
  0.1 x 255; the bounding box of the external contour whose box is largest; that box rescaled to
  the frame's JPEG size when the mask's size differs; IoU with the GT box (no +1 on sizes); IoU
  0 when there is no contour.
- Success at t: IoU > t (strict), t in 0.5 .. 0.9, over all annotated frames of all sequences
  pooled (frames whose motion label is not 0, 1 or 2 are left out, as the reference does);
  the success rate SR is the mean of the five rates.
"""

from __future__ import annotations

import ast
import csv
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from oclr.davis_io import MaskFormatError

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
MOTIONS = {"0": "locomotion", "1": "deformation", "2": "static"}
BORDER_LEVEL = 127.5  # a border pixel counts as foreground above this grey level
FOREGROUND_LEVEL = 0.1 * 255  # mask threshold

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) in pixels, x1/y1 exclusive ends


@dataclass(frozen=True)
class BoxAnnotation:
    """One annotated frame: box (x0, y0, x1, y1) in JPEG pixels, motion "0"/"1"/"2" (or None)."""

    seq: str
    frame: str
    box: Box
    motion: str | None


def parse_annotations(path: str | os.PathLike) -> dict[str, dict[str, BoxAnnotation]]:
    """Read the MoCA CSV -> {seq: {frame: BoxAnnotation}}; MaskFormatError names bad rows."""
    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))[1:]
    except OSError as err:
        raise MaskFormatError(f"{path}: cannot read ({err.strerror})") from None
    out: dict[str, dict[str, BoxAnnotation]] = {}
    motion = None
    for row in sorted(rows, key=lambda r: r[1] if len(r) > 1 else ""):
        ann, motion = _parse_row(path, row, motion)
        if ann is not None:
            out.setdefault(ann.seq, {})[ann.frame] = ann
    return out


def _parse_row(path, row: list[str], previous: str | None) -> tuple[BoxAnnotation | None, str]:
    """One CSV row -> (annotation or None when its box is empty, the motion to carry on)."""
    if len(row) != 4:
        raise MaskFormatError(f"{path}: row {row[:1]} has {len(row)} fields, expected 4")
    _, name, box_text, motion_text = row
    if box_text.strip() == "[]":
        return None, previous
    try:
        _, xmin, ymin, width, height = ast.literal_eval(box_text)
        motion_dict = ast.literal_eval(motion_text)
    except (ValueError, SyntaxError, TypeError) as err:
        raise MaskFormatError(f"{path}: row {row[0]}: cannot parse box/motion ({err})") from None
    motion = str(motion_dict["1"]) if motion_dict else previous
    x0, y0 = max(float(xmin), 0.0), max(float(ymin), 0.0)
    parts = name.strip("/").split("/")
    ann = BoxAnnotation(parts[-2], Path(parts[-1]).stem, (x0, y0, x0 + width, y0 + height), motion)
    return ann, motion


def box_iou(a: Box, b: Box) -> float:
    """IoU of two (x0, y0, x1, y1) boxes, areas as (x1 - x0) * (y1 - y0); 0 when disjoint."""
    inter = max(min(a[2], b[2]) - max(a[0], b[0]), 0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0)
    if inter == 0:
        return 0.0
    area_a = abs((a[2] - a[0]) * (a[3] - a[1]))
    area_b = abs((b[2] - b[0]) * (b[3] - b[1]))
    return float(inter / (area_a + area_b - inter))


def foreground_is_inverted(grey: np.ndarray) -> bool:
    """True when more than half of the border pixels of (H, W) grey levels exceed 127.5."""
    h, w = grey.shape
    border = np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])
    return np.count_nonzero(border > BORDER_LEVEL) / (2 * h + 2 * w - 4) > 0.5


def box_from_mask(grey: np.ndarray) -> Box | None:
    """(H, W) uint8 grey mask -> the largest external contour's box (x0, y0, x1, y1), or None."""
    if foreground_is_inverted(grey):
        grey = 255 - grey
    binary = (grey > FOREGROUND_LEVEL).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    best, area = None, 0
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        if w * h > area:  # strict: the first of equal boxes wins, as in the reference
            best, area = (float(x), float(y), float(x + w), float(y + h)), w * h
    return best


def rescale_box(box: Box, mask_hw: tuple[int, int], image_hw: tuple[int, int]) -> Box:
    """Box from mask pixels to image pixels (sizes as (H, W))."""
    sy, sx = image_hw[0] / mask_hw[0], image_hw[1] / mask_hw[1]
    return (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)


def read_grey_mask(path: str | os.PathLike) -> np.ndarray:
    """A predicted mask as (H, W) uint8 grey: palette ids -> 255 where any object is; grey as
    is; colour -> mean of the channels."""
    try:
        with Image.open(path) as image:
            mode = image.mode
            array = np.asarray(image if mode in ("P", "L", "1") else image.convert("RGB"))
    except (OSError, UnidentifiedImageError, SyntaxError) as err:
        raise MaskFormatError(f"{path}: cannot read as an image ({err})") from None
    if mode == "P":
        return np.where(array > 0, 255, 0).astype(np.uint8)
    if mode == "1":
        return array.astype(np.uint8) * 255
    if array.ndim == 3:
        return array.mean(axis=2).astype(np.uint8)
    return array.astype(np.uint8)


def mask_box_iou(grey: np.ndarray, gt_box: Box, image_hw: tuple[int, int] | None) -> float:
    """IoU of one predicted grey mask's box with the GT box (0 when the mask has no contour)."""
    box = box_from_mask(grey)
    if box is None:
        return 0.0
    if image_hw is not None and tuple(image_hw) != grey.shape:
        box = rescale_box(box, grey.shape, image_hw)
    return box_iou(box, gt_box)


def success_rates(ious: list[float]) -> dict[str, float]:
    """{"0.5": fraction of IoU > 0.5, ..., "0.9": ...}; NaN for no frames."""
    v = np.asarray(ious, dtype=np.float64)
    return {f"{t:.1f}": float(np.mean(v > t)) if v.size else float("nan") for t in THRESHOLDS}


def summarise_moca(ious: dict[str, dict[str, tuple[float, str | None]]]) -> dict:
    """{seq: {frame: (iou, motion)}} -> result dict: "SR" (mean of the five rates), "success",
    "mean_iou" and "n_frames" (all frames pooled), "by_motion", "sequences"; frames with no
    valid motion label are left out of every figure."""
    kept = {s: [v for v in frames.values() if v[1] in MOTIONS] for s, frames in ious.items()}
    pooled = [v for values in kept.values() for v in values]
    out = _group([iou for iou, _ in pooled])
    out["by_motion"] = {
        name: _group([iou for iou, m in pooled if m == key]) for key, name in MOTIONS.items()
    }
    out["sequences"] = {s: _group([iou for iou, _ in values]) for s, values in kept.items()}
    return out


def _group(ious: list[float]) -> dict:
    rates = success_rates(ious)
    mean_iou = float(np.mean(ious)) if ious else float("nan")
    sr = float(np.mean(list(rates.values())))
    return {"SR": sr, "success": rates, "mean_iou": mean_iou, "n_frames": len(ious)}


def evaluate_moca(
    annotations: dict[str, dict[str, BoxAnnotation]],
    pred_root: str | os.PathLike,
    image_root: str | os.PathLike | None = None,
) -> dict:
    """Score PRED/<seq>/<frame>.png against the annotated boxes -> `summarise_moca`'s dict.

    image_root: ROOT/JPEGImages-like folder of `<seq>/<frame>.jpg` whose sizes the boxes are
    in; None when the masks already have the JPEGs' size. A missing mask or JPEG is an error.
    """
    ious: dict[str, dict[str, tuple[float, str | None]]] = {}
    for seq in sorted(annotations):
        for frame, ann in sorted(annotations[seq].items()):
            path = Path(pred_root) / seq / f"{frame}.png"
            if not path.is_file():
                raise MaskFormatError(f"{path}: missing (annotated frame of MoCA sequence {seq})")
            hw = None if image_root is None else _jpeg_hw(Path(image_root) / seq / f"{frame}.jpg")
            iou = mask_box_iou(read_grey_mask(path), ann.box, hw)
            ious.setdefault(seq, {})[frame] = (iou, ann.motion)
    return summarise_moca(ious)


def _jpeg_hw(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except (OSError, UnidentifiedImageError) as err:
        raise MaskFormatError(f"{path}: cannot read the frame's size ({err})") from None
