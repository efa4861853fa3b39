"""The reference code's released checkpoints: their weight names mapped onto this network's.

A reference checkpoint is a `torch.save` dict whose "model_state_dict" holds 129 tensors named as
in the reference code (REFERENCE.md section 10; every name and shape in
reference-checkpoint-keys.tsv). Each maps one to one onto a tensor of `oclr.model.OCLR`, except
that the reference packs an attention's q, k and v projections into one `in_proj_weight` (3D, D)
and `in_proj_bias` (3D,), q first. The network they make is the one `reference_config` describes:
the sizes read from the shapes, the reference's normalisation (`norm="reference"`) and raw attention
maps (`map_scale=1.0`), T = 30 and 128 x 224 as the reference trains.

Outputs then equal the reference implementation's: the same amodal logits (B, T, K, H, W), channel
k = query k, and the same order scores; ours are (B, K), the reference's (B, T, K) are those values
copied over the T frames (ours[b, k] == theirs[b, t, k] for every t), higher = further back in
both. Two differences stay (REFERENCE.md section 10): for clips shorter than 30 frames the
reference spaces its time embedding over the clip (ours keeps a 30-frame clip's spacing), and at
T = 1 it attends uniformly.

Pure functions of state dicts: no files here (`oclr.checkpoint.read_weights` reads and detects).
`ReferenceFormatError` says what does not fit, without a path; the caller names the file.
"""

from __future__ import annotations

import re

import torch

from oclr.config import ModelConfig
from oclr.model import OCLR

REFERENCE_KEY = "model_state_dict"
# What the reference code trains with and the shapes of its weights do not record.
REFERENCE_FRAMES, REFERENCE_HEIGHT, REFERENCE_WIDTH, REFERENCE_DROPOUT = 30, 128, 224, 0.1
QKV = ("q", "k", "v")  # the order of the packed in_proj rows

# Reference name of an attention layer's parts, ours -> theirs (inside a transformer layer).
_LAYER_PARTS = {"out": "out_proj", "ffn.0": "linear1", "ffn.3": "linear2"}
_ATTENTIONS = {"self_attn": "self_attn", "cross_attn": "multihead_attn"}


class ReferenceFormatError(ValueError):
    """A reference-format state dict whose names or shapes do not make the network."""


def is_reference_checkpoint(state: object) -> bool:
    """True for the reference code's checkpoint dict (a dict holding a `model_state_dict` dict)."""
    return isinstance(state, dict) and isinstance(state.get(REFERENCE_KEY), dict)


def reference_names(cfg: ModelConfig) -> dict[str, tuple[str, int | None]]:
    """Our state-dict name -> (reference name, row block): the block is 0, 1, 2 for q, k, v
    inside a packed in_proj tensor, None for a tensor taken whole."""
    names: dict[str, tuple[str, int | None]] = {}
    names.update(_cnn_names(cfg))
    names.update(_affine("pos_embed", "transformer_enc.encoder_positime.proj"))
    for i in range(cfg.encoder_layers):
        names.update(_layer_names(f"encoder.{i}", f"transformer_enc.transformer_encoder.layers.{i}",
                                  ("self_attn",), 2))
    names["queries"] = ("transformer_dec.motion_embed.weight", None)
    names.update(_affine("time_embed", "transformer_dec.encoder_time.proj"))
    for i in range(cfg.decoder_layers):
        names.update(_layer_names(f"decoder.{i}", f"transformer_dec.transformer_decoder.layers.{i}",
                                  ("self_attn", "cross_attn"), 3))
    names.update(_affine("map_proj", "heatmap.mlp.0"))
    names.update(_affine("order_head.0", "classhead.mlp.0"))
    names.update(_affine("order_head.2", "classhead.mlp.2"))
    return names


def _affine(ours: str, theirs: str) -> dict[str, tuple[str, None]]:
    return {f"{ours}.{p}": (f"{theirs}.{p}", None) for p in ("weight", "bias")}


def _cnn_names(cfg: ModelConfig) -> dict[str, tuple[str, int | None]]:
    """The U-Net: encoder levels 1..L-1 then `bottleneck`; decoder levels counted back up."""
    levels = len(cfg.cnn_channels)
    names: dict[str, tuple[str, int | None]] = {}
    for i in range(levels):
        ref = (f"encoder.encoder{i + 1}.conv_block.enc{i + 1}conv" if i < levels - 1
               else "encoder.bottleneck.conv_block.bottleneckconv")
        for m, index in ((1, 0), (2, 3)):
            names[f"encoder_cnn.blocks.{i}.{index}.weight"] = (f"{ref}{m}.weight", None)
    for j in range(levels - 1):
        n = levels - 1 - j  # decoder level n: upconv{n}, decoder{n}
        names.update(_affine(f"decoder_cnn.ups.{j}", f"decoder_am.upconv{n}"))
        for m, index in ((1, 0), (2, 3)):
            names[f"decoder_cnn.blocks.{j}.{index}.weight"] = (
                f"decoder_am.decoder{n}.conv_block.dec{n}conv{m}.weight", None)
    names.update(_affine("decoder_cnn.head", "decoder_am.conv"))
    return names


def _layer_names(ours: str, theirs: str, attentions: tuple[str, ...],
                 norms: int) -> dict[str, tuple[str, int | None]]:
    names: dict[str, tuple[str, int | None]] = {}
    for attn in attentions:
        ref = f"{theirs}.{_ATTENTIONS[attn]}"
        for p in ("weight", "bias"):
            for block, part in enumerate(QKV):
                names[f"{ours}.{attn}.{part}.{p}"] = (f"{ref}.in_proj_{p}", block)
            names[f"{ours}.{attn}.out.{p}"] = (f"{ref}.out_proj.{p}", None)
    for part in ("ffn.0", "ffn.3"):
        names.update(_affine(f"{ours}.{part}", f"{theirs}.{_LAYER_PARTS[part]}"))
    for n in range(1, norms + 1):
        names.update(_affine(f"{ours}.norm{n}", f"{theirs}.norm{n}"))
    return names


def reference_config(ref: dict[str, torch.Tensor]) -> ModelConfig:
    """The ModelConfig of the network a reference state dict holds, read from its shapes."""
    enc = "transformer_enc.transformer_encoder.layers"
    dec = "transformer_dec.transformer_decoder.layers"
    convs = [f"encoder.encoder{i}.conv_block.enc{i}conv1.weight"
             for i in range(1, 1 + _largest(ref, r"encoder\.encoder(\d+)\.", 0))]
    convs.append("encoder.bottleneck.conv_block.bottleneckconv1.weight")
    k = _shape(ref, "transformer_dec.motion_embed.weight", 2)[0]
    d = _shape(ref, "transformer_enc.encoder_positime.proj.weight", 2)[0]
    sizes = {
        "in_channels": _shape(ref, convs[0], 4)[1],
        "cnn_channels": tuple(_shape(ref, name, 4)[0] for name in convs),
        "num_objects": k, "d_model": d,
        "heads": _shape(ref, "heatmap.mlp.0.weight", 2)[1] // max(k, 1),
        "ffn_dim": _shape(ref, f"{enc}.0.linear1.weight", 2)[0],
        "encoder_layers": 1 + _largest(ref, re.escape(enc) + r"\.(\d+)\.", -1),
        "decoder_layers": 1 + _largest(ref, re.escape(dec) + r"\.(\d+)\.", -1),
    }
    if sizes["cnn_channels"][-1] != d:
        raise ReferenceFormatError(f"bottleneck conv has {sizes['cnn_channels'][-1]} channels but "
                                   f"the transformer {d}: the reference network has them equal")
    try:
        return ModelConfig(**sizes, frames=REFERENCE_FRAMES, height=REFERENCE_HEIGHT,
                           width=REFERENCE_WIDTH, dropout=REFERENCE_DROPOUT, norm="reference",
                           map_scale=1.0)
    except ValueError as err:
        raise ReferenceFormatError(f"its shapes make no OCLR network: {err}") from None


def _shape(ref: dict, name: str, ndim: int) -> tuple[int, ...]:
    tensor = ref.get(name)
    if not isinstance(tensor, torch.Tensor):
        raise ReferenceFormatError(f"no tensor {name}")
    if tensor.ndim != ndim:
        raise ReferenceFormatError(f"{name} has shape {tuple(tensor.shape)}, expected "
                                   f"{ndim} dimensions")
    return tuple(tensor.shape)


def _largest(ref: dict, pattern: str, default: int) -> int:
    """The largest index the first group of `pattern` takes among the names (`default` if none)."""
    found = [int(m.group(1)) for name in ref if (m := re.match(pattern, name))]
    return max(found, default=default)


def expected_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Reference name -> shape for the network `cfg` describes (built on the meta device: no
    memory, no time)."""
    with torch.device("meta"):
        ours = OCLR(cfg).state_dict()
    shapes: dict[str, tuple[int, ...]] = {}
    for name, (ref, block) in reference_names(cfg).items():
        shape = tuple(ours[name].shape)
        shapes[ref] = shape if block is None else (3 * shape[0], *shape[1:])
    return shapes


def first_misfit(expected: dict[str, tuple[int, ...]], given: dict) -> str | None:
    """The first name of `expected` missing from `given` or of another shape there, then the
    first name `given` has beyond `expected`, in words; None when every name and shape fits."""
    for name, shape in expected.items():
        tensor = given.get(name)
        if not isinstance(tensor, torch.Tensor):
            return f"no tensor {name} (expected shape {shape})"
        if tuple(tensor.shape) != shape:
            return f"{name} has shape {tuple(tensor.shape)}, expected {shape}"
    extra = [name for name in given if name not in expected]
    return f"unexpected tensor {extra[0]} ({len(extra)} in all)" if extra else None


def from_reference(ref: dict[str, torch.Tensor]) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """(config, state dict of our OCLR) for a reference `model_state_dict`; a DataParallel
    "module." prefix on every name is dropped. ReferenceFormatError names the first misfit."""
    if ref and all(name.startswith("module.") for name in ref):
        ref = {name.removeprefix("module."): tensor for name, tensor in ref.items()}
    cfg = reference_config(ref)
    problem = first_misfit(expected_shapes(cfg), ref)
    if problem:
        raise ReferenceFormatError(problem)
    state = {}
    for name, (theirs, block) in reference_names(cfg).items():
        tensor = ref[theirs]
        state[name] = tensor if block is None else tensor.chunk(3, dim=0)[block]
    return cfg, state


def to_reference(model: OCLR) -> dict[str, torch.Tensor]:
    """Our network's weights under the reference code's names (q, k, v packed again), e.g. to
    give `model` to the reference code: `torch.save({"model_state_dict": to_reference(m)}, p)`."""
    ours = model.state_dict()
    packed: dict[str, list] = {}
    for name, (theirs, block) in reference_names(model.cfg).items():
        packed.setdefault(theirs, [None] * 3)[0 if block is None else block] = ours[name]
    return {name: parts[0] if parts[1] is None else torch.cat(parts, dim=0)
            for name, parts in packed.items()}
