"""The Sequence record: shapes and dtypes of every array, checked when it is built."""

import dataclasses

import numpy as np
import pytest
from layersynth.render.sequence import ARRAY_SPECS, Sequence, check_arrays

K, T, H, W = 2, 3, 4, 5


def arrays(k=K):
    return {
        "rgb": np.zeros((T, H, W, 3), np.uint8),
        "amodal": np.zeros((k, T, H, W), bool),
        "modal": np.zeros((T, H, W), np.uint8),
        "occluder": np.zeros((T, H, W), bool),
        "flow_gt": np.zeros((T, 2, H, W, 2), np.float32),
        "order": np.tile(np.arange(k, dtype=np.int16), (T, 1)),
    }


def test_a_sequence_of_conforming_arrays_has_shape_k_t_h_w_and_lists_every_array():
    s = Sequence(**arrays())
    assert s.shape == (K, T, H, W)
    assert list(s.arrays()) == list(ARRAY_SPECS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.rgb = None


def test_a_scene_without_objects_is_a_sequence_with_k_zero():
    assert Sequence(**arrays(k=0)).shape == (0, T, H, W)


@pytest.mark.parametrize("name", list(ARRAY_SPECS))
def test_an_array_of_the_wrong_dtype_is_refused_by_name(name):
    bad = arrays()
    bad[name] = bad[name].astype(np.float64 if bad[name].dtype != np.float64 else np.float32)
    with pytest.raises(ValueError, match=f"^{name}: expected"):
        Sequence(**bad)


@pytest.mark.parametrize("name", [n for n in ARRAY_SPECS if n != "amodal"])
def test_an_array_of_the_wrong_shape_is_refused_with_its_axes(name):
    bad = arrays()
    bad[name] = np.zeros((1, *bad[name].shape), bad[name].dtype)
    with pytest.raises(ValueError, match=rf"^{name}: expected .*\({ARRAY_SPECS[name][0]}\)"):
        check_arrays(bad)
