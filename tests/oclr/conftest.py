"""Fixtures shared by the oclr tests: small generated datasets, made once per test process."""

import subprocess
import sys
from pathlib import Path

import pytest


def generate_small(out: Path, n: int) -> Path:
    """`layersynth generate` of n tiny sequences (4 frames, 32 x 48) into `out`, as users run it."""
    layersynth = Path(sys.executable).parent / "layersynth"
    subprocess.run([str(layersynth), "generate", "--preset", "tiny", "--n", str(n), "--size",
                    "32x48", "--frames", "4", "--workers", "1", "--out", str(out)],
                   check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def shards(tmp_path_factory) -> Path:
    """A read-only training set of 6 tiny sequences."""
    return generate_small(tmp_path_factory.mktemp("shards") / "train", 6)


@pytest.fixture(scope="session")
def val_shards(tmp_path_factory) -> Path:
    """A read-only validation set of 4 tiny sequences."""
    return generate_small(tmp_path_factory.mktemp("val") / "syn-val", 4)
