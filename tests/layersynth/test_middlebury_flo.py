import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth.store.middlebury_flo import read_flo, write_flo


@settings(max_examples=20, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 2**32 - 1))
def test_flo_files_round_trip_exactly(tmp_path_factory, h, w, seed):
    flow = np.random.default_rng(seed).normal(0, 20, (h, w, 2)).astype(np.float32)
    path = tmp_path_factory.mktemp("flo") / "a.flo"
    write_flo(path, flow)
    np.testing.assert_array_equal(read_flo(path), flow)


def test_flo_header_is_the_middlebury_magic_then_width_then_height(tmp_path):
    flow = np.zeros((3, 5, 2), np.float32)
    flow[1, 4] = (1.5, -2.0)
    write_flo(tmp_path / "a.flo", flow)
    data = (tmp_path / "a.flo").read_bytes()
    assert data[:4] == b"PIEH" and np.frombuffer(data[:4], "<f4")[0] == 202021.25
    assert tuple(np.frombuffer(data[4:12], "<i4")) == (5, 3)
    values = np.frombuffer(data[12:], "<f4").reshape(3, 5, 2)
    assert tuple(values[1, 4]) == (1.5, -2.0)


def test_a_file_that_is_not_flo_is_refused_with_its_name(tmp_path):
    (tmp_path / "bad.flo").write_bytes(b"not a flow file at all")
    with pytest.raises(ValueError, match="bad.flo"):
        read_flo(tmp_path / "bad.flo")
    write_flo(tmp_path / "cut.flo", np.ones((4, 4, 2), np.float32))
    (tmp_path / "cut.flo").write_bytes((tmp_path / "cut.flo").read_bytes()[:-4])
    with pytest.raises(ValueError, match="cut.flo: size"):
        read_flo(tmp_path / "cut.flo")
