"""DAVIS-format mask files: palette PNGs of object ids, and folders of them.

Layout: ROOT/<seq>/<frame>.png, one folder per sequence, one PNG per frame; frames are matched
between folders by file name (the extension in any case) and taken in sorted order.

A label image is an (H, W) uint8 array: 0 background, k = object k (1..20 in predictions),
255 void (ground truth only: excluded from scoring). On disk it is a mode "P" PNG carrying the
standard DAVIS palette (the PASCAL VOC colour map: id 1 dark red, 2 green, ..., 255 cream).
DAVIS 2016 annotations are binary grayscale PNGs (0 and 255): those read as object 1, never as
void. Problems with a file raise `MaskFormatError` naming the file (a `UsageError`: the command
lines report it in one line, exit status 2).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from layersynth.errors import UsageError
from PIL import Image, UnidentifiedImageError


class MaskFormatError(UsageError):
    """A mask file or folder that is not in the DAVIS layout or format."""


def davis_palette() -> bytes:
    """The 256-colour DAVIS palette as 768 bytes (r, g, b per id), the PASCAL VOC colour map:
    the bits of the id are spread, three at a time, over the high bits of r, g and b."""
    ids = np.arange(256)
    rgb = np.zeros((256, 3), np.uint8)
    for shift in range(8):
        for channel in range(3):
            bit = (ids >> (3 * shift + channel)) & 1
            rgb[:, channel] |= (bit << (7 - shift)).astype(np.uint8)
    return rgb.tobytes()


_PALETTE = davis_palette()


def write_label_png(path: str | os.PathLike, labels: np.ndarray) -> None:
    """Write an (H, W) uint8 label image as a DAVIS palette PNG (mode "P")."""
    labels = np.ascontiguousarray(labels)
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f"labels must be (H, W) uint8, got {labels.shape} {labels.dtype}")
    image = Image.frombytes("P", (labels.shape[1], labels.shape[0]), labels.tobytes())
    image.putpalette(_PALETTE)
    image.save(path, format="PNG")


def read_label_png(path: str | os.PathLike, *, allow_binary: bool = True) -> np.ndarray:
    """Read a DAVIS mask PNG -> (H, W) uint8 label image.

    Mode "P": pixel values are the ids (255 void). Grayscale ("L" or "1") holding only 0 and
    255 (DAVIS 2016): 255 becomes object 1, when `allow_binary`. Anything else raises
    MaskFormatError naming the file.
    """
    try:
        with Image.open(path) as image:
            mode = image.mode
            array = np.asarray(image)
    except (OSError, UnidentifiedImageError, SyntaxError) as err:
        raise MaskFormatError(f"{path}: cannot read as a PNG image ({err})") from None
    if mode == "P":
        return np.asarray(array, dtype=np.uint8)
    if mode in ("L", "1") and allow_binary:
        return _binary_as_object(path, array)
    kind = "a palette (mode P) PNG of object ids"
    if allow_binary:
        kind += " or a binary 0/255 grayscale PNG"
    raise MaskFormatError(f"{path}: a mode {mode} image, expected {kind}")


def _binary_as_object(path: str | os.PathLike, array: np.ndarray) -> np.ndarray:
    if array.dtype == bool:
        return array.astype(np.uint8)
    values = np.unique(array)
    if not np.isin(values, (0, 255)).all():
        shown = ", ".join(str(v) for v in values[:6])
        raise MaskFormatError(
            f"{path}: grayscale mask with values {shown}...: expected only 0 and 255 "
            "(or a palette PNG of object ids)"
        )
    return (array == 255).astype(np.uint8)


def list_sequences(root: str | os.PathLike, role: str) -> dict[str, dict[str, Path]]:
    """Scan ROOT/<seq>/<frame>.png -> {seq: {frame: path}}, both sorted by name.

    `role` ("--pred", "--gt") only words the errors. Hidden entries are skipped. Raises
    MaskFormatError when ROOT is missing, holds PNGs directly, or holds no sequence folder
    with PNG frames.
    """
    root = Path(root)
    if not root.is_dir():
        raise MaskFormatError(f"{role} {root}: no such folder")
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    if any(p.suffix.lower() == ".png" and p.is_file() for p in entries):
        raise MaskFormatError(
            f"{role} {root}: holds PNG files directly; expected one sub-folder per sequence "
            f"({root}/<seq>/<frame>.png)"
        )
    sequences = {p.name: frame_files(p) for p in entries if p.is_dir()}
    sequences = {name: frames for name, frames in sequences.items() if frames}
    if not sequences:
        raise MaskFormatError(f"{role} {root}: {_layout_hint(root)}")
    return sequences


def frame_files(folder: Path) -> dict[str, Path]:
    """{frame: path} of the PNG frames in `folder`, by name; the extension in any case (".png",
    ".PNG", ".Png": some tools write upper case); hidden files skipped; {} when no folder."""
    if not folder.is_dir():
        return {}
    pngs = (p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())
    return {p.stem: p for p in sorted(pngs) if not p.name.startswith(".")}


def _layout_hint(root: Path) -> str:
    for sub in ("Annotations/480p", "Annotations"):
        if (root / sub).is_dir():
            return f"no <seq>/<frame>.png found; this looks like a dataset root: pass {root / sub}"
    return f"no <seq>/<frame>.png found (expected DAVIS layout {root}/<seq>/<frame>.png)"
