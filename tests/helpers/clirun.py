"""Running the `layersynth` command line in tests, the two ways users reach it.

`invoke` goes through click's CliRunner on the `layersynth` group (in process, fast); `script`
runs the installed console script in a subprocess (what a shell runs). On the test path through
pytest's `pythonpath` setting (pyproject.toml): `from clirun import invoke`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner
from layersynth.cli.main import group
from layersynth.pipeline.generation import generate, make_settings

SCRIPT = Path(sys.executable).parent / "layersynth"
# Options of a tiny, fast dataset: 4 frames of 32 x 48, two sequences per shard, one process.
SMALL = ["--preset", "tiny", "--seed", "3", "--shard-size", "2", "--frames", "4",
         "--size", "32x48", "--workers", "1"]


@dataclass(frozen=True)
class Ran:
    """What one run of the command line left: exit status, stdout, stderr."""

    code: int
    out: str
    err: str

    def error_line(self) -> str:
        """The one stderr line of a refused run (exit 2, no traceback)."""
        lines = self.err.strip().splitlines()
        assert self.code == 2 and len(lines) == 1, (self.code, self.err)
        assert "Traceback" not in self.err and lines[0].startswith("layersynth: error: ")
        return lines[0]

    def last_json(self) -> dict:
        return json.loads(self.out.strip().splitlines()[-1])


def invoke(*argv: str) -> Ran:
    """`layersynth ARGV...` through click's CliRunner on the group."""
    result = CliRunner().invoke(group, [str(a) for a in argv])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def script(*argv: str, timeout: float = 120) -> Ran:
    """`layersynth ARGV...` through the installed console script, in a subprocess."""
    proc = subprocess.run([str(SCRIPT), *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout)
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def tiny_dataset(root: Path, n: int = 3) -> Path:
    """n tiny sequences (the SMALL options) in `root`, made by the library, not the CLI."""
    settings = make_settings(preset="tiny", seed=3, shard_size=2, frames=4, height=32, width=48)
    generate(settings, n=n, out=root, workers=1, scheduler=None)
    return root
