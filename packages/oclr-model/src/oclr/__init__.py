"""oclr: the Object-Centric Layered Representation model, its training, evaluation and inference."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("oclr-model")
except PackageNotFoundError:
    __version__ = "0.0.0+unknown"


def build_model(preset: str = "oclr", **overrides):
    """Build the OCLR network from a named preset ("oclr", "tiny"), overriding any config field.

    forward(flow (B, T, 4, H, W) float32) -> (amodal logits (B, T, K, H, W), order scores (B, K)),
    lower order score = nearer.
    """
    from oclr.model import build_model as _build

    return _build(preset, **overrides)


__all__ = ["__version__", "build_model"]
