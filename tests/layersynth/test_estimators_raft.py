"""The RAFT wrapper: ptlflow's conventions proven with a stand-in model, then the real network
offline from a random-weight checkpoint saved in tmp_path."""

import socket
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from layersynth.errors import UsageError  # noqa: E402
from layersynth.estimators import build_estimator  # noqa: E402
from layersynth.estimators.raft import (  # noqa: E402
    THINGS_CHECKPOINT,
    RaftConfig,
    RaftEstimator,
    autocast_dtype,
    import_ptlflow,
    resolve_weights,
    upsample_factor,
)


class StandIn:
    """Follows ptlflow's call convention and returns a flow read off its input, so the wrapper's
    conversions can be checked: u = 255 (destination - source) in channel 0, v = 255 source in
    channel 0 (channel 0 is blue in BGR), both at the resolution the model is given."""

    def __init__(self):
        self.inputs = []

    def __call__(self, inputs):
        x = inputs["images"]  # (B, 2, 3, H, W)
        self.inputs.append(x.clone())
        src, dst = 255 * x[:, 0, 0], 255 * x[:, 1, 0]
        return {"flows": torch.stack([dst - src, src], dim=1)[:, None]}


class ConstantFlow:
    """Returns (u, v) = (8, 4) px everywhere at whatever size it is given; records the sizes."""

    def __init__(self):
        self.sizes = []

    def __call__(self, inputs):
        b, _, _, h, w = inputs["images"].shape
        self.sizes.append((h, w))
        flow = torch.tensor([8.0, 4.0]).view(1, 1, 2, 1, 1)
        return {"flows": flow.expand(b, 1, 2, h, w)}


def grey_clip(levels, h=128, w=136):
    """One frame per level: blue channel = level, red = 255 - level, green 0."""
    rgb = np.zeros((len(levels), h, w, 3), np.uint8)
    rgb[..., 2] = np.asarray(levels, np.uint8)[:, None, None]
    rgb[..., 0] = 255 - rgb[..., 2]
    return rgb


def test_frames_reach_the_model_as_bgr_in_unit_range_with_source_first():
    model = StandIn()
    clip = grey_clip([10, 50])
    RaftEstimator(model, RaftConfig(batch=8)).estimate(clip)
    x = model.inputs[0]
    assert x.shape == (2, 2, 3, 128, 136) and x.dtype == torch.float32
    assert float(x.max()) <= 1.0
    np.testing.assert_allclose(x[0, 0, :, 0, 0], [10 / 255, 0, 245 / 255], rtol=1e-6)  # B, G, R
    np.testing.assert_allclose(x[0, 1, 0, 0, 0], 50 / 255, rtol=1e-6)  # pair 0 is (t=0, t=1)
    np.testing.assert_allclose(x[1, 0, 0, 0, 0], 50 / 255, rtol=1e-6)  # pair 1 is (t=1, t=0)


def test_output_keeps_u_v_order_and_sign_and_gap_minus_one_is_the_reversed_pair():
    levels = [10, 50, 70]
    flow = RaftEstimator(StandIn(), RaftConfig()).estimate(grey_clip(levels))
    assert flow.shape == (3, 2, 128, 136, 2) and flow.dtype == np.float32
    uv = flow[:, :, 0, 0]  # (T, 2 gaps, (u, v)); the stand-in's flow is constant over pixels
    np.testing.assert_allclose(uv[:2, 0], [[40, 10], [20, 50]], atol=1e-3)  # t -> t+1
    np.testing.assert_allclose(uv[1:, 1], [[-40, 50], [-20, 70]], atol=1e-3)  # t -> t-1
    assert np.ptp(flow, axis=(2, 3)).max() < 1e-3


def test_pairs_are_sent_in_batches_of_the_configured_size_with_the_same_result():
    clip = grey_clip([0, 20, 40, 60, 80, 100], h=128, w=128)
    small, whole = StandIn(), StandIn()
    a = RaftEstimator(small, RaftConfig(batch=4)).estimate(clip)
    b = RaftEstimator(whole, RaftConfig(batch=64)).estimate(clip)
    assert [len(x) for x in small.inputs] == [4, 4, 2] and len(whole.inputs) == 1
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("h", "w", "k"), [(64, 96, 2), (40, 200, 4), (128, 224, 1), (127, 500, 2)])
def test_small_frames_are_upsampled_and_their_flow_scaled_back(h, w, k):
    model = ConstantFlow()
    flow = RaftEstimator(model, RaftConfig()).estimate(np.zeros((2, h, w, 3), np.uint8))
    assert upsample_factor(h, w, 128) == k
    assert model.sizes == [(k * h, k * w)] and min(model.sizes[0]) >= 128
    np.testing.assert_allclose(flow[0, 0], np.broadcast_to([8 / k, 4 / k], (h, w, 2)), rtol=1e-6)


def test_autocast_is_fp16_on_cuda_by_default_and_never_on_the_cpu():
    assert autocast_dtype("cuda", "auto") == "float16"
    assert autocast_dtype("cuda", "bf16") == "bfloat16"
    assert autocast_dtype("cuda", "fp32") is None
    assert autocast_dtype("cpu", "auto") is None and autocast_dtype("cpu", "fp16") is None


class OverflowsInHalf:
    """Returns inf wherever autocast is on (as an fp16 overflow would), else (1, 2) px."""

    def __init__(self):
        self.autocast = []

    def __call__(self, inputs):
        b, _, _, h, w = inputs["images"].shape
        on = torch.is_autocast_enabled("cpu")
        self.autocast.append(on)
        value = float("inf") if on else 1.0
        return {"flows": torch.tensor([value, 2.0]).view(1, 1, 2, 1, 1).expand(b, 1, 2, h, w)}


def test_a_batch_that_overflows_under_autocast_is_redone_in_fp32(monkeypatch, capsys):
    monkeypatch.setattr(RaftEstimator, "autocast", property(lambda self: "bfloat16"))
    model = OverflowsInHalf()
    flow = RaftEstimator(model, RaftConfig()).estimate(np.zeros((2, 128, 128, 3), np.uint8))
    assert model.autocast == [True, False]
    np.testing.assert_array_equal(flow[0, 0, 0, 0], [1.0, 2.0])
    assert "redone in fp32" in capsys.readouterr().err


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_missing_weights_say_how_to_provide_them_and_download_nothing(
    tmp_path, monkeypatch, no_network
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(UsageError, match="--raft-weights PATH.*nothing is downloaded"):
        build_estimator("raft")
    with pytest.raises(UsageError, match="things.ckpt: RAFT weights not found"):
        build_estimator("raft", raft_weights="things.ckpt")  # a ptlflow name, not a file


def test_the_things_checkpoint_in_the_torch_cache_is_found(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = tmp_path / "hub" / "checkpoints" / THINGS_CHECKPOINT
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    assert resolve_weights(None) == cached
    assert resolve_weights(str(cached)) == cached


@pytest.mark.parametrize(
    "options",
    [{"batch": 0}, {"iters": 0}, {"device": "gpu"}, {"precision": "fp8"}, {"device": "cuda"}],
)
def test_bad_raft_options_are_usage_errors(options, tmp_path):
    if options.get("device") == "cuda" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    weights = tmp_path / "w.ckpt"
    weights.write_bytes(b"")
    with pytest.raises(UsageError):
        build_estimator("raft", raft_weights=str(weights), **options)


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory):
    """A ptlflow-format RAFT checkpoint with random weights, as ptlflow itself saves them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # jsonargparse, inside ptlflow
        model = import_ptlflow().get_model("raft")
    path = tmp_path_factory.mktemp("raft") / "raft-random.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": {}}, path)
    return path


@pytest.mark.slow
def test_real_raft_runs_offline_from_a_local_checkpoint_with_the_right_shapes(
    random_checkpoint, no_network
):
    est = build_estimator("raft", raft_weights=str(random_checkpoint), iters=2, batch=3)
    assert est.name == "raft" and est.model.iters == 2 and not est.model.training
    rgb = np.random.default_rng(0).integers(0, 256, (3, 64, 96, 3), dtype=np.uint8)
    flow = est.estimate(rgb)
    assert flow.shape == (3, 2, 64, 96, 2) and flow.dtype == np.float32
    assert np.isfinite(flow).all()
    assert build_estimator("raft", raft_weights=str(random_checkpoint)).model.iters == 20


@pytest.mark.slow
def test_a_bare_data_parallel_state_dict_loads_and_a_foreign_one_is_refused(
    random_checkpoint, tmp_path
):
    state = torch.load(random_checkpoint, weights_only=True)["state_dict"]
    bare = tmp_path / "raft-things.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, bare)
    assert build_estimator("raft", raft_weights=str(bare), iters=1).model.iters == 1
    foreign = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, foreign)
    with pytest.raises(UsageError, match="not RAFT weights"):
        build_estimator("raft", raft_weights=str(foreign))
    junk = tmp_path / "junk.ckpt"
    junk.write_text("not a checkpoint")
    with pytest.raises(UsageError, match="not a readable torch checkpoint"):
        build_estimator("raft", raft_weights=str(junk))
