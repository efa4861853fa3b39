"""oclr: the Object-Centric Layered Representation model, its training, evaluation and inference."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("oclr-model")
except PackageNotFoundError:
    __version__ = "0.0.0+unknown"


def build_model(preset: str = "oclr", **overrides):
    """Build the OCLR network from a named preset ("oclr", "tiny"), overriding any config field.

    forward(flow (B, T, 4, H, W) float32) -> (amodal logits (B, T, K, H, W), order scores (B, K)),
    lower order score = nearer; (B, T, K), one order per frame, with order_head="frame" or
    "visible".
    """
    from oclr.model import build_model as _build

    return _build(preset, **overrides)


def load_model(path, device="cpu"):
    """The network stored in a checkpoint file, in eval mode on `device`: one that oclr-train
    wrote, or the reference code's released checkpoint (a dict with `model_state_dict`), told
    apart by content. A reference checkpoint gives a network with the reference's normalisation
    and raw attention maps, whose order scores (B, K) equal the reference's (B, T, K) at any t.
    Read with weights_only=True (tensors and plain data only); a file that cannot be used raises
    `oclr.checkpoint.CheckpointError` naming it and, for misfitting weights, the first tensor."""
    from oclr.checkpoint import load_model as _load

    return _load(path, device)


__all__ = ["__version__", "build_model", "load_model"]
