"""The configs of OCLR: ModelConfig (every size of the network) and TrainConfig (a training run).

Both frozen and validated when built, with named presets.

Model presets:
- "oclr": the paper's network (REFERENCE.md section 1), about 20.66 M parameters.
- "tiny": a small network that trains on 2 CPU cores in minutes at T = 8, 64 x 112.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from oclr.distributed import parse_device
from oclr.losses import LossConfig
from oclr.schedule import paper_schedule

NORMS = ("layernorm", "reference")
ORDER_HEADS = ("global", "frame", "visible", "occlusion", "occlusion_frame")
ORDER_POOLS = ("none", "memory", "mask")  # ModelConfig.order_pool, oclr.order_pool
DECODERS = ("transformer", "slots")  # ModelConfig.decoder; "slots" is oclr.slots
MASK_HEADS = ("conv", "dot")  # ModelConfig.mask_head
COPIES = ("keep", "drop")  # ModelConfig.copies, oclr.copies
ORDER_READOUTS = ("head", "occlusion", "occlusion_frame")  # ModelConfig.order_readout, oclr.readout
SPARES = ("drop", "behind", "keep")  # ModelConfig.spares, oclr.objectness


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
    # Transformer normalisation: "layernorm" is nn.LayerNorm, (x - mean) / sqrt(biased var + eps);
    # "reference" is the reference code's (x - mean) / (unbiased std + eps), eps = 1e-5, which its
    # released weights were trained with (REFERENCE.md section 10: 6e-4 apart in logits otherwise).
    norm: str = "layernorm"
    # Factor on the attention maps (the per-head dot products). None: 1 / sqrt(D / G), like
    # attention logits, so the maps' scale does not grow with the head width; the reference code
    # uses raw dot products, 1.0 (8x stronger at the start of training for D = 512, G = 8).
    map_scale: float | None = None
    # Not in the paper: the order head also sees occlusion evidence of each layer's mask
    # (`oclr.order_evidence`: does the flow where another layer overlaps it match its own?). Its
    # first Linear then takes D + 2 inputs, so reference weights need False (the default).
    order_evidence: bool = False
    # Not in the paper (issue 16): "global" is its one order per clip, the order head on the
    # decoder outputs max-pooled over T -> scores (B, K); "frame" applies the same head to each
    # frame's own decoder outputs -> scores (B, T, K), for scenes whose depth order changes.
    # The head's weights are the same either way, so reference weights load into both.
    # "visible" has no order MLP: a visibility head (which layer is seen at each pixel, trained on
    # the modal masks) gives per-frame scores (B, T, K) read off the masks (`oclr.visible`).
    # "occlusion" has no parameters either: one order per clip (B, K), read off the amodal masks
    # where the flow's forward-backward check says a layer is being hidden (`oclr.occlusion_order`);
    # "occlusion_frame" the same per frame (B, T, K), from the evidence near each frame.
    order_head: str = "global"
    # Not in the paper: the order head also sees, per query, content pooled from the clip
    # (`oclr.order_pool`): "memory" (the encoder's tokens under its attention map) or "mask" (the
    # U-Net decoder's last features under its amodal mask). "none" (the paper's head) loads
    # reference weights; the others widen the head's first Linear.
    order_pool: str = "none"
    # Not in the paper: what turns the encoder's tokens into the K queries' outputs. "transformer"
    # is the paper's decoder (learned queries, `decoder_layers` layers; reference weights need
    # it); "slots" is slot attention (`oclr.slots`), where the queries compete for the tokens,
    # `slot_iters` rounds over the clip and one per frame.
    decoder: str = "transformer"
    slot_iters: int = 3
    # Not in the paper: "conv" is its mask head, a 1x1 convolution from the U-Net's last features
    # to K channels, so channel k is query k's object only as far as training routes it there;
    # "dot" adds to it each query's (linear) embedding dotted with every pixel's features, so the
    # mask follows its own query by construction. "dot" adds a Linear(D -> C_0).
    mask_head: str = "conv"
    # Not in the paper: what evaluation and inference do with a layer whose mask repeats a surer
    # layer's (`oclr.copies`): "keep" it (the paper's), or "drop" it, so one object is one layer.
    # Training never sees it: the loss takes the raw logits.
    copies: str = "keep"
    # Not in the paper: where evaluation and inference take the depth order from (`oclr.readout`):
    # "head" the order head's scores (the paper's); "occlusion" or "occlusion_frame" the
    # parameter-free readout of `oclr.occlusion_order` on the network's masks, one order per clip
    # or per frame, whatever head trained. Training is the same: with order_head "global" the
    # learned head and its loss terms still train, only the reading changes.
    order_readout: str = "head"
    # Not in the paper: an objectness head (`oclr.objectness`) that learns, from detached inputs,
    # which layers hold an object; evaluation and inference put the layers it calls spare behind
    # the others. Training of the masks and the order is unchanged by it; False loads reference
    # weights.
    objectness: bool = False
    # With objectness: what evaluation and inference do with the layers its head calls spare:
    # "drop" them (emptied), put them "behind" all the others (`oclr.objectness.spares_behind`),
    # or "keep" them where the order puts them (the network read without the head).
    spares: str = "drop"

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
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {list(NORMS)}, got {self.norm!r}")
        if self.order_head not in ORDER_HEADS:
            raise ValueError(f"order_head must be one of {list(ORDER_HEADS)}, got "
                             f"{self.order_head!r}")
        if not isinstance(self.order_evidence, bool):
            raise ValueError(f"order_evidence must be true or false, got {self.order_evidence!r}")
        if self.order_pool not in ORDER_POOLS:
            raise ValueError(f"order_pool must be one of {list(ORDER_POOLS)}, got "
                             f"{self.order_pool!r}")
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {list(DECODERS)}, got {self.decoder!r}")
        if self.mask_head not in MASK_HEADS:
            raise ValueError(f"mask_head must be one of {list(MASK_HEADS)}, got "
                             f"{self.mask_head!r}")
        if self.copies not in COPIES:
            raise ValueError(f"copies must be one of {list(COPIES)}, got {self.copies!r}")
        if not isinstance(self.objectness, bool):
            raise ValueError(f"objectness must be true or false, got {self.objectness!r}")
        if self.spares not in SPARES:
            raise ValueError(f"spares must be one of {list(SPARES)}, got {self.spares!r}")
        if self.order_readout not in ORDER_READOUTS:
            raise ValueError(f"order_readout must be one of {list(ORDER_READOUTS)}, got "
                             f"{self.order_readout!r}")
        if int(self.slot_iters) != self.slot_iters or self.slot_iters < 0:
            raise ValueError(f"slot_iters must be an integer >= 0, got {self.slot_iters!r}")
        if self.map_scale is not None and not 0 < float(self.map_scale) < float("inf"):
            raise ValueError(f"map_scale must be a positive number or None, got {self.map_scale!r}")
        if self.height % self.stride or self.width % self.stride:
            raise ValueError(f"height x width {self.height} x {self.width} must be divisible by "
                             f"the CNN stride {self.stride}")

    @property
    def attention_map_scale(self) -> float:
        """The factor on the attention maps: map_scale, or 1 / sqrt(D / G) when it is None."""
        if self.map_scale is not None:
            return float(self.map_scale)
        return (self.d_model // self.heads) ** -0.5

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


# The paper's Adam rate suits its 600k steps; the tiny CPU network learns in minutes only with a
# larger one (see docs/training.md for the check that picked it).
DEFAULT_LR = {"oclr": 5e-5, "tiny": 1e-3}
# LossConfig fields per preset: the paper's loss for "oclr"; "tiny" adds the Dice term, which
# lifts the learning check's Syn-val amodal J (docs/model.md, "The Dice term").
DEFAULT_LOSS: dict[str, dict] = {"oclr": {}, "tiny": {"dice_weight": 1.0}}


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a training run. Periods are in optimiser steps; None picks a default from
    `steps` (`resolved()` fills them in and records the schedule)."""

    shards: str
    out: str
    val_shards: str | None = None
    preset: str = "oclr"
    model: dict = field(default_factory=dict)  # ModelConfig fields overriding the preset's
    loss: dict = field(default_factory=dict)  # LossConfig fields overriding DEFAULT_LOSS[preset]
    steps: int = 600_000
    batch: int = 2  # clips per optimiser step and rank
    lr: float | None = None  # base rate; None = DEFAULT_LR[preset]
    device: str = "cpu"
    flow: str = "gt"
    workers: int = 2
    threads: int | None = None  # torch CPU threads (None: torch's default); 1 is often faster on
    # a shared CPU, where OpenMP threads of two processes fight for the same cores
    val_every: int | None = None
    ckpt_every: int | None = None
    keep_every: int | None = None
    log_every: int = 10
    seed: int = 0
    clip_value: float = 5.0  # gradient clipping by value (reference code)
    warmup: int | None = None  # None: the paper's schedule scaled to `steps`
    halve_every: int | None = None
    max_seconds: float | None = None  # wall-clock budget: stop (and save) once it is spent
    # bf16 autocast of the forward pass (the loss stays float32). None: on CUDA only. On a CPU
    # with AMX (Xeon Sapphire Rapids and later) it makes the tiny preset's convolutions faster.
    bf16: bool | None = None
    val_limit: int | None = None  # validate on the first clips only
    resume: bool = False
    # Weights a fresh run starts from (an oclr or a reference-code checkpoint, weights only: the
    # optimiser, schedule and data order start afresh); None = random initialisation. `model`
    # then holds what makes the checkpoint's network (oclr.trainer.init_model_fields).
    init: str | None = None

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch < 1 or self.workers < 0 or self.log_every < 1:
            raise ValueError("steps and batch must be >= 1, workers >= 0, log_every >= 1")
        if self.preset not in DEFAULT_LR:
            raise ValueError(f"unknown preset {self.preset!r}; choose one of {sorted(DEFAULT_LR)}")
        ModelConfig.preset(self.preset, **self.model)  # a bad override fails here, not mid-run
        self.loss_config()
        parse_device(self.device)

    def resolved(self) -> TrainConfig:
        """This config with every None period/rate replaced by its default."""
        sched = paper_schedule(self.steps)
        val = self.val_every or min(20_000, max(1, self.steps // 10))
        return dataclasses.replace(
            self,
            lr=self.lr if self.lr is not None else DEFAULT_LR[self.preset],
            val_every=val,
            ckpt_every=self.ckpt_every or min(1_000, max(1, self.steps // 20)),
            keep_every=self.keep_every or val,
            warmup=self.warmup or sched.warmup,
            halve_every=self.halve_every or sched.halve_every,
            loss=dataclasses.asdict(self.loss_config()),
        )

    def loss_config(self) -> LossConfig:
        """The preset's loss settings with `loss` applied (TypeError on an unknown field)."""
        return LossConfig(**{**DEFAULT_LOSS[self.preset], **self.loss})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
