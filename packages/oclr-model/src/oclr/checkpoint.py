"""Training checkpoints: written atomically, read back with `torch.load(weights_only=True)` only.

A checkpoint is a dict saved with `torch.save` that holds tensors and plain data only (dicts, lists,
str, int, float, bool, None), so reading one never unpickles an object, and a crafted file cannot
run code when it is opened:

- "format": CHECKPOINT_FORMAT (an int, bumped when the layout changes; format 1 pickled numpy's
  random state as a numpy array object)
- "model": the network's state_dict (the bare network's, without DDP's "module." prefix)
- "model_config": `ModelConfig.to_dict()`, enough to rebuild the network alone
- "optimizer", "scheduler": their state_dicts
- "step": optimiser steps done
- "rng": random states (`rng_state()`): torch CPU and CUDA (when present) as uint8 tensors, numpy's
  MT19937 as a dict with its key as an int64 tensor, python's as a list
- "sampler": the data order's state (`oclr.data.StreamSampler.state_dict()`)
- "train_config": the training options (a plain dict)

`read_weights` / `load_model` also take the reference code's checkpoints (a dict with
"model_state_dict"), told apart by content (`oclr.reference_weights`).

`read_checkpoint` raises `CheckpointError` (an InputError: one line, exit status 2 on a command
line) naming the file and saying in words what is wrong: missing, empty, truncated, not a torch
file, written by an older oclr, or holding pickled objects that would have to run to be read.
"""

from __future__ import annotations

import os
import pickle
import random
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from layersynth.errors import InputError

from oclr.config import ModelConfig
from oclr.model import OCLR
from oclr.outputs import os_problem
from oclr.reference_weights import (
    REFERENCE_KEY,
    ReferenceFormatError,
    first_misfit,
    from_reference,
    is_reference_checkpoint,
)

CHECKPOINT_FORMAT = 2
# What format 1 pickled beyond weights_only's plain data: numpy's random state, an ndarray.
FORMAT_1_OBJECTS = frozenset({
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.ndarray",
    "numpy.dtype", "numpy.dtypes.UInt32DType",
})
# The first bytes of a legacy (pre-zip) torch.save file: a pickled magic number.
LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"
NOT_UNPICKLED = ("not unpickled, because unpickling can run any code a file names; oclr reads "
                 "checkpoints as tensors and plain data only")


class CheckpointError(InputError):
    """A checkpoint file that cannot be read or used; the message names the file."""


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write `state` to `path` atomically: a temporary file in the same folder, then os.replace.

    A run killed while saving, or a full disk, leaves the previous checkpoint intact and no
    temporary behind; a failed write raises CheckpointError naming `path`.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            torch.save({"format": CHECKPOINT_FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise CheckpointError(f"{path}: cannot write the checkpoint: {os_problem(err)}") from err
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load an oclr checkpoint dict with weights_only=True; CheckpointError naming the file if it
    is damaged, not a torch file, not one of ours, or holds objects that only a full unpickle (which
    can run code) would rebuild."""
    path = Path(path)
    state = _load_file(path, map_location)
    if is_reference_checkpoint(state):
        raise CheckpointError(f"{path}: the reference code's checkpoint format ({REFERENCE_KEY}): "
                              "weights only, not an oclr training run; `oclr-train --init` "
                              "starts a run from it and `oclr.load_model` reads it")
    _check_own(path, state)
    return state


def _load_file(path: Path, map_location) -> Any:
    """`_load` of a path that must be a file; CheckpointError for a folder or a missing file."""
    if not path.is_file():
        what = "a folder, not a checkpoint file" if path.is_dir() else "no such checkpoint"
        raise CheckpointError(f"{path}: {what}")
    return _load(path, map_location)


def _load(path: Path, map_location) -> Any:
    damage = file_damage(path)
    if damage:
        raise CheckpointError(f"{path}: {damage}")
    try:
        with warnings.catch_warnings():  # torch's warnings about a foreign pickle's protocol
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"{path}: {refusal(path)}") from None
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read it: {os_problem(err)}") from None
    except Exception as err:  # torch raises many unrelated types for a damaged file
        raise CheckpointError(f"{path}: damaged: torch cannot read it ({_first_words(err)})") \
            from None


def file_damage(path: Path) -> str | None:
    """What is visibly wrong with a torch checkpoint file, in words (None: nothing seen).

    torch.save writes a zip archive (legacy torch: a pickle); a cut-off archive lacks the
    directory a zip ends with."""
    size = path.stat().st_size
    if size == 0:
        return "empty file (0 bytes): not a checkpoint"
    with open(path, "rb") as f:
        head = f.read(len(LEGACY_MAGIC))
    if head.startswith(b"PK"):
        if not zipfile.is_zipfile(path):
            return f"truncated: a torch checkpoint cut short at {size} bytes (the end is missing)"
        with zipfile.ZipFile(path) as archive:
            if not any(n.rpartition("/")[2] == "data.pkl" for n in archive.namelist()):
                return "a zip archive, but not a torch checkpoint (no data.pkl inside)"
        return None
    if head == LEGACY_MAGIC:
        return None
    if head.startswith(b"\x80"):
        return "a plain pickle, not a torch checkpoint (not unpickled: that can run code)"
    return "not a torch checkpoint file (neither the zip archive torch.save writes nor a pickle)"


def torch_file_problem(path: str | os.PathLike) -> str | None:
    """What would stop `path` (any torch.save file, e.g. RAFT weights) from loading with
    weights_only=True, found without unpickling anything: damage, or pickled objects beyond
    tensors and plain data. None when nothing is seen."""
    path = Path(path)
    damage = file_damage(path)
    if damage or not zipfile.is_zipfile(path):
        return damage  # a legacy file: torch.load itself decides
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a layout torch can list: leave the verdict to torch.load
        return None
    return refusal(path) if unsafe else None


def refusal(path: Path) -> str:
    """Why a file that weights_only refused is not unpickled: the objects it names are listed by
    reading its pickle's opcodes, nothing in it runs."""
    try:
        names = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # a legacy or hand-made pickle: its opcodes cannot be listed this way
        names = set()
    if names and names <= FORMAT_1_OBJECTS:
        return ("written by an older oclr (checkpoint format 1, which pickled numpy's random state "
                f"as an object); {NOT_UNPICKLED}; oclr.checkpoint.upgrade_checkpoint(PATH) "
                "rewrites it in the current format without running anything from it")
    shown = f" ({', '.join(sorted(names)[:3])})" if names else ""
    return f"holds pickled Python objects{shown} beyond tensors and plain data: {NOT_UNPICKLED}"


def _first_words(err: Exception) -> str:
    text = str(err).split(". ")[0].splitlines()[0] if str(err) else ""
    return text[:120] or err.__class__.__name__


def upgrade_checkpoint(path: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Rewrite a format-1 checkpoint (`path`, or `out` if given) in the current format.

    Read with weights_only=True allowing numpy's array reconstruction only (what format 1 pickled:
    numpy's random state), so nothing else in the file can run; the numpy state becomes plain data.
    """
    path = Path(path)
    allowed = [np.ndarray, np.dtype, type(np.dtype(np.uint32)), _np_reconstruct()]
    with torch.serialization.safe_globals(allowed):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            raise CheckpointError(f"{path}: {refusal(path)}") from None
    rng = state.get("rng")
    if isinstance(rng, dict) and isinstance(rng.get("numpy"), tuple):
        kind, key, pos, has_gauss, gauss = rng["numpy"]
        rng["numpy"] = _numpy_plain({"bit_generator": kind, "state": {"key": key, "pos": pos},
                                     "has_gauss": has_gauss, "gauss": gauss})
        rng["python"] = _python_plain(rng["python"])
    return save_checkpoint({k: v for k, v in state.items() if k != "format"}, out or path)


def _np_reconstruct():
    core = getattr(np, "_core", None) or np.core
    return core.multiarray._reconstruct


def model_from_state(state: dict, device: str | torch.device = "cpu",
                     source: str | os.PathLike = "checkpoint") -> torch.nn.Module:
    """Rebuild the network from an oclr checkpoint dict and load its weights (eval mode); a config
    or weights that do not make the network -> CheckpointError naming `source`."""
    config, weights = _own_weights(state, source)
    return build_with_weights(config, weights, source).to(device).eval()


def _own_weights(state: dict, source) -> tuple[ModelConfig, dict]:
    try:
        config = ModelConfig.from_dict(dict(state["model_config"]))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{source}: model_config: {err}") from None
    if not isinstance(state["model"], dict):
        raise CheckpointError(f"{source}: 'model' is a {type(state['model']).__name__}, not a "
                              "state dict of tensors")
    return config, state["model"]


def build_with_weights(config: ModelConfig, weights: dict, source) -> OCLR:
    """OCLR(config) holding `weights` (our names); CheckpointError naming `source` and the first
    tensor that is missing, of another shape, or unexpected."""
    model = OCLR(config)
    load_weights(model, weights, source)
    return model


def load_weights(model: OCLR, weights: dict, source) -> None:
    """Copy `weights` (our names) into `model`, or CheckpointError naming `source` and the first
    tensor that does not fit, with its shape."""
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    problem = first_misfit(expected, weights)
    if problem:
        raise CheckpointError(f"{source}: the weights do not fit the network its model_config "
                              f"describes: {problem}")
    model.load_state_dict(weights)


def read_weights(path: str | os.PathLike,
                 map_location: str | torch.device = "cpu") -> tuple[ModelConfig, dict, str]:
    """(config, state dict in our names, format) of any checkpoint the tools accept, detected from
    its content: "oclr" (what oclr-train writes) or "reference" (the reference code's dict with
    `model_state_dict`, `oclr.reference_weights`). Anything else -> CheckpointError naming the
    file and the first thing that does not fit."""
    config, weights, kind, _ = _read_any(Path(path), map_location)
    return config, weights, kind


def _read_any(path: Path, map_location) -> tuple[ModelConfig, dict, str, str | None]:
    """read_weights' three, plus the flow the run trained on ("gt", "dis", "raft"; None when the
    checkpoint does not say: the reference code's, or one without a train_config)."""
    state = _load_file(path, map_location)
    if is_reference_checkpoint(state):
        try:
            config, weights = from_reference(state[REFERENCE_KEY])
        except ReferenceFormatError as err:
            raise CheckpointError(f"{path}: the reference code's checkpoint format "
                                  f"({REFERENCE_KEY}), but its weights do not make the OCLR "
                                  f"network: {err}") from None
        return config, weights, "reference", None
    _check_own(path, state)
    config, weights = _own_weights(state, path)
    train = state.get("train_config")
    flow = train.get("flow") if isinstance(train, dict) else None
    return config, weights, "oclr", flow if isinstance(flow, str) else None


def _check_own(path: Path, state: object) -> None:
    """CheckpointError unless `state` is an oclr checkpoint dict of a format this oclr reads."""
    if not isinstance(state, dict) or "model" not in state or "model_config" not in state:
        held = (f"its keys: {', '.join(map(str, list(state)[:4]))}"
                if isinstance(state, dict) else f"it holds a {type(state).__name__}")
        raise CheckpointError(f"{path}: not an oclr checkpoint (no 'model'/'model_config') nor "
                              f"the reference code's (no '{REFERENCE_KEY}'); {held}")
    found = state.get("format", 1)
    if not isinstance(found, int) or found > CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {found!r}, newer than this oclr's "
                              f"{CHECKPOINT_FORMAT}; update oclr to read it")


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The trained network stored at `path` (an oclr or a reference-code checkpoint, told apart
    by content), on `device`, in eval mode."""
    return load_trained(path, device)[0]


def load_trained(path: str | os.PathLike,
                 device: str | torch.device = "cpu") -> tuple[torch.nn.Module, str | None]:
    """(load_model's network, the flow its run trained on: "gt", "dis", "raft", or None when the
    checkpoint does not record it), from one read of the file."""
    config, weights, _, flow = _read_any(Path(path), "cpu")
    return build_with_weights(config, weights, path).to(device).eval(), flow


def rng_state() -> dict[str, Any]:
    """Every random state a training step can touch (dropout, data order helpers), as tensors and
    plain data (what weights_only reads back)."""
    state = {
        "torch": torch.get_rng_state(),
        # legacy global states: nothing here draws from them, but user code and libraries may
        "numpy": _numpy_plain(np.random.get_state(legacy=False)),  # noqa: NPY002
        "python": _python_plain(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _numpy_plain(state: dict) -> dict:
    """numpy's MT19937 state dict with its (624,) uint32 key as an int64 tensor."""
    key = np.asarray(state["state"]["key"]).astype(np.int64)
    return {"bit_generator": str(state["bit_generator"]), "key": torch.from_numpy(key),
            "pos": int(state["state"]["pos"]), "has_gauss": int(state["has_gauss"]),
            "gauss": float(state["gauss"])}


def _python_plain(state: tuple) -> list:
    version, internal, gauss_next = state
    return [version, list(internal), gauss_next]


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state()` captured (CUDA only when both sides have it)."""
    torch.set_rng_state(state["torch"].cpu())
    np_state = state["numpy"]
    np.random.set_state({  # noqa: NPY002
        "bit_generator": np_state["bit_generator"],
        "state": {"key": np_state["key"].cpu().numpy().astype(np.uint32), "pos": np_state["pos"]},
        "has_gauss": np_state["has_gauss"], "gauss": np_state["gauss"],
    })
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
