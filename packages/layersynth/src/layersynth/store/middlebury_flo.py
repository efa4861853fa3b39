"""Middlebury .flo files: the flow format of the released OCLR data (REFERENCE.md section 7).

Layout (little-endian): float32 magic 202021.25 (the bytes "PIEH"), int32 width, int32 height,
then height x width x 2 float32 values (u, v) row by row: u along the width (x, right), v along
the height (y, down), in pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAGIC = np.float32(202021.25)


def write_flo(path, flow: np.ndarray) -> None:
    """Write flow (H, W, 2) float32 pixels, last axis (u, v)."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2), got {flow.shape}")
    h, w = flow.shape[:2]
    data = (MAGIC.astype("<f4").tobytes() + np.array([w, h], dtype="<i4").tobytes()
            + np.ascontiguousarray(flow, dtype="<f4").tobytes())
    try:
        with open(path, "wb") as fh:
            fh.write(data)
    except OSError as err:  # a failed write (a full disk) names no file by itself
        raise OSError(err.errno, err.strerror, str(path)) from err


def read_flo(path) -> np.ndarray:
    """Read a .flo file into (H, W, 2) float32; ValueError naming the file if it is not one."""
    data = Path(path).read_bytes()
    if len(data) < 12 or np.frombuffer(data[:4], "<f4")[0] != MAGIC:
        raise ValueError(f"{path}: not a Middlebury .flo file (bad magic number)")
    w, h = (int(x) for x in np.frombuffer(data[4:12], "<i4"))
    if w <= 0 or h <= 0 or len(data) != 12 + 8 * w * h:
        raise ValueError(f"{path}: size does not match its header ({w} x {h})")
    return np.frombuffer(data[12:], "<f4").reshape(h, w, 2).astype(np.float32)
