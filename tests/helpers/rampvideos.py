"""An in-memory VideoSource for renderer tests: one clip whose frame k (counted from the window's
start) is flat grey level 10 k, so a rendered background shows which video frame it took."""

import numpy as np


class RampVideos:
    """`starts` window starts to draw from; `expect_count`, when given, is checked against the
    frame count the sampler asks for (a frame per nominal frame, whatever the time step)."""

    def __init__(self, starts: int = 5, expect_count: int | None = None):
        self.starts, self.expect_count = starts, expect_count

    def __len__(self):
        return 1

    def sample(self, rng, count, out_hw):
        assert self.expect_count is None or count == self.expect_count
        return RampWindow(int(rng.integers(0, self.starts)))

    def frames(self, window, count, out_hw):
        levels = 10.0 * (window.start + np.arange(count))
        return np.broadcast_to(levels[:, None, None, None], (count, *out_hw, 3)).astype(np.uint8)

    def window_from_dict(self, d):
        return RampWindow(d["start"])

    def describe(self):
        return {"kind": "ramp"}


class RampWindow:
    def __init__(self, start):
        self.start = start

    def to_dict(self):
        return {"start": self.start}
