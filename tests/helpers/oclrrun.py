"""Running oclr's command lines (`oclr-train`, `oclr-eval`, `oclr-infer`) in tests.

`script` runs the installed console script in a subprocess (what a shell runs); `invoke` goes
through click's CliRunner on the command object (in process: help and click's own option
errors). On the test path through pytest's `pythonpath` setting: `from oclrrun import script`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
from click.testing import CliRunner

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Ran:
    """What one run of a command line left: exit status, stdout, stderr."""

    code: int
    out: str
    err: str

    def error_line(self, prog: str) -> str:
        """The one stderr line of a refused run: exit 2, `PROG: error: ...`, no traceback."""
        lines = self.err.strip().splitlines()
        assert self.code == 2 and len(lines) == 1, (self.code, self.err)
        assert "Traceback" not in self.err and lines[0].startswith(f"{prog}: error: ")
        return lines[0]

    def last_json(self) -> dict:
        return json.loads(self.out.strip().splitlines()[-1])


def script(prog: str, *argv, cwd: Path | None = None, timeout: float = 300) -> Ran:
    """`PROG ARGV...` through the installed console script, in a subprocess."""
    proc = subprocess.run([str(BIN / prog), *map(str, argv)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def invoke(command: click.Command, *argv) -> Ran:
    """The click command on ARGV through CliRunner (click's standalone reporting)."""
    result = CliRunner().invoke(command, [str(a) for a in argv])
    return Ran(result.exit_code, result.stdout, result.stderr)


def imports_torch(module: str, *argv) -> bool:
    """Whether `module.main(argv)` (e.g. `--help`) loads torch, in a fresh interpreter."""
    code = (f"import sys\nfrom {module} import main\ntry:\n    main({list(argv)!r})\n"
            "except SystemExit:\n    pass\nprint('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    return proc.stdout.strip().splitlines()[-1] == "True"
