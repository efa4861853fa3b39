"""Content pooled per query for the order head (ModelConfig.order_pool; not in the paper).

The paper's order head sees only the decoder's outputs, each query's maximum over frames. A
query that is one fixed vector can make good masks (its attention map over the encoder's tokens
is what varies with the clip), so training can leave those outputs the same for every clip, and
the head's scores one fixed ranking of the queries (docs/model.md, "The learning check"). These
inputs depend on the clip by construction, each a mean over the frames:

    "memory": the encoder's tokens averaged under the query's attention map (softmax over the
              positions of a frame, the heads' maps averaged): (B, K, D)
    "mask":   the U-Net decoder's last features (before the 1x1 head) averaged under the query's
              amodal probabilities, taken without gradient: (B, K, C_0)
"""

from __future__ import annotations

import torch

from oclr.config import ModelConfig


def pool_width(cfg: ModelConfig) -> int:
    """Features per query that cfg.order_pool adds to the order head's input."""
    return {"none": 0, "memory": cfg.d_model, "mask": cfg.cnn_channels[0]}[cfg.order_pool]


def memory_pool(maps: torch.Tensor, memory: torch.Tensor, heads: int) -> torch.Tensor:
    """maps (B, T, K*G, P) attention maps (channel k*G + g), memory (B, T, P, D) -> (B, K, D):
    per query and frame the tokens' mean weighted by softmax_P of the maps, averaged over the G
    heads, then averaged over the frames."""
    weights = torch.softmax(maps.unflatten(2, (-1, heads)), dim=-1).mean(3)  # (B, T, K, P)
    return torch.einsum("btkp,btpd->bkd", weights, memory) / memory.shape[1]


def mask_pool(prob: torch.Tensor, features: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """prob (B, T, K, H, W) amodal probabilities, features (B, T, C, H, W) -> (B, K, C): per
    query and frame the features' mean weighted by prob (detached), averaged over the frames.
    An empty mask gives ~0."""
    prob = prob.detach().to(features.dtype)
    total = torch.einsum("btkhw,btchw->btkc", prob, features)
    mean = total / (prob.sum((3, 4))[..., None] + eps)  # (B, T, K, C)
    return mean.mean(1)
