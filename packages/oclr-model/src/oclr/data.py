"""Clips for training and evaluation, read from layersynth shards through `layersynth.open_dataset`.

This is the one place where the on-disk numpy layout becomes the model's torch layout:

    shard (numpy)                ShardClips item (torch; the loader adds the batch axis B)
    flow_X  (T, 2, H, W, 2) f32  flow   (T, 4, Hm, Wm) f32 [u+1, v+1, u-1, v-1], px at Hm x Wm
    amodal  (K, T, H, W) bool    amodal (T, Km, Hm, Wm) f32 in {0, 1}, padded with empty layers
    modal   (T, H, W) u8         modal  (T, Hm, Wm) i64, 0 background, k + 1 = layer k
    order   (T, K) int16 ranks   frame_order (T, Km) i64 each frame's depth ranks, 0 = front-most
    per frame (schema 1: (K,),   order  (Km,) i64 the clip's one order: the one held at the most
    read repeated over T)               frames of the clip (frame_order's majority)
                                 valid  (Km,) bool, True for the sequence's real objects
    (padded layers get rank Km in both orders)

Layer 0 is the front-most object at a sequence's first frame, in the shard and in the items (at
every frame for a sequence of one order). Hm x Wm, Km and the clip length Tm are the model's. A
sequence longer than Tm gives several clips (non-overlapping windows, the last one aligned to the
end, as in the evaluation protocol); a shorter one is padded by repeating its last frame.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import layersynth
import numpy as np
import torch
import torch.nn.functional as F
from layersynth.errors import InputError
from layersynth.store.oclr_export import clip_order

from oclr.windows import window_starts

FLOW_KEYS = {"gt": "flow_gt", "raft": "flow_raft", "dis": "flow_dis"}
# oclr-train's choice when --flow is not given: estimated flow first, the best first, because real
# video only ever gives estimated flow (the paper trains on RAFT); ground truth last.
FLOW_PREFERENCE = ("raft", "dis", "gt")


class ClipError(InputError, ValueError):
    """A dataset or clip that cannot be read, or does not fit the model; names the folder (and
    the sequence). A ValueError too, as these were before they were input errors."""


@dataclass(frozen=True)
class ClipShape:
    """What the model takes: clip length, object layers, height and width (pixels)."""

    frames: int
    layers: int
    height: int
    width: int

    @classmethod
    def of_model(cls, model_config) -> ClipShape:
        """From an oclr ModelConfig (fields `frames`, `num_objects`, `height`, `width`)."""
        c = model_config
        return cls(frames=c.frames, layers=c.num_objects, height=c.height, width=c.width)


def open_reader(path: str | os.PathLike):
    """`layersynth.open_dataset(path)`, with a missing folder reported as FileNotFoundError."""
    if not Path(path).is_dir():
        raise FileNotFoundError(f"{path}: no such dataset folder")
    return layersynth.open_dataset(path)


class ShardClips(torch.utils.data.Dataset):
    """Fixed-shape clips of a layersynth folder (see the module docstring for the item layout).

    The reader is opened lazily, once per process: DataLoader workers each open their own HDF5
    handles after the fork instead of inheriting the parent's (h5py handles must not cross a fork).
    Item i is (sequence, window) pair i in sequence-id order; `.clip_ids[i]` names it.
    """

    def __init__(self, root: str | os.PathLike, shape: ClipShape, *, flow: str = "gt"):
        if flow not in FLOW_KEYS:
            raise ValueError(f"flow must be one of {sorted(FLOW_KEYS)}, got {flow!r}")
        self.root, self.shape, self.flow_key = Path(root), shape, FLOW_KEYS[flow]
        self.names = ("amodal", "modal", "order", self.flow_key)
        self._reader, self._pid = None, None
        reader = self.reader()
        self.seq_ids = list(reader.ids)
        check_dataset(self.root, reader, flow)
        self.clips = [(sid, s) for sid in self.seq_ids for s in self._starts(reader, sid)]
        self._reader = None  # the parent drops its handles so forked workers start clean

    @property
    def clip_ids(self) -> list[str]:
        return [f"{sid}@{start}" for sid, start in self.clips]

    def reader(self):
        if self._reader is None or self._pid != os.getpid():
            self._reader, self._pid = open_reader(self.root), os.getpid()
        return self._reader

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_reader": None, "_pid": None}

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sid, start = self.clips[index]
        window = slice(start, start + self.shape.frames)
        try:
            arrays = read_arrays(self.reader(), sid, self.names, window)
        except (OSError, KeyError) as err:  # what h5py raises for bytes it cannot decode
            raise ClipError(f"{self.root}: sequence {sid} is unreadable: {err}") from err
        if arrays["amodal"].shape[0] > self.shape.layers:
            raise ClipError(
                f"{self.root}: sequence {sid} has {arrays['amodal'].shape[0]} objects, "
                f"more than the model's {self.shape.layers} layers"
            )
        return clip_item(arrays, self.flow_key, self.shape)

    def _starts(self, reader, sid: str) -> list[int]:
        return window_starts(sequence_length(reader, sid), self.shape.frames)


def check_dataset(root: Path, reader, flow: str) -> None:
    """ClipError naming `root` when its dataset (opened as `reader`) holds no sequence or lacks
    the `flow` ("gt", "raft", "dis") asked for."""
    ids = list(reader.ids)
    if not ids:
        raise ClipError(f"{root}: the dataset holds no sequences")
    keys = available_flows(reader, ids[0])
    if FLOW_KEYS[flow] not in keys:
        have = sorted(name for name, key in FLOW_KEYS.items() if key in keys)
        hint = f"; add it with `layersynth flow {root} --method {flow}`"
        raise ClipError(f"{root}: no '{flow}' flow in this dataset (it has: "
                        f"{', '.join(have) or 'none'})" + (hint if flow != "gt" else ""))


def read_arrays(reader, seq_id: str, names: tuple[str, ...],
                frames: slice | None = None) -> dict[str, np.ndarray]:
    """The named arrays of a sequence, only `frames` along T if given (layersynth's
    `read(id, names, frames)` reads just those chunks; any other reader is sliced here)."""
    if hasattr(reader, "read"):
        return reader.read(seq_id, list(names), frames, gaps=(1,))  # the model takes +-1
    arrays = {n: reader[seq_id][n] for n in names}
    if frames is None:
        return arrays
    t_axis = {"amodal": 1}
    return {n: a if n == "order" and a.ndim == 1 else  # a (K,) order holds every frame
            (a[:, frames] if t_axis.get(n, 0) == 1 else a[frames]) for n, a in arrays.items()}


def best_flow(*roots: str | os.PathLike | None) -> str | None:
    """The first flow of FLOW_PREFERENCE that every given dataset folder holds; None when a folder
    cannot be read or they share none (the run's own checks then name the problem)."""
    shared = set(FLOW_KEYS)
    for root in (r for r in roots if r is not None):
        shared &= held_flows(root)
    return next((name for name in FLOW_PREFERENCE if name in shared), None)


def held_flows(root: str | os.PathLike) -> set[str]:
    """The flows ("gt", "dis", "raft") a dataset folder holds, read from its first sequence; empty
    when the folder cannot be read or holds no sequence."""
    try:
        reader = open_reader(root)
        ids = list(reader.ids)
        if not ids:
            return set()
        held = available_flows(reader, ids[0])
    except (OSError, InputError, ValueError, KeyError):
        return set()
    return {name for name, key in FLOW_KEYS.items() if key in held}


def available_flows(reader, seq_id: str) -> set[str]:
    """Flow array names of the dataset ("flow_gt", "flow_dis", ...)."""
    if hasattr(reader, "flow_methods"):
        return {f"flow_{m}" for m in reader.flow_methods}
    return {k for k in reader[seq_id] if k.startswith("flow_")}


def sequence_length(reader, seq_id: str) -> int:
    """Frames of a sequence: the dataset's `frames` setting when it records one (layersynth keeps
    it under settings["scene"]), else a read."""
    settings = getattr(reader, "settings", None) or {}
    frames = settings.get("frames", (settings.get("scene") or {}).get("frames"))
    if isinstance(frames, int):
        return frames
    return int(read_arrays(reader, seq_id, ("modal",))["modal"].shape[0])


def clip_item(
    arrays: dict[str, np.ndarray], flow_key: str, shape: ClipShape, start: int = 0
) -> dict[str, torch.Tensor]:
    """One sequence's arrays -> one model-shaped clip starting at frame `start`."""
    frames = frame_indices(arrays["modal"].shape[0], start, shape.frames)
    amodal = torch.from_numpy(np.ascontiguousarray(arrays["amodal"][:, frames]))  # (K, T, H, W)
    n_obj = amodal.shape[0]
    flow = flow_input(torch.from_numpy(np.ascontiguousarray(arrays[flow_key][frames])))
    modal = torch.from_numpy(np.ascontiguousarray(arrays["modal"][frames])).long()  # (T, H, W)
    amodal = amodal.permute(1, 0, 2, 3).float()  # (T, K, H, W)
    flow, amodal, modal = resize_clip(flow, amodal, modal, shape.height, shape.width)
    amodal, valid = pad_layers(amodal, shape.layers)
    order, frame_order = clip_orders(arrays["order"], frames, shape.layers)
    return {
        "flow": flow,
        "amodal": amodal,
        "modal": modal,
        "order": order,
        "frame_order": frame_order,
        "valid": valid,
        "n_objects": torch.tensor(n_obj),
    }


def clip_orders(stored: np.ndarray, frames: np.ndarray, layers: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """(order (layers,), frame_order (len(frames), layers)) int64 of a sequence's stored order
    (T, K) (or (K,): one order, the same at every frame) at `frames`: each frame's ranks, and the
    majority of them (`clip_order`: the order held at the most of the frames, the earliest on a
    tie), what a global order head is trained and scored by. Padded layers get rank `layers`."""
    k = stored.shape[-1]
    rows = np.reshape(stored, (-1, k))  # (T, K), or (1, K) for a (K,) order
    per_frame = rows[np.minimum(frames, len(rows) - 1)].astype(np.int64)  # (Tm, K)
    frame_order = torch.full((len(frames), layers), layers, dtype=torch.long)
    order = torch.full((layers,), layers, dtype=torch.long)
    if k:
        frame_order[:, :k] = torch.from_numpy(per_frame)
        order[:k] = torch.from_numpy(np.array(clip_order(per_frame), dtype=np.int64))
    return order, frame_order


def frame_indices(length: int, start: int, frames: int) -> np.ndarray:
    """`frames` indices from `start`, repeating the last frame past the end of the sequence."""
    return np.minimum(np.arange(start, start + frames), length - 1)


def flow_input(flow: torch.Tensor) -> torch.Tensor:
    """(T, 2, H, W, 2) flow, gap 0 = +1, gap 1 = -1, last axis (u, v) -> (T, 4, H, W)
    channels [u+1, v+1, u-1, v-1]."""
    t, _, h, w, _ = flow.shape
    return flow.permute(0, 1, 4, 2, 3).reshape(t, 4, h, w).float()


def resize_clip(
    flow: torch.Tensor, amodal: torch.Tensor, modal: torch.Tensor, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Resize a clip to height x width: flow (T, 4, H, W) bilinearly with u scaled by width / W and
    v by height / H (flow is in pixels of its own grid); amodal (T, K, H, W) bilinearly then
    thresholded at 0.5; modal labels (T, H, W) by nearest neighbour. No-op at the same size."""
    h, w = flow.shape[-2:]
    if (h, w) == (height, width):
        return flow, amodal, modal
    size = (height, width)
    flow = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    scale = torch.tensor([width / w, height / h, width / w, height / h], dtype=flow.dtype)
    flow = flow * scale.view(1, 4, 1, 1)
    if amodal.shape[1] > 0:
        amodal = F.interpolate(amodal, size=size, mode="bilinear", align_corners=False)
        amodal = (amodal > 0.5).float()
    else:
        amodal = amodal.new_zeros(amodal.shape[0], 0, height, width)
    modal = F.interpolate(modal[:, None].float(), size=size, mode="nearest")[:, 0].long()
    return flow, amodal, modal


def pad_layers(amodal: torch.Tensor, layers: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, K, H, W) -> (T, layers, H, W) with empty channels appended, and the (layers,) bool mask
    of real objects (ValueError when K > layers)."""
    t, k, h, w = amodal.shape
    if k > layers:
        raise ValueError(f"{k} object layers, more than the model's {layers}")
    valid = torch.arange(layers) < k
    pad = amodal.new_zeros(t, layers - k, h, w)
    return torch.cat([amodal, pad], dim=1), valid


class StreamSampler(torch.utils.data.Sampler):
    """An endless, deterministic order over `n` items, shared out between ranks.

    The global stream is epoch after epoch of `torch.randperm(n)` drawn from a torch.Generator
    seeded by (seed, epoch). Each optimiser step consumes `batch * world` positions of it; rank r
    takes positions [step_start + r * batch, step_start + (r + 1) * batch). So the batch of a step
    depends only on (seed, position): the state to save is the position, and a resumed run (even
    on another number of ranks, for the positions it reads) sees the same data as an unbroken one.
    """

    def __init__(self, n: int, *, seed: int, batch: int, rank: int = 0, world: int = 1,
                 position: int = 0):
        if n < 1 or batch < 1 or not 0 <= rank < world:
            raise ValueError(f"bad sampler settings n={n} batch={batch} rank={rank}/{world}")
        self.n, self.seed, self.batch, self.rank, self.world = n, seed, batch, rank, world
        self.position = position
        self._perm_epoch, self._perm = -1, None

    def permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._perm_epoch = torch.randperm(self.n, generator=gen), epoch
        return self._perm

    def index_at(self, position: int) -> int:
        return int(self.permutation(position // self.n)[position % self.n])

    def __iter__(self) -> Iterator[int]:
        """Indices for this rank from `self.position` on, forever (the loader batches them)."""
        step_start = self.position
        while True:
            first = step_start + self.rank * self.batch
            for p in range(first, first + self.batch):
                yield self.index_at(p)
            step_start += self.batch * self.world

    def advance(self, steps: int = 1) -> None:
        """Record that `steps` optimiser steps consumed their data (call once per step)."""
        self.position += steps * self.batch * self.world

    def state_dict(self) -> dict:
        return {"seed": self.seed, "position": self.position, "n": self.n}

    def load_state_dict(self, state: dict) -> None:
        if state["n"] != self.n or state["seed"] != self.seed:
            raise ValueError(f"sampler state for n={state['n']} seed={state['seed']} does not "
                             f"match this dataset (n={self.n}, seed={self.seed})")
        self.position = int(state["position"])


def build_loader(dataset: ShardClips, sampler: StreamSampler, *, workers: int,
                 pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """A loader of batches (B = sampler.batch) in the sampler's order, from its current position.

    It takes its own generator so creating it never draws from the global torch RNG (a resumed
    run's dropout stream then matches an unbroken run's)."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=sampler.batch,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=False,
        generator=torch.Generator().manual_seed(sampler.seed),
    )


def eval_loader(dataset: ShardClips, *, batch: int, workers: int = 0,
                limit: int | None = None) -> torch.utils.data.DataLoader:
    """Clips in order (the first `limit` only, if given), for validation and evaluation."""
    subset = dataset if limit is None else torch.utils.data.Subset(
        dataset, range(min(limit, len(dataset))))
    return torch.utils.data.DataLoader(subset, batch_size=batch, shuffle=False,
                                       num_workers=workers)


def loader_batches(loader: torch.utils.data.DataLoader) -> Iterator[dict[str, torch.Tensor]]:
    """The loader's batches. An input error raised in a DataLoader worker (a damaged shard's
    ShardError, a ClipError) comes out as the same error with the worker's one-line message, not
    the traceback torch wraps into it; other errors pass unchanged."""
    batches = iter(loader)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except InputError as err:
            raise unwrapped(err) from None
        yield batch


def unwrapped(err: InputError) -> InputError:
    """`err` as raised in the worker: torch re-raises it as its type built from "Caught X in
    DataLoader worker process N. Original Traceback ... module.X: message"; keep the message."""
    text = str(err)
    if "Original Traceback" not in text:
        return err
    kind, last = type(err), text.rstrip().splitlines()[-1]
    for prefix in (f"{kind.__module__}.{kind.__qualname__}: ", f"{kind.__qualname__}: "):
        if last.startswith(prefix):
            last = last[len(prefix):]
            break
    try:
        return kind(last)
    except Exception:  # a subclass with another constructor
        return InputError(last)
