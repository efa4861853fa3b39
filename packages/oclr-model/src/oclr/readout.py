"""What evaluation and inference read off a trained network: its layers and their depth order.

One place for both (`oclr.eval_shards.score_loader`, `oclr.infer.run_windows`), so a Syn-val
figure and an `oclr-infer` result come from the same reading of the same forward:

- layers: the float32 amodal probabilities, with the layers that copy a surer one emptied when
  ModelConfig.copies is "drop" (`oclr.copies`);
- order: the order head's scores when ModelConfig.order_readout is "head" (the paper's), else
  the parameter-free readout `oclr.occlusion_order` on the network's own probabilities (before
  copies are dropped, as the occlusion heads do): "occlusion" one order per clip (B, K),
  "occlusion_frame" one per frame (B, T, K);
- spare layers: with ModelConfig.objectness, the layers the objectness head judges to hold no
  object are put behind all the others (ModelConfig.spares "behind") or emptied ("drop");
  `oclr.objectness`.

Training never reads through here: the loss takes the raw outputs, so a network trained with the
learned global head (whose order and modal terms reach the queries) can be read with the
occlusion readout. Measured (docs/training.md, "Depth order that changes"): issue 16's three
global-head networks read this way rank 0.684 of the (frame, pair) cases of the "reorder" split
right, against 0.529 with their own head, for modal J 0.493 against 0.529.
"""

from __future__ import annotations

import torch

from oclr.config import ORDER_READOUTS, SPARES
from oclr.copies import THRESHOLD, drop_copies
from oclr.objectness import spares_behind
from oclr.occlusion_order import occlusion_order


def read_network(model: torch.nn.Module, flow: torch.Tensor, threshold: float = THRESHOLD
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """flow (B, T, 4, H, W) -> (amodal probabilities (B, T, K, H, W) float32, order scores (B, K)
    or (B, T, K) float32, lower = nearer), read as the model's config says (module docstring);
    copies are judged on masks at `threshold`, the one the caller composites with."""
    cfg = getattr(model, "cfg", None)
    spares = (spare_reading(cfg) if cfg is not None else None) or "keep"
    asked = spares != "keep"
    logits, scores, *objectness = model(flow, objectness=True) if asked else model(flow)
    prob = torch.sigmoid(logits.float())
    readout = getattr(cfg, "order_readout", "head")
    if readout != "head":
        scores = occlusion_order(prob, flow.float(), per_frame=readout == "occlusion_frame")
    if spares == "behind":
        scores = spares_behind(scores.float(), objectness[0].float())
    elif spares == "drop":
        prob = prob * (objectness[0] >= 0).float()[:, None, :, None, None]
    if getattr(cfg, "copies", "keep") == "drop":
        prob = drop_copies(prob, threshold)
    return prob, scores.float()


def order_source(cfg) -> str:
    """The name of what gives a ModelConfig's order at evaluation and inference: the readout
    when one is set, else its order head (what `oclr-infer`'s summary reports)."""
    return cfg.order_head if cfg.order_readout == "head" else cfg.order_readout


def spare_reading(cfg) -> str | None:
    """What evaluation and inference do with the layers a ModelConfig's objectness head calls
    spare ("drop", "behind", "keep"; ModelConfig.spares), or None without the head."""
    return cfg.spares if getattr(cfg, "objectness", False) else None


def with_reading(model: torch.nn.Module, order_readout: str | None = None,
                 spares: str | None = None) -> torch.nn.Module:
    """`model` read with the order readout `order_readout` (ORDER_READOUTS) and what is done with
    its spare layers, `spares` (SPARES; a network with an objectness head only), instead of its
    config's, for `oclr-eval` and `oclr-infer`'s --order-readout and --spares: a shallow copy
    sharing the weights, so the caller's model is unchanged; None for both gives `model` itself.
    ValueError naming the choices for another value, or saying that the network has no
    objectness head for `spares`."""
    import copy
    import dataclasses

    check_reading(order_readout, spares)
    if order_readout is None and spares is None:
        return model
    if spares is not None and not model.cfg.objectness:
        raise ValueError(f"spares {spares!r} needs a network with an objectness head "
                         "(ModelConfig.objectness); this one has none")
    fields = {"order_readout": order_readout, "spares": spares}
    read = copy.copy(model)
    read.cfg = dataclasses.replace(model.cfg, **{k: v for k, v in fields.items() if v is not None})
    return read


def check_reading(order_readout: str | None, spares: str | None = None) -> None:
    """ValueError unless `order_readout` is None (the checkpoint's own) or one of ORDER_READOUTS,
    and `spares` None or one of SPARES: the check of every run config that takes these
    overrides."""
    if order_readout not in (None, *ORDER_READOUTS):
        raise ValueError(f"order_readout must be one of {list(ORDER_READOUTS)} or None, got "
                         f"{order_readout!r}")
    if spares not in (None, *SPARES):
        raise ValueError(f"spares must be one of {list(SPARES)} or None, got {spares!r}")
