"""The realism statistics of `layersynth inspect --stats`, computed from the stored arrays.

Each figure is defined exactly in docs/generate.md ("Realism statistics"). In short, per
object-frame (object k at kept frame t): its amodal area share of the frame; the mean |flow| over
its visible pixels (modal == k + 1) and the mean |flow - background prediction| there (relative
motion), where the prediction is the one homography fitted to that frame's background flow
(`background_fit`); whether it is near-static (relative motion < 0.3 px), fully occluded (amodal
non-empty, no visible pixel), touching the frame border or out of frame (amodal empty); its mask
solidity (amodal area / area of the convex hull of its pixel squares). Per frame: the mean
background |flow|. Per sequence: the mean over frames of the background's |residual| after the
fit, above 0.3 px meaning parallax. Sprite kinds come from the stored scene parameters ("unknown"
where there are none). Flow is gap +1 (t -> t+1) of the best stored flow: flow_gt, else an
estimated one (raft before dis), named in the result.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import shapely

from layersynth.report import progress
from layersynth.viz.background_fit import fit_background
from layersynth.viz.stats import mean_and_quartiles

NEAR_STATIC_PX = 0.3  # mean relative motion below this: the object stands still on the background
PARALLAX_PX = 0.3  # mean background residual above this: one homography does not explain it
FLOW_PREFERENCE = ("gt", "raft", "dis")  # exact first, then the better estimator
UNKNOWN = "unknown"


@dataclass(frozen=True)
class SequenceFigures:
    """Figures of one sequence. (K, T) arrays per object-frame, (T,) per frame; NaN = undefined.

    area_share: amodal pixels / (H W); visible: modal pixels; object_flow, relative: mean |flow|
    and mean |flow - background prediction| over visible pixels (px); fully_occluded, border,
    out: bool; solidity: amodal area / convex-hull area; background_flow: mean |flow| over
    background pixels (px); residual: mean |residual| of the frame's homography fit (px)."""

    kinds: tuple[str, ...]
    area_share: np.ndarray
    visible: np.ndarray
    object_flow: np.ndarray
    relative: np.ndarray
    fully_occluded: np.ndarray
    border: np.ndarray
    out: np.ndarray
    solidity: np.ndarray
    background_flow: np.ndarray
    residual: np.ndarray

    @property
    def background_residual(self) -> float | None:
        """Mean over fitted frames of the frame residual (px); None with no fitted frame."""
        fitted = self.residual[np.isfinite(self.residual)]
        return float(fitted.mean()) if len(fitted) else None


def label_means(values: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """(T, n) mean of `values` (T, H, W) over the pixels of each label 0..n-1 per frame; NaN
    for a label absent from a frame."""
    t = values.shape[0]
    index = (labels.reshape(t, -1) + n * np.arange(t)[:, None]).ravel()
    sums = np.bincount(index, weights=values.reshape(-1), minlength=t * n)
    counts = np.bincount(index, minlength=t * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (sums / counts).reshape(t, n)


def solidity(mask: np.ndarray) -> float:
    """Area / convex-hull area of a non-empty (H, W) mask, each pixel a unit square: the hull of
    the squares is the hull of the outer corners of each row's first and last pixel."""
    rows = np.flatnonzero(mask.any(axis=1))
    inside = mask[rows]
    first = inside.argmax(axis=1)
    last = inside.shape[1] - inside[:, ::-1].argmax(axis=1)  # one past the last pixel
    corners = np.concatenate([np.stack([x, y], -1) for x in (first, last)
                              for y in (rows, rows + 1)])
    return float(mask.sum() / shapely.MultiPoint(corners).convex_hull.area)


def object_masks(amodal: np.ndarray, modal: np.ndarray) -> dict[str, np.ndarray]:
    """The (K, T) figures of amodal (K, T, H, W) bool and modal (T, H, W) labels alone."""
    k = amodal.shape[0]
    area = amodal.sum(axis=(2, 3))
    visible = np.stack([(modal == i + 1).sum(axis=(1, 2)) for i in range(k)]).reshape(area.shape)
    edges = (amodal[:, :, 0, :].any(-1) | amodal[:, :, -1, :].any(-1)
             | amodal[:, :, :, 0].any(-1) | amodal[:, :, :, -1].any(-1))
    solid = np.full(area.shape, np.nan)
    for i, j in zip(*np.nonzero(area), strict=True):
        solid[i, j] = solidity(amodal[i, j])
    return {"area_share": area / (amodal.shape[2] * amodal.shape[3]), "visible": visible,
            "fully_occluded": (area > 0) & (visible == 0), "border": edges, "out": area == 0,
            "solidity": solid}


def flow_figures(flow: np.ndarray | None, modal: np.ndarray, occluder: np.ndarray,
                 k: int) -> dict[str, np.ndarray]:
    """object_flow, relative (K, T) and background_flow, residual (T,) from flow (T, G, H, W, 2)
    (gap index 0 used; None: all NaN), modal (T, H, W) and occluder (T, H, W)."""
    t = modal.shape[0]
    if flow is None:
        nan = np.full((k, t), np.nan)
        return {"object_flow": nan, "relative": nan, "background_flow": np.full(t, np.nan),
                "residual": np.full(t, np.nan)}
    forward = np.ascontiguousarray(flow[:, 0], dtype=np.float32)  # (T, H, W, 2)
    labels = modal.astype(np.int64)
    labels[occluder & (modal == 0)] = k + 1  # occluders: neither background nor object
    fit = fit_background(forward, labels == 0)
    speed = label_means(np.hypot(forward[..., 0], forward[..., 1]), labels, k + 2)
    relative = label_means(fit.error, labels, k + 2)
    return {"object_flow": speed[:, 1:k + 1].T, "relative": relative[:, 1:k + 1].T,
            "background_flow": speed[:, 0], "residual": fit.residual}


def sequence_figures(arrays: dict, flow_name: str | None, kinds: tuple[str, ...]
                     ) -> SequenceFigures:
    """Figures of one sequence's arrays (amodal, modal, occluder and `flow_name` if not None),
    its K sprite kinds given (front-most first, as the amodal channels)."""
    amodal, modal = arrays["amodal"], arrays["modal"]
    flow = arrays[flow_name] if flow_name else None
    return SequenceFigures(kinds=kinds, **object_masks(amodal, modal),
                           **flow_figures(flow, modal, arrays["occluder"], len(amodal)))


def sprite_kinds(record: dict, k: int) -> tuple[str, ...]:
    """The sprite kind of each of k objects from a sequence record's scene parameters
    (`scene.objects[i].sprite.kind`, any string kept as it is), "unknown" where absent."""
    scene = record.get("scene") if isinstance(record, dict) else None
    objects = scene.get("objects") if isinstance(scene, dict) else None
    objects = objects if isinstance(objects, list | tuple) else []
    kinds = [_kind(o) for o in objects[:k]]
    return tuple(kinds + [UNKNOWN] * (k - len(kinds)))


def _kind(obj) -> str:
    sprite = obj.get("sprite") if isinstance(obj, dict) else None
    kind = sprite.get("kind") if isinstance(sprite, dict) else None
    return kind if isinstance(kind, str) and kind else UNKNOWN


def best_flow(methods: list[str]) -> str | None:
    """The flow method the statistics use among those stored: gt, raft, dis, then any other."""
    ranked = sorted(methods, key=lambda m: (FLOW_PREFERENCE.index(m) if m in FLOW_PREFERENCE
                                            else len(FLOW_PREFERENCE), m))
    return ranked[0] if ranked else None


def realism_stats(ds) -> dict:
    """The realism statistics of an open Dataset (every sequence's masks and best flow read
    through the shard reader), with each sequence's residual and kinds under `per_sequence`."""
    method = best_flow(ds.flow_methods)
    flow_name = f"flow_{method}" if method else None
    names = ["amodal", "modal", "occluder", *([flow_name] if flow_name else [])]
    figures, per_sequence = [], {}
    for seq_id in progress(ds.ids, total=len(ds.ids), desc="realism statistics"):
        arrays = ds.read(seq_id, names)
        kinds = sprite_kinds(ds.record(seq_id), len(arrays["amodal"]))
        seq = sequence_figures(arrays, flow_name, kinds)
        figures.append(seq)
        per_sequence[seq_id] = {"background_residual_px": seq.background_residual,
                                "sprite_kinds": list(kinds)}
    return summarise(figures, method) | {"per_sequence": per_sequence}


def summarise(figures: list[SequenceFigures], method: str | None) -> dict:
    """Medians and shares over the object-frames of `figures`, overall and by sprite kind, the
    background flow over frames and the background residual over sequences."""
    flat = _flatten(figures)
    kinds = Counter(kind for seq in figures for kind in seq.kinds)
    objects = sum(kinds.values())
    residuals = [r for seq in figures if (r := seq.background_residual) is not None]
    background = np.concatenate([seq.background_flow for seq in figures]) if figures else []
    return {
        "flow": method, "flow_exact": method == "gt", "sequences": len(figures),
        "objects": objects, "object_frames": len(flat["kind"]),
        "thresholds_px": {"near_static": NEAR_STATIC_PX, "parallax": PARALLAX_PX},
        "sprite_kinds": {kind: {"objects": n, "share": n / objects}
                         for kind, n in sorted(kinds.items())},
        "overall": group_figures(flat, np.ones(len(flat["kind"]), bool)),
        "by_kind": {kind: group_figures(flat, flat["kind"] == kind) for kind in sorted(kinds)},
        "background_flow_px": {"median": _median(background), "mean": _mean(background)},
        "background_residual_px": mean_and_quartiles(residuals) | {
            "sequences": len(residuals),
            "parallax_share": _share(np.asarray(residuals) > PARALLAX_PX)},
    }


def group_figures(flat: dict[str, np.ndarray], select: np.ndarray) -> dict:
    """The figures of the object-frames `select` (bool over the flat object-frames)."""
    relative = flat["relative"][select]
    measured = relative[np.isfinite(relative)]
    return {
        "object_frames": int(select.sum()),
        "area_share_median": _median(flat["area_share"][select & ~flat["out"]]),
        "object_flow_px_median": _median(flat["object_flow"][select]),
        "relative_motion_px_median": _median(measured),
        "measured_object_frames": len(measured),
        "near_static_share": _share(measured < NEAR_STATIC_PX),
        "fully_occluded_share": _share(flat["fully_occluded"][select]),
        "touching_border_share": _share(flat["border"][select]),
        "out_of_frame_share": _share(flat["out"][select]),
        "border_or_out_share": _share((flat["border"] | flat["out"])[select]),
        "solidity_median": _median(flat["solidity"][select]),
    }


def _flatten(figures: list[SequenceFigures]) -> dict[str, np.ndarray]:
    """Per-object-frame arrays of all sequences, one value per (sequence, k, t), plus `kind`."""
    names = ("area_share", "object_flow", "relative", "fully_occluded", "border", "out",
             "solidity")
    flat = {n: np.concatenate([getattr(s, n).reshape(-1) for s in figures] or [np.zeros(0)])
            for n in names}
    for n in ("fully_occluded", "border", "out"):
        flat[n] = flat[n].astype(bool)
    flat["kind"] = np.asarray([kind for s in figures for kind in s.kinds
                               for _ in range(s.area_share.shape[1])], dtype=object)
    return flat


def _median(values) -> float | None:
    finite = np.asarray(values, np.float64)
    finite = finite[np.isfinite(finite)]
    return float(np.median(finite)) if len(finite) else None


def _mean(values) -> float | None:
    finite = np.asarray(values, np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if len(finite) else None


def _share(flags: np.ndarray) -> float | None:
    return float(np.mean(flags)) if len(flags) else None
