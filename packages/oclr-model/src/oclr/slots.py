"""A slot-attention decoder for OCLR's queries (ModelConfig.decoder "slots"; not in the paper).

The paper's transformer decoder gives each query a softmax over the encoder's tokens, so nothing
stops two queries from reading the same tokens, and in short CPU runs the trained queries end up
one fixed vector each, the same for every clip (docs/model.md, "The learning check"). Slot
attention (Locatello et al., 2020) makes the queries compete instead: the softmax runs over the
K slots for every token, so a token one slot claims is lost to the others, and each slot becomes
the mean of the tokens it won, which follows the clip by construction. (Measured in the learning
check, it did not keep touching objects in separate layers any better: docs/model.md.)

    memory (B, T*P, D) -> `iters` competitive rounds over all the clip's tokens -> slots (B, K, D)
    -> + time embedding, one more round per frame over that frame's tokens -> (B, K, T, D)

The clip-level rounds give each slot one set of tokens for the whole clip (the matching is per
clip); the last round per frame lets the outputs follow the frame (a per-frame order head reads
them).
"""

from __future__ import annotations

import torch
from torch import nn

from oclr.attention import FeedForward


class SlotDecoder(nn.Module):
    """forward(memory (B, T*P, D), time (T,) in [-1, 1]) -> decoder outputs (B, K, T, D).

    Parameters: learned initial slots (K, D), q/k/v projections without bias, a GRU cell for the
    update, a residual feed-forward, three LayerNorms and the time embedding Linear(1 -> D).
    """

    def __init__(self, num_slots: int, d_model: int, ffn_dim: int, iters: int,
                 eps: float = 1e-8) -> None:
        super().__init__()
        self.iters, self.eps, self.scale = iters, eps, d_model ** -0.5
        self.init = nn.Parameter(torch.randn(num_slots, d_model))
        self.time_embed = nn.Linear(1, d_model)
        self.norm_tokens, self.norm_slots, self.norm_ffn = (nn.LayerNorm(d_model)
                                                            for _ in range(3))
        self.q, self.k, self.v = (nn.Linear(d_model, d_model, bias=False) for _ in range(3))
        self.gru = nn.GRUCell(d_model, d_model)
        self.ffn = FeedForward(d_model, ffn_dim, 0.0)

    def forward(self, memory: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        b, t = memory.shape[0], time.shape[0]
        tokens = self.norm_tokens(memory)
        keys, values = self.k(tokens), self.v(tokens)  # (B, T*P, D)
        slots = self.init[None].expand(b, -1, -1).to(memory.dtype)  # (B, K, D)
        for _ in range(self.iters):
            slots = self.step(slots, keys, values)
        frames = slots[:, None] + self.time_embed(time[:, None])[None, :, None]  # (B, T, K, D)
        out = self.step(frames.flatten(0, 1), keys.unflatten(1, (t, -1)).flatten(0, 1),
                        values.unflatten(1, (t, -1)).flatten(0, 1))  # (B*T, K, D)
        return out.unflatten(0, (b, t)).transpose(1, 2)

    def step(self, slots: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """One round: slots (N, K, D), keys and values (N, M, D) -> slots (N, K, D). Softmax over
        the slots for each token, then each slot's weighted mean of the values drives its GRU."""
        logits = self.q(self.norm_slots(slots)) @ keys.transpose(1, 2) * self.scale  # (N, K, M)
        updates = competitive_means(logits, values, self.eps)  # (N, K, D)
        n, k, d = slots.shape
        slots = self.gru(updates.reshape(-1, d), slots.reshape(-1, d)).reshape(n, k, d)
        return slots + self.ffn(self.norm_ffn(slots))


def competitive_means(logits: torch.Tensor, values: torch.Tensor,
                      eps: float = 1e-8) -> torch.Tensor:
    """logits (N, K, M) slot-token scores, values (N, M, D) -> (N, K, D): every token's softmax
    over the K slots (its shares sum to 1), then each slot's mean of the values weighted by its
    shares. A slot that wins no token gets the plain mean (eps keeps it finite)."""
    share = torch.softmax(logits, dim=1) + eps
    return (share / share.sum(-1, keepdim=True)) @ values
