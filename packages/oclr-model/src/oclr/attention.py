"""Transformer pieces of OCLR: multi-head attention on scaled_dot_product_attention, post-norm
layers (with nn.LayerNorm or the reference code's normalisation), and the frame mask that keeps
encoder tokens from attending to their own frame.

Shapes: B batch, N query tokens, M key tokens, D = d_model, G heads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate q, k, v and output projections (4 * (D*D + D) parameters).

    `attn_mask` (N, M) bool, True = may attend, as in F.scaled_dot_product_attention, so the fused
    kernels serve on a GPU.
    """

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, query: torch.Tensor, key: torch.Tensor,
                attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """query (B, N, D), key = value (B, M, D) -> (B, N, D)."""
        q, k, v = self._split(self.q(query)), self._split(self.k(key)), self._split(self.v(key))
        p = self.dropout if self.training else 0.0
        # (B, G, N, D/G)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)
        return self.out(y.transpose(1, 2).flatten(2))

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) -> (B, G, N, D/G)."""
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)


class ReferenceNorm(nn.Module):
    """The reference code's layer normalisation: weight * (x - mean) / (std + eps) + bias over the
    last axis, std the unbiased (n - 1) standard deviation and eps outside the square root.

    Same parameters (`weight`, `bias`, shape (D,)) as nn.LayerNorm, so their weights swap freely;
    the two differ by about 1 / (2n) relative (REFERENCE.md section 10).
    """

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., D) -> (..., D)."""
        mean = x.mean(dim=-1, keepdim=True)
        std = x.std(dim=-1, keepdim=True)  # unbiased
        return self.weight * (x - mean) / (std + self.eps) + self.bias


def make_norm(kind: str, d_model: int) -> nn.Module:
    """The normalisation a ModelConfig's `norm` names: "layernorm" or "reference"."""
    if kind == "layernorm":
        return nn.LayerNorm(d_model)
    if kind == "reference":
        return ReferenceNorm(d_model)
    raise ValueError(f"unknown norm {kind!r}; choose 'layernorm' or 'reference'")


class FeedForward(nn.Sequential):
    """Linear(D -> F) -> ReLU -> dropout -> Linear(F -> D)."""

    def __init__(self, d_model: int, ffn_dim: int, dropout: float) -> None:
        super().__init__(nn.Linear(d_model, ffn_dim), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(ffn_dim, d_model))


class EncoderLayer(nn.Module):
    """Post-norm: x = norm(x + drop(self_attn(x))); x = norm(x + drop(ffn(x)))."""

    def __init__(self, d_model: int, heads: int, ffn_dim: int, dropout: float,
                 norm: str = "layernorm") -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, heads, dropout)
        self.ffn = FeedForward(d_model, ffn_dim, dropout)
        self.norm1, self.norm2 = make_norm(norm, d_model), make_norm(norm, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        """x (B, N, D), attn_mask (N, N) bool or None -> (B, N, D)."""
        x = self.norm1(x + self.drop(self.self_attn(x, x, attn_mask)))
        return self.norm2(x + self.drop(self.ffn(x)))


class DecoderLayer(nn.Module):
    """Post-norm: self-attention over the queries, cross-attention to the memory, feed-forward."""

    def __init__(self, d_model: int, heads: int, ffn_dim: int, dropout: float,
                 norm: str = "layernorm") -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, heads, dropout)
        self.ffn = FeedForward(d_model, ffn_dim, dropout)
        self.norm1, self.norm2, self.norm3 = (make_norm(norm, d_model) for _ in range(3))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """x (B, N, D) queries, memory (B, M, D) -> (B, N, D)."""
        x = self.norm1(x + self.drop(self.self_attn(x, x)))
        x = self.norm2(x + self.drop(self.cross_attn(x, memory)))
        return self.norm3(x + self.drop(self.ffn(x)))


def other_frame_mask(frames: int, tokens_per_frame: int,
                     device: torch.device) -> torch.Tensor | None:
    """(T*P, T*P) bool, True where query and key lie in different frames (tokens frame-major).

    None when T == 1: every key would be masked and softmax would give NaN, so a single frame
    attends within itself (the only information there is).
    """
    if frames == 1:
        return None
    frame = torch.arange(frames, device=device).repeat_interleave(tokens_per_frame)  # (T*P,)
    return frame[:, None] != frame[None, :]
