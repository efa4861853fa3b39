"""ModelConfig: every size of the OCLR network in one frozen, validated dataclass, with presets.

Presets:
- "oclr": the paper's network (REFERENCE.md section 1), about 20.66 M parameters.
- "tiny": a small network that trains on 2 CPU cores in minutes at T = 8, 64 x 112.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the OCLR network. Validated when built (ValueError on a bad value).

    The input must have H and W divisible by `stride` = 2 ** (len(cnn_channels) - 1) and at most
    `frames` frames; the model raises ValueError otherwise.
    """

    in_channels: int = 4  # flow (u, v) at gaps +1 and -1
    num_objects: int = 3  # K: object queries = output layers
    frames: int = 30  # T: the most frames one forward takes; also the spacing of the time embedding
    height: int = 128  # nominal input size (what data should be resized to); any multiple of stride
    width: int = 224  # works at run time
    cnn_channels: tuple[int, ...] = (32, 64, 128, 256, 512)  # U-Net levels, 2x2 pool between
    negative_slope: float = 0.01  # LeakyReLU (torch default)
    d_model: int = 512
    heads: int = 8
    ffn_dim: int = 512
    encoder_layers: int = 3
    decoder_layers: int = 3
    dropout: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "cnn_channels", tuple(int(c) for c in self.cnn_channels))
        _check_positive(self, ("in_channels", "num_objects", "frames", "height", "width",
                               "d_model", "heads", "ffn_dim", "encoder_layers", "decoder_layers"))
        if len(self.cnn_channels) < 2 or min(self.cnn_channels) < 1:
            raise ValueError(f"cnn_channels needs >= 2 positive entries, got {self.cnn_channels}")
        if self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by heads ({self.heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.negative_slope < 0:
            raise ValueError(f"negative_slope must be >= 0, got {self.negative_slope}")
        if self.height % self.stride or self.width % self.stride:
            raise ValueError(f"height x width {self.height} x {self.width} must be divisible by "
                             f"the CNN stride {self.stride}")

    @property
    def stride(self) -> int:
        """Downsampling factor of the CNN encoder (16 for five levels)."""
        return 2 ** (len(self.cnn_channels) - 1)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ModelConfig:
        """The named preset ("oclr", "tiny") with fields replaced; unknown field -> TypeError."""
        if name not in PRESETS:
            raise ValueError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}")
        _check_fields(overrides)
        return dataclasses.replace(PRESETS[name], **overrides)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["cnn_channels"] = list(self.cnn_channels)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of to_dict; unknown keys -> TypeError (a newer version's config fails loudly)."""
        _check_fields(data)
        return cls(**data)


def _check_positive(cfg: ModelConfig, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(cfg, name)
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_fields(data: dict[str, Any]) -> None:
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise TypeError(f"unknown ModelConfig field(s) {unknown}; known fields: {sorted(known)}")


PRESETS: dict[str, ModelConfig] = {
    "oclr": ModelConfig(),
    # Four levels (stride 8) keep an 8 x 14 bottleneck at 64 x 112, the token grid of the paper's
    # 128 x 224 / 16; no dropout, because a few minutes of training cannot afford it.
    "tiny": ModelConfig(frames=8, height=64, width=112, cnn_channels=(16, 32, 64, 128),
                        d_model=128, heads=4, ffn_dim=256, encoder_layers=2, decoder_layers=2,
                        dropout=0.0),
}
