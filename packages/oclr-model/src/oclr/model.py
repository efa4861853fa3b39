"""The OCLR network: a U-Net over optical flow with a transformer bottleneck (paper section 2.2).

    flow (B, T, 4, H, W)
      -> CNN encoder per frame          (B*T, C_i, H/2^i, W/2^i) skips, bottleneck (B*T, C, h, w)
      -> transformer encoder            (B, T*h*w, D); each token attends to the OTHER frames only
      -> transformer decoder            (B, K*T, D): K learned queries repeated over T
         (with cfg.decoder "slots": slot attention, `oclr.slots`, (B, K, T, D) directly)
      -> attention maps                 (B*T, K*G, h, w): per head, decoder(k, t) . encoder(t, y, x)
      -> Linear(K*G -> C) + ReLU        (B*T, C, h, w): the new bottleneck
      -> U-Net decoder with skips       (B*T, C_0, H, W)
      -> 1x1 conv                       (B, T, K, H, W) amodal logits
         (with cfg.mask_head "dot", plus per frame Linear(D -> C_0)(decoder(k, t)) . features(y, x)
         / sqrt(C_0): each query's own mask term)
      order head: decoder (B, K, T, D) -> max over T -> MLP -> (B, K) scores, lower = nearer
      (with cfg.order_head "frame", no max: the MLP per frame -> (B, T, K) scores)
      (with cfg.order_head "visible", no MLP: a visibility head, 1x1 conv (+ the dot term with
      mask_head "dot") -> (B, T, K + 1, H, W) logits of the layer seen at each pixel, and the
      (B, T, K) scores read from it and the amodal masks by `oclr.visible.visible_order`)
      (with cfg.order_head "occlusion", no MLP: (B, K) scores read off the amodal masks and the
      pixels the flow says are being hidden, `oclr.occlusion_order`; "occlusion_frame" (B, T, K))
      (with cfg.order_evidence, the MLP also sees `oclr.order_evidence` features of the masks;
      with cfg.order_pool, content pooled per query by `oclr.order_pool`).
      objectness head (cfg.objectness): detached per-layer inputs -> (B, K) logits of whether
      the layer holds an object (`oclr.objectness`), read by evaluation and inference only.

Object k is output channel k everywhere; h = H / stride, w = W / stride, G heads, D = d_model.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from oclr.attention import DecoderLayer, EncoderLayer, other_frame_mask
from oclr.config import ModelConfig
from oclr.objectness import ObjectnessHead
from oclr.occlusion_order import occlusion_order
from oclr.order_evidence import FEATURES, occlusion_evidence
from oclr.order_pool import mask_pool, memory_pool, pool_width
from oclr.slots import SlotDecoder
from oclr.visible import visible_order

OCCLUSION_HEADS = ("occlusion", "occlusion_frame")  # read by `oclr.occlusion_order`
PARAMETER_FREE = ("visible", *OCCLUSION_HEADS)  # order heads without an order MLP


def conv_block(c_in: int, c_out: int, negative_slope: float) -> nn.Sequential:
    """(conv3x3 without bias -> InstanceNorm without affine -> LeakyReLU) twice; keeps H, W."""
    layers: list[nn.Module] = []
    for c in (c_in, c_out):
        layers += [nn.Conv2d(c, c_out, 3, padding=1, bias=False), nn.InstanceNorm2d(c_out),
                   nn.LeakyReLU(negative_slope)]
    return nn.Sequential(*layers)


class CNNEncoder(nn.Module):
    """Per-frame U-Net encoder: one conv_block per level, 2x2 max-pool between levels."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        chans = (cfg.in_channels, *cfg.cnn_channels)
        self.blocks = nn.ModuleList(conv_block(a, b, cfg.negative_slope)
                                    for a, b in zip(chans[:-1], chans[1:], strict=True))
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (N, 4, H, W) -> bottleneck (N, C_last, H/s, W/s), skips [(N, C_i, H/2^i, W/2^i)]."""
        skips = []
        for i, block in enumerate(self.blocks):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        return skips.pop(), skips


class CNNDecoder(nn.Module):
    """U-Net decoder: per level, ConvTranspose 2x2 (halves channels, doubles H, W), concatenate the
    skip, conv_block; then a 1x1 conv to K channels."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        chans = cfg.cnn_channels[::-1]  # e.g. 512, 256, 128, 64, 32
        self.ups = nn.ModuleList(nn.ConvTranspose2d(a, b, 2, stride=2)
                                 for a, b in zip(chans[:-1], chans[1:], strict=True))
        self.blocks = nn.ModuleList(conv_block(2 * b, b, cfg.negative_slope) for b in chans[1:])
        self.head = nn.Conv2d(chans[-1], cfg.num_objects, 1)

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        """x (N, C_last, h, w), skips as CNNEncoder returns them -> logits (N, K, H, W)."""
        return self.head(self.features(x, skips))

    def features(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        """As forward, without the 1x1 head: (N, C_0, H, W)."""
        for up, block, skip in zip(self.ups, self.blocks, reversed(skips), strict=True):
            x = block(torch.cat([up(x), skip], dim=1))
        return x


class OCLR(nn.Module):
    """The OCLR network: forward(flow (B, T, 4, H, W) float32)
    -> (amodal logits (B, T, K, H, W), order scores (B, K), or (B, T, K) per frame when
    cfg.order_head is "frame").

    T may be anything from 1 to cfg.frames; H and W must be multiples of cfg.stride (16 for "oclr").
    Anything else raises ValueError naming the shape. Lower order score = nearer the camera.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, c = cfg.d_model, cfg.cnn_channels[-1]
        self.encoder_cnn = CNNEncoder(cfg)
        self.input_proj = nn.Identity() if c == d else nn.Linear(c, d)
        self.pos_embed = nn.Linear(3, d)  # normalised (t, y, x) -> D, added once
        self.encoder = nn.ModuleList(EncoderLayer(d, cfg.heads, cfg.ffn_dim, cfg.dropout, cfg.norm)
                                     for _ in range(cfg.encoder_layers))
        if cfg.decoder == "slots":
            self.slots = SlotDecoder(cfg.num_objects, d, cfg.ffn_dim, cfg.slot_iters)
        else:
            self.queries = nn.Parameter(torch.randn(cfg.num_objects, d))
            self.time_embed = nn.Linear(1, d)  # normalised t -> D, added to every query
            self.decoder = nn.ModuleList(DecoderLayer(d, cfg.heads, cfg.ffn_dim, cfg.dropout,
                                                      cfg.norm)
                                         for _ in range(cfg.decoder_layers))
        extra = (FEATURES if cfg.order_evidence else 0) + pool_width(cfg)
        self.order_head = (nn.Sequential(nn.Linear(d + extra, d), nn.ReLU(), nn.Linear(d, 1))
                           if cfg.order_head not in PARAMETER_FREE else None)
        self.map_proj = nn.Linear(cfg.num_objects * cfg.heads, c)
        self.decoder_cnn = CNNDecoder(cfg)
        if cfg.mask_head == "dot":  # query k's mask embedding, dotted with every pixel's features
            self.mask_embed = nn.Linear(d, cfg.cnn_channels[0])
        if cfg.order_head == "visible":  # background + K layers; the dot term for the K layers
            self.visible_head = nn.Conv2d(cfg.cnn_channels[0], cfg.num_objects + 1, 1)
            if cfg.mask_head == "dot":
                self.visible_embed = nn.Linear(d, cfg.cnn_channels[0])
        # created last, so the other modules draw the same initial weights with or without it
        self.objectness_head = (ObjectnessHead(d, cfg.cnn_channels[0]) if cfg.objectness
                                else None)

    def forward(self, flow: torch.Tensor, visible: bool = False,
                objectness: bool = False) -> tuple[torch.Tensor, ...]:
        """flow (B, T, 4, H, W) -> amodal logits (B, T, K, H, W), order scores (B, K) or, with
        cfg.order_head "frame" or "visible", (B, T, K). visible=True (order_head "visible" only,
        for the loss) adds the visibility logits (B, T, K + 1, H, W); objectness=True
        (cfg.objectness only) adds, last, the objectness logits (B, K) of `oclr.objectness`."""
        b, t, _, height, width = self._check_input(flow)
        if objectness and self.objectness_head is None:
            raise ValueError("objectness=True needs ModelConfig.objectness true")
        bottleneck, skips = self.encoder_cnn(flow.flatten(0, 1))  # (B*T, C, h, w)
        h, w = bottleneck.shape[-2:]
        memory = self.encode(bottleneck.unflatten(0, (b, t)))  # (B, T*h*w, D)
        queries = self.decode(memory, t)  # (B, K, T, D)
        tokens = memory.unflatten(1, (t, h * w))  # (B, T, h*w, D)
        flat = attention_maps(queries, tokens, self.cfg.heads, self.cfg.attention_map_scale)
        maps = flat.unflatten(-1, (h, w)).flatten(0, 1)  # (B*T, K*G, h, w)
        x = torch.relu(self.map_proj(maps.movedim(1, -1))).movedim(-1, 1)  # (B*T, C, h, w)
        features = self.decoder_cnn.features(x, skips)  # (B*T, C_0, H, W)
        logits = self.decoder_cnn.head(features).unflatten(0, (b, t))  # (B, T, K, H, W)
        if self.cfg.mask_head == "dot":
            logits = logits + self._dot_logits(queries, features.unflatten(0, (b, t)),
                                               self.mask_embed)
        outputs = self._order(flow, logits, queries, features, flat, tokens, visible)
        if objectness:
            scores = self.objectness_head(torch.sigmoid(logits), features.unflatten(0, (b, t)),
                                          flow)
            outputs = (*outputs, scores)
        return outputs

    def _order(self, flow: torch.Tensor, logits: torch.Tensor, queries: torch.Tensor,
               features: torch.Tensor, flat: torch.Tensor, tokens: torch.Tensor,
               visible: bool) -> tuple[torch.Tensor, ...]:
        """(logits, order scores[, visibility logits]) as `forward` returns them without
        objectness; features (B*T, C_0, H, W), flat the attention maps (B, T, K*G, h*w), tokens
        the encoder's outputs (B, T, h*w, D)."""
        b, t = logits.shape[:2]
        if self.cfg.order_head == "visible":
            seen = self._visible_logits(queries, features, (b, t))
            order = visible_order(torch.sigmoid(logits), seen)
            return (logits, order, seen) if visible else (logits, order)
        if self.cfg.order_head in OCCLUSION_HEADS and not visible:
            per_frame = self.cfg.order_head == "occlusion_frame"
            return logits, occlusion_order(torch.sigmoid(logits), flow, per_frame=per_frame)
        if visible:
            raise ValueError("visible=True needs ModelConfig.order_head 'visible', got "
                             f"{self.cfg.order_head!r}")
        per_frame = self.cfg.order_head == "frame"
        # (B, T, K, D) each frame's own decoder outputs for a per-frame head, else (B, K, D)
        pooled = [queries.transpose(1, 2) if per_frame else queries.amax(dim=2)]
        clip_level = []  # (B, K, F) inputs of the whole clip
        if self.cfg.order_evidence or self.cfg.order_pool == "mask":
            prob = torch.sigmoid(logits)  # (B, T, K, H, W), once for both inputs
        if self.cfg.order_evidence:
            clip_level.append(occlusion_evidence(prob, flow))
        if self.cfg.order_pool == "memory":
            clip_level.append(memory_pool(flat, tokens, self.cfg.heads))
        elif self.cfg.order_pool == "mask":
            clip_level.append(mask_pool(prob, features.unflatten(0, (b, t))))
        for inputs in clip_level:  # beside every frame's outputs for a per-frame head
            inputs = inputs[:, None].expand(-1, t, -1, -1) if per_frame else inputs
            pooled.append(inputs.to(pooled[0].dtype))
        order = self.order_head(torch.cat(pooled, dim=-1)).squeeze(-1)  # (B, K) or (B, T, K)
        return logits, order

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """features (B, T, C, h, w) -> memory (B, T*h*w, D), tokens ordered (t, y, x)."""
        b, t, _, h, w = features.shape
        tokens = self.input_proj(features.movedim(2, -1).reshape(b, t * h * w, -1))
        x = tokens + self.pos_embed(self._grid(t, h, w, tokens))  # (B, T*h*w, D)
        mask = other_frame_mask(t, h * w, x.device)
        for layer in self.encoder:
            x = layer(x, mask)
        return x

    def decode(self, memory: torch.Tensor, t: int) -> torch.Tensor:
        """memory (B, T*h*w, D) -> decoder outputs (B, K, T, D)."""
        if self.cfg.decoder == "slots":
            return self.slots(memory, self._time(t, memory))
        k = self.cfg.num_objects
        time = self._time(t, memory)[:, None]  # (T, 1)
        q = self.queries[:, None, :] + self.time_embed(time)[None]  # (K, T, D)
        x = q.flatten(0, 1).expand(memory.shape[0], -1, -1)  # (B, K*T, D)
        for layer in self.decoder:
            x = layer(x, memory)
        return x.unflatten(1, (k, t))

    def _visible_logits(self, queries: torch.Tensor, features: torch.Tensor,
                        bt: tuple[int, int]) -> torch.Tensor:
        """cfg.order_head "visible": features (B*T, C_0, H, W) -> (B, T, K + 1, H, W) logits of
        the layer seen at each pixel (channel 0 background), with mask_head "dot" each layer's
        query dot term added as for the amodal masks."""
        seen = self.visible_head(features).unflatten(0, bt)
        if self.cfg.mask_head != "dot":
            return seen
        dots = self._dot_logits(queries, features.unflatten(0, bt), self.visible_embed)
        return torch.cat([seen[:, :, :1], seen[:, :, 1:] + dots], dim=2)

    def _dot_logits(self, queries: torch.Tensor, features: torch.Tensor,
                    embedding: nn.Module) -> torch.Tensor:
        """cfg.mask_head "dot": queries (B, K, T, D), the U-Net's last features (B, T, C_0, H, W)
        -> (B, T, K, H, W) logits, per frame each query's embedding dotted with each pixel's
        features, over sqrt(C_0): a mask tied to its query by construction, as in Mask2Former."""
        embed = embedding(queries)  # (B, K, T, C_0)
        dots = torch.einsum("bktc,btchw->btkhw", embed, features.to(embed.dtype))
        return dots * embed.shape[-1] ** -0.5

    def _time(self, t: int, like: torch.Tensor) -> torch.Tensor:
        """(T,) frame times in [-1, 1] with the spacing of a full cfg.frames clip, so a shorter clip
        looks like the start of a full one (the spacing between frames is what training saw)."""
        span = max(self.cfg.frames - 1, 1)
        return torch.arange(t, device=like.device, dtype=like.dtype) * (2.0 / span) - 1.0

    def _grid(self, t: int, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
        """(T*h*w, 3) normalised (t, y, x); y and x span [-1, 1] over the frame, whatever its size.
        """
        ys = torch.linspace(-1, 1, h, device=like.device, dtype=like.dtype)
        xs = torch.linspace(-1, 1, w, device=like.device, dtype=like.dtype)
        grid = torch.meshgrid(self._time(t, like), ys, xs, indexing="ij")
        return torch.stack(grid, dim=-1).reshape(-1, 3)

    def _check_input(self, flow: torch.Tensor) -> tuple[int, ...]:
        cfg = self.cfg
        if flow.ndim != 5 or flow.shape[2] != cfg.in_channels:
            raise ValueError(f"flow must be (B, T, {cfg.in_channels}, H, W), "
                             f"got {tuple(flow.shape)}")
        b, t, _, h, w = flow.shape
        if not 1 <= t <= cfg.frames:
            raise ValueError(f"clip has T = {t} frames; this model takes 1 to {cfg.frames}")
        if h % cfg.stride or w % cfg.stride or h == 0 or w == 0:
            raise ValueError(f"flow H x W = {h} x {w} must be positive multiples of {cfg.stride}")
        return b, t, cfg.in_channels, h, w


def attention_maps(queries: torch.Tensor, memory: torch.Tensor, heads: int,
                   scale: float) -> torch.Tensor:
    """Per head, the dot product between each decoder output and the encoder outputs of its frame.

    queries (B, K, T, D), memory (B, T, P, D) -> (B, T, K*G, P), channel k*G + g, times `scale`
    (ModelConfig.attention_map_scale: 1/sqrt(D/G) like attention logits by default, 1.0 in the
    reference code; a constant the next Linear could absorb, but it sets the start of training).
    """
    q = queries.unflatten(-1, (heads, -1))  # (B, K, T, G, D/G)
    m = memory.unflatten(-1, (heads, -1))  # (B, T, P, G, D/G)
    maps = torch.einsum("bktgc,btpgc->btkgp", q, m) * scale
    return maps.flatten(2, 3)


def build_model(preset: str = "oclr", **overrides: Any) -> OCLR:
    """The OCLR network of a named preset ("oclr", "tiny"); overrides: any ModelConfig field."""
    return OCLR(ModelConfig.preset(preset, **overrides))


def _order_head_parts(model: OCLR, dot: bool) -> list[nn.Module]:
    """The modules that make the order scores: the MLP, the visibility head, or none."""
    if model.order_head is not None:
        return [model.order_head]
    if model.cfg.order_head == "visible":
        return [model.visible_head, *([model.visible_embed] if dot else [])]
    return []  # "occlusion", "occlusion_frame": read off the masks and the flow, no parameters


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Trainable parameters by part, as REFERENCE.md section 1 breaks them down, plus "total"."""
    slots = model.cfg.decoder == "slots"  # its SlotDecoder holds the initial slots itself
    dot = model.cfg.mask_head == "dot"
    parts = {
        "encoder_cnn": [model.encoder_cnn],
        "transformer_encoder": [model.input_proj, model.pos_embed, model.encoder],
        "transformer_decoder": [model.slots] if slots else [model.time_embed, model.decoder],
        "order_head": _order_head_parts(model, dot),
        "decoder_cnn": [model.map_proj, model.decoder_cnn, *([model.mask_embed] if dot else [])],
    }
    if model.objectness_head is not None:
        parts["objectness_head"] = [model.objectness_head]
    out = {name: sum(p.numel() for m in mods for p in m.parameters())
           for name, mods in parts.items()}
    out["transformer_decoder"] += 0 if slots else model.queries.numel()
    out["total"] = sum(p.numel() for p in model.parameters())
    return out
