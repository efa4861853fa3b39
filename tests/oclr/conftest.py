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


@pytest.fixture(scope="session")
def reorder_shards(tmp_path_factory) -> Path:
    """A read-only set of 3 tiny sequences (2 or 3 objects, 8 frames, 32 x 48) in each of which
    two objects swap depth at a crossing (issue 16); no occluders, so the modal labels are the
    amodal masks composed by each frame's order."""
    from layersynth.pipeline.generation import generate, make_settings

    out = tmp_path_factory.mktemp("reorder") / "syn-val-reorder"
    settings = make_settings(preset="tiny", seed=5, frames=8, height=32, width=48, objects=(2, 3),
                             order_change_prob=1.0, order_change_crossing=True,
                             occluder_prob=0.0, full_occlusion_prob=0.0)
    generate(settings, n=3, out=out, workers=1, scheduler=None)
    return out
