"""The log of a training run: RUN/metrics.jsonl, TensorBoard scalars, and the progress bar."""

from __future__ import annotations

import json
import time
from pathlib import Path

from layersynth.report import progress, warn

try:  # tensorboard is an optional extra: without it the run logs to metrics.jsonl only
    from torch.utils.tensorboard import SummaryWriter
except ImportError:
    SummaryWriter = None


def _entry(line: str) -> dict | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


class RunLog:
    """RUN/metrics.jsonl (one JSON object a line: "step", "time" and values) and TensorBoard
    scalars when `tensorboard` is importable. Only rank 0's log is `enabled`; the others no-op.

    On (re)start, lines past `resume_step` (written after the checkpoint being resumed) are
    dropped, so the file describes one unbroken run."""

    def __init__(self, out: str, *, enabled: bool, resume_step: int):
        self.enabled, self.path, self.tb = enabled, Path(out) / "metrics.jsonl", None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._truncate(resume_step)
        if SummaryWriter is not None:
            self.tb = SummaryWriter(str(Path(out) / "tb"), purge_step=resume_step or None)

    def _truncate(self, step: int) -> None:
        if not self.path.exists():
            return
        lines = [line for line in self.path.read_text(errors="replace").splitlines()
                 if line.strip()]
        entries = [_entry(line) for line in lines]
        bad = sum(entry is None for entry in entries)
        if bad:  # e.g. a line cut short when a run was killed while appending it
            warn(f"{self.path}: {bad} unreadable line(s) dropped")
        keep = [line for line, entry in zip(lines, entries, strict=True)
                if entry is not None and entry.get("step", 0) <= step]
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(line + "\n" for line in keep))
        tmp.replace(self.path)

    def write(self, step: int, values: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": step, "time": time.time(), **values}) + "\n")
        if self.tb is not None:
            for name, value in values.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    self.tb.add_scalar(name, value, step)

    def progress(self, steps: range, *, start: int, total: int):
        """Iterate `steps`, with a bar (or progress lines) on stderr on rank 0."""
        if not self.enabled:
            return iter(steps)
        return progress(steps, total=len(steps), desc=f"train (from step {start} to {total})")

    def close(self) -> None:
        """Flush and close the TensorBoard writer (a second call does nothing)."""
        if self.tb is not None:
            self.tb.close()
