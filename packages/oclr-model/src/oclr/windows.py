"""Window planning: how a video of any length is cut into clips of the model's T frames.

Two plans, both returning `Window`s whose `indices` always hold exactly `size` source frames:

- `reference_windows`: the evaluation protocol of the paper's code (REFERENCE.md section 5):
  non-overlapping windows, the last one aligned to the end of the video; a video shorter than a
  window is padded by repeating its last frame.
- `overlapping_windows`: what `oclr-infer` uses: consecutive windows share `overlap` frames (more
  for the last, end-aligned one), so object identities can be linked on the shared frames.

Every frame is *owned* by exactly one window, the one whose prediction is kept for it. With
overlap, ownership switches in the middle of each shared stretch, so a kept frame is never at the
very edge of its window (the model sees the least temporal context there). In the reference plan
the end-aligned window owns only the frames that no earlier window covers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """A clip of `size` frames starting at source frame `start`; owns frames [own_start, own_stop).

    Slots past the end of a video shorter than `size` repeat its last frame (padding).
    """

    start: int
    size: int
    n_frames: int
    own_start: int
    own_stop: int

    @property
    def indices(self) -> np.ndarray:
        """(size,) int64 source frame of each slot (padding repeats the last frame)."""
        return np.minimum(np.arange(self.start, self.start + self.size), self.n_frames - 1)

    @property
    def stop(self) -> int:
        """One past the last real source frame the window covers."""
        return min(self.start + self.size, self.n_frames)

    @property
    def owned_slots(self) -> slice:
        """The slots of the window whose predictions are kept (frames own_start .. own_stop - 1)."""
        return slice(self.own_start - self.start, self.own_stop - self.start)


def _check(n_frames: int, size: int) -> None:
    if n_frames < 1:
        raise ValueError(f"a video needs at least one frame, got {n_frames}")
    if size < 1:
        raise ValueError(f"window size must be >= 1, got {size}")


def window_starts(n_frames: int, size: int, stride: int | None = None) -> list[int]:
    """Starts every `stride` frames (default `size`: non-overlapping), then one window aligned to
    the end if frames are left; [0] when the video is not longer than one window."""
    stride = size if stride is None else stride
    if n_frames <= size:
        return [0]
    starts = list(range(0, n_frames - size + 1, stride))
    if starts[-1] + size < n_frames:
        starts.append(n_frames - size)
    return starts


def reference_windows(n_frames: int, size: int = 30) -> list[Window]:
    """Non-overlapping windows of `size` frames, the last aligned to the end (reference plan)."""
    _check(n_frames, size)
    starts = window_starts(n_frames, size)
    windows = []
    for i, start in enumerate(starts):
        own_start = start if i == 0 else max(start, starts[i - 1] + size)
        own_stop = min(start + size, n_frames)
        windows.append(Window(start, size, n_frames, own_start, own_stop))
    return windows


def overlapping_windows(n_frames: int, size: int = 30, overlap: int = 10) -> list[Window]:
    """Windows of `size` frames sharing >= `overlap` frames; ownership switches mid-overlap."""
    _check(n_frames, size)
    if not 0 <= overlap < size:
        raise ValueError(f"overlap must be in [0, {size}), got {overlap}")
    starts = window_starts(n_frames, size, size - overlap)
    # Frame `cut` goes to the later window: the middle of the stretch both windows cover.
    cuts = [(starts[i + 1] + starts[i] + size) // 2 for i in range(len(starts) - 1)]
    bounds = [0, *cuts, n_frames]
    return [Window(s, size, n_frames, bounds[i], bounds[i + 1]) for i, s in enumerate(starts)]


def shared_frames(a: Window, b: Window) -> np.ndarray:
    """Source frames covered by both windows (real frames only, padding excluded), ascending."""
    lo, hi = max(a.start, b.start), min(a.stop, b.stop)
    return np.arange(lo, max(lo, hi))


def slots_of(window: Window, frames: np.ndarray) -> np.ndarray:
    """Slot index inside `window` of each source frame in `frames` (which it must cover)."""
    slots = np.asarray(frames) - window.start
    if slots.size and (slots.min() < 0 or slots.max() >= window.stop - window.start):
        raise ValueError(f"frames {frames} are not all inside window starting at {window.start}")
    return slots
