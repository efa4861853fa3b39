"""The estimators package: `build_estimator` by method name, and an import that stays light."""

import subprocess
import sys

import pytest
from layersynth.errors import UsageError
from layersynth.estimators import METHODS, build_estimator
from layersynth.estimators.dis import DisConfig, DisEstimator


def test_dis_is_built_with_its_default_preset():
    est = build_estimator("dis")
    assert isinstance(est, DisEstimator) and est.cfg == DisConfig() and est.name == "dis"
    assert METHODS == ("dis", "raft")


def test_unknown_method_or_dis_preset_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown flow method 'farneback'"):
        build_estimator("farneback")
    with pytest.raises(UsageError, match="preset"):
        DisConfig("slow")


def test_importing_the_estimators_loads_no_torch_ptlflow_or_opencv():
    code = (
        "import sys, layersynth.estimators, layersynth.estimators.raft, layersynth.estimators.dis;"
        "print(sorted(m for m in ('torch', 'ptlflow', 'cv2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
