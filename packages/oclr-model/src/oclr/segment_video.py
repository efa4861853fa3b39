"""Masks for a real video of any length, written to a folder (what `oclr-infer` runs).

    OUT/masks/<frame>.png       modal labels, DAVIS palette PNG: 0 background, id k + 1 = object k
    OUT/amodal/<k>_<frame>.png  amodal mask of object k (k from 0), binary 0/255 PNG
    OUT/overlay.mp4             the frames with the modal labels blended in (.gif without encoder)

Flow (DIS by default, RAFT from local weights) is estimated once and cached (`oclr.flowcache`);
the network runs in overlapping windows of its T frames and object identities are linked across
windows without ground truth (`oclr.infer`, protocol "linked").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from layersynth.errors import InputError

from oclr.flowcache import flow_input_for
from oclr.infer import InferConfig, VideoPrediction, infer_flow, save_prediction
from oclr.outputs import os_problem, staged_folder
from oclr.readout import check_reading, order_source, spare_reading
from oclr.realvideo import (
    FlowSettings,
    Progress,
    check_windows,
    load_model_or_input_error,
    read_as_asked,
)
from oclr.realvideo import stage as stage_progress
from oclr.video_io import FrameSource, open_source, open_writer


@dataclass(frozen=True)
class SegmentConfig:
    """One video to segment: exactly one of `frames` (a folder of images, name order) or `video`
    (a file); `out` the output folder. `device` runs the model (and RAFT); `overlap` frames are
    shared by consecutive windows (None: a third of a window), `batch` windows go through one
    forward pass; the overlay plays at `fps` (None: the video's, or 24), not written when
    `overlay` is False. `order_readout` reads the depth order another way than the
    checkpoint's config says, `spares` does what it says with the layers an objectness head
    calls spare (`oclr.readout`; None keeps the checkpoint's)."""

    checkpoint: str
    out: str
    frames: str | None = None
    video: str | None = None
    flow: FlowSettings = field(default_factory=FlowSettings)
    device: str = "cpu"
    overlap: int | None = None
    batch: int = 1
    fps: float | None = None
    overlay: bool = True
    order_readout: str | None = None
    spares: str | None = None

    def __post_init__(self) -> None:
        if (self.frames is None) == (self.video is None):
            raise ValueError("give exactly one of a frame folder or a video file")
        check_reading(self.order_readout, self.spares)


def segment_video(cfg: SegmentConfig, *, progress: Progress | None = None) -> dict:
    """Flow, inference and the output folder as `cfg` says; returns the run's summary (the JSON
    object `oclr-infer` prints). A bad checkpoint or option -> InputError; a frame folder or
    video that cannot be read -> `oclr.video_io.MediaError` naming it. The outputs are written
    into a hidden folder beside `cfg.out` and moved into it at the end (`oclr.outputs`), so a
    run that fails leaves `cfg.out` as it was."""
    source = open_source(cfg.frames, cfg.video)
    model = read_as_asked(load_model_or_input_error(cfg.checkpoint, cfg.device), cfg)
    check_windows(model, cfg.batch, cfg.overlap)
    infer_cfg = InferConfig(overlap=cfg.overlap, batch=cfg.batch, device=cfg.device)
    with staged_folder(cfg.out) as stage:
        clock = {"start": time.perf_counter()}
        flow = flow_input_for(source, cfg.flow.spec(model.cfg, cfg.device), cfg.flow.cache_dir())
        clock["flow"] = time.perf_counter()
        pred = infer_flow(model, flow, infer_cfg, progress=stage_progress(progress, "windows"))
        clock["model"] = time.perf_counter()
        try:
            overlay = write_outputs(cfg, source, pred, progress, folder=stage)
        except OSError as err:
            raise InputError(f"{cfg.out}: cannot write the outputs: {os_problem(err)}; "
                             f"{cfg.out} is left as it was") from None
        clock["write"] = time.perf_counter()
    overlay = None if overlay is None else Path(cfg.out) / overlay.name
    return segmentation_summary(cfg, source, pred, overlay, clock,
                                order_head=order_source(model.cfg),
                                spares=spare_reading(model.cfg))


def write_outputs(cfg: SegmentConfig, source: FrameSource, pred: VideoPrediction,
                  progress: Progress | None = None, *, folder: Path | None = None
                  ) -> Path | None:
    """The masks, amodal masks and overlay under `folder` (default `cfg.out`); returns the
    overlay's path."""
    out = Path(cfg.out if folder is None else folder)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    (out / "amodal").mkdir(exist_ok=True)
    writer = open_writer(out / "overlay.mp4", cfg.fps or source.fps) if cfg.overlay else None
    try:
        save_prediction(source, pred, out / "masks", out / "amodal", writer,
                        progress=stage_progress(progress, "frames"))
    finally:
        if writer is not None:
            writer.close()
    return None if writer is None else writer.path


def segmentation_summary(cfg: SegmentConfig, source: FrameSource, pred: VideoPrediction,
                         overlay: Path | None, clock: dict, *, order_head: str,
                         spares: str | None = None) -> dict:
    """The JSON summary: frames, windows, per-stage seconds (from `clock`'s perf_counter
    stamps), frames in which each object id is visible, where the outputs went, and the depth
    order of every frame (`frame_ranks`) the modal masks were composed by, and the model's
    `order_head` that gave it (its order readout when it has one, `oclr.readout`), and what was
    done with the layers an objectness head called spare (`spares`, None without one)."""
    seconds = {
        "flow": clock["flow"] - clock["start"],
        "model": clock["model"] - clock["flow"],
        "write": clock["write"] - clock["model"],
    }
    total = clock["write"] - clock["start"]
    modal = pred.modal()
    visible = {str(k + 1): int((modal == k + 1).any(axis=(1, 2)).sum())
               for k in range(len(pred.probs))}
    return {
        "frames": len(source), "size": [source.height, source.width], "windows": len(pred.windows),
        "protocol": "linked", "flow": cfg.flow.method, "flow_width": cfg.flow.flow_width,
        "out": str(cfg.out),
        "overlay": None if overlay is None else str(overlay),
        "frames_with_object": visible, "order_head": order_head, "spares": spares,
        "order": frame_ranks(pred.order),
        "seconds": seconds, "total_seconds": total,
        "fps": len(source) / total if total > 0 else None,
    }  # fmt: skip


def frame_ranks(order: np.ndarray) -> list[list[int]]:
    """Per frame, the depth rank of each object id 1..K (0 = front-most), from order scores
    (T, K) (lower = nearer; ties go to the lower id, as in `oclr.modal.compose_modal`). A model
    with a per-frame order head (ModelConfig.order_head "frame") gives each frame its own; a
    global one, its window's."""
    front_to_back = np.argsort(order, axis=1, kind="stable")  # (T, K) ids nearest first
    return np.argsort(front_to_back, axis=1, kind="stable").tolist()


def order_line(order: list[list[int]], head: str) -> str:
    """The readable line about the depth order: frame 0's ids front to back, and how many
    frames change it (`order` as `frame_ranks` gives it)."""
    front = sorted(range(len(order[0])), key=lambda k: order[0][k]) if order else []
    changes = sum(a != b for a, b in zip(order, order[1:], strict=False))
    return (f"order    {head} head: ids front to back {', '.join(str(k + 1) for k in front)} at "
            f"the first frame; the order changes at {changes} frame(s)")


def format_summary(s: dict) -> str:
    """The readable lines `oclr-infer` prints before the JSON summary."""
    lines = [
        f"frames   {s['frames']} ({s['size'][1]}x{s['size'][0]}), {s['windows']} windows, "
        f"identities linked across windows without ground truth",
        f"time     flow {s['seconds']['flow']:.2f} s, model {s['seconds']['model']:.2f} s, "
        f"write {s['seconds']['write']:.2f} s: {s['fps']:.2f} frames/s",
        "objects  " + ", ".join(f"id {k}: {n} frames" for k, n in s["frames_with_object"].items()),
        order_line(s["order"], s["order_head"]),
        f"masks    {Path(s['out']) / 'masks'}/<frame>.png, amodal {Path(s['out']) / 'amodal'}",
    ]
    if s["overlay"]:
        lines.append(f"overlay  {s['overlay']}")
    return "\n".join(lines)
