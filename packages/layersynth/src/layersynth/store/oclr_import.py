"""Reading the layout of the released OCLR synthetic data (REFERENCE.md section 7) as arrays of
this project's schema: the inverse of `layersynth.store.oclr_export`.

    JPEGImages/<seq>/<frame>.jpg            rgb (T, H, W, 3) uint8
    AmodalAnnotations/<seq>/<k>_<frame>.png amodal (K, T, H, W) bool; file k = 1 is the BACK-most
                                            object, so file k is channel K - k (0 = front-most)
    Flows_gap1/<seq>/<frame>.flo            flow_raft[:, 0] (t -> t+1), Middlebury .flo
    Flows_gap-1/<seq>/<frame>.flo           flow_raft[:, 1] (t -> t-1)

The first character of <seq> is K; the frames are the JPEGs' names in sorted order. Derived here:
`modal` (T, H, W) uint8, the layers painted back to front so that the front-most one shows where
masks overlap (k + 1 where channel k is visible, 0 background); `order` (T, K) = 0..K-1 at
every frame (the channels are in depth order); `occluder` all False (the layout has none). A
missing end flow (gap +1 of the last frame, gap -1 of the first) is filled as the reference
loader does, with the negated flow of the opposite gap of that frame, and listed in the
sequence's record.

`scan_sequence` checks a sequence's files from their names and headers only (cheap: no pixel is
decoded), so an unsound one is skipped before any shard is written; `read_sequence` decodes one.
Both raise SourceError naming the first bad file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from layersynth.errors import InputError
from layersynth.store.middlebury_flo import MAGIC, read_flo
from layersynth.store.oclr_export import LAYOUT

JPEG_END = b"\xff\xd9"  # the end-of-image marker a complete JPEG finishes with
GAP_FOLDERS = ("Flows_gap1", "Flows_gap-1")  # gap index 0 (+1), 1 (-1)


class SourceError(InputError):
    """A file of the source folder that is missing or unreadable (one line naming it)."""


@dataclass(frozen=True)
class SourceSequence:
    """One sequence folder of the source, as scanned: name, K, frame names, size, and the
    (frame index, gap index) of each end flow that is missing and will be filled."""

    name: str
    objects: int
    frames: tuple[str, ...]
    height: int
    width: int
    filled: tuple[tuple[int, int], ...]

    def to_dict(self) -> dict:
        return {**asdict(self), "frames": list(self.frames),
                "filled": [list(f) for f in self.filled]}

    @classmethod
    def from_dict(cls, d: dict) -> SourceSequence:
        return cls(**dict(d, frames=tuple(d["frames"]),
                          filled=tuple(tuple(f) for f in d["filled"])))


def sequence_names(src: Path) -> list[str]:
    """Sequence folders of `src` (those of JPEGImages, sorted); SourceError if it is not the
    released layout."""
    missing = [d for d in LAYOUT if not (src / d).is_dir()]
    if not src.is_dir():
        raise SourceError(f"{src}: no such folder")
    if missing:
        raise SourceError(f"{src}: not the released OCLR layout (no {missing[0]}/ folder; expected "
                          f"{', '.join(LAYOUT)})")
    return sorted(p.name for p in (src / "JPEGImages").iterdir() if p.is_dir())


def object_count(src: Path, name: str) -> int:
    if not name[:1].isdigit() or name[0] == "0":
        raise SourceError(f"{src / 'JPEGImages' / name}: the sequence name does not start with its "
                          "object count (a digit 1-9)")
    return int(name[0])


def scan_sequence(src: Path, name: str) -> SourceSequence:
    """Check one sequence's files from their names and headers; SourceError at the first bad one."""
    k = object_count(src, name)
    folder = src / "JPEGImages" / name
    frames = tuple(sorted(p.stem for p in folder.glob("*.jpg")))
    if not frames:
        raise SourceError(f"{folder}: no .jpg frames")
    for f in frames:  # before any header: a truncated file may not have a whole one
        check_jpeg_end(folder / f"{f}.jpg")
    height, width = image_size(folder / f"{frames[0]}.jpg")
    for f in frames:
        check_jpeg(folder / f"{f}.jpg", (height, width))
        check_masks(src, name, f, k, (height, width))
    filled = check_flows(src, name, frames, (height, width))
    return SourceSequence(name, k, frames, height, width, filled)


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) from an image's header; SourceError if it is not a readable image."""
    from PIL import Image, UnidentifiedImageError  # ~20 ms: only when a source is read

    try:
        with Image.open(path) as img:
            return img.height, img.width
    except FileNotFoundError:
        raise SourceError(f"{path}: missing") from None
    except (OSError, UnidentifiedImageError, SyntaxError) as err:
        raise SourceError(f"{path}: not a readable image ({err})") from None


def check_jpeg(path: Path, size: tuple[int, int]) -> None:
    found = image_size(path)
    if found != size:
        raise SourceError(f"{path}: {found[0]}x{found[1]}, other frames are {size[0]}x{size[1]}")


def check_jpeg_end(path: Path) -> None:
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 64))
        if JPEG_END not in fh.read():
            raise SourceError(f"{path}: truncated JPEG (no end-of-image marker)")


def check_masks(src: Path, name: str, frame: str, k: int, size: tuple[int, int]) -> None:
    folder = src / "AmodalAnnotations" / name
    for obj in range(1, k + 1):
        path = folder / f"{obj}_{frame}.png"
        if not path.exists():
            raise SourceError(f"{path}: missing (the name {name!r} says {k} objects)")
        found = image_size(path)
        if found != size:
            raise SourceError(f"{path}: {found[0]}x{found[1]}, the frame is {size[0]}x{size[1]}")
    extra = folder / f"{k + 1}_{frame}.png"
    if extra.exists():
        raise SourceError(f"{extra}: a mask beyond the {k} objects the name {name!r} says")


def check_flows(src: Path, name: str, frames: tuple[str, ...],
                size: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """Check every .flo header; return the end flows to fill (only the gap +1 flow of the last
    frame and the gap -1 flow of the first may be missing, with their opposite present)."""
    filled = []
    for t, f in enumerate(frames):
        paths = [src / g / name / f"{f}.flo" for g in GAP_FOLDERS]
        present = [p.exists() for p in paths]
        for gap, path in enumerate(paths):
            if present[gap]:
                check_flo_header(path, size)
                continue
            end = t == (len(frames) - 1 if gap == 0 else 0)
            if not (end and present[1 - gap]):
                raise SourceError(f"{path}: missing")
            filled.append((t, gap))
    return tuple(filled)


def check_flo_header(path: Path, size: tuple[int, int]) -> None:
    with open(path, "rb") as fh:
        head = fh.read(12)
    if len(head) < 12 or np.frombuffer(head[:4], "<f4")[0] != MAGIC:
        raise SourceError(f"{path}: not a Middlebury .flo file (bad tag)")
    w, h = (int(x) for x in np.frombuffer(head[4:12], "<i4"))
    if (h, w) != size:
        raise SourceError(f"{path}: flow of {h}x{w}, the frame is {size[0]}x{size[1]}")
    if path.stat().st_size != 12 + 8 * w * h:
        raise SourceError(f"{path}: size does not match its header ({w} x {h})")


def read_sequence(src: Path, seq: SourceSequence,
                  size: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """The arrays of one scanned sequence (schema names; `flow_raft` the source's flow), resized
    to `size` (H, W) if given: frames bilinear, masks nearest, flows bilinear with u scaled by
    W'/W and v by H'/H. SourceError naming a file that does not decode."""
    rgb = np.stack([read_rgb(src / "JPEGImages" / seq.name / f"{f}.jpg") for f in seq.frames])
    amodal = np.stack([np.stack([read_mask(mask_path(src, seq, k, f)) for f in seq.frames])
                       for k in range(seq.objects, 0, -1)])  # file K first: channel 0 = front
    flow = read_flows(src, seq)
    if size is not None and size != (seq.height, seq.width):
        rgb, amodal, flow = resize(rgb, amodal, flow, size)
    return {"rgb": rgb, "amodal": amodal, "modal": compose_modal(amodal),
            "occluder": np.zeros(rgb.shape[:3], bool),
            "order": np.tile(np.arange(seq.objects, dtype=np.int16), (len(rgb), 1)),
            "flow_raft": flow}


def mask_path(src: Path, seq: SourceSequence, k: int, frame: str) -> Path:
    """File of object k (1 = back-most) at `frame`."""
    return src / "AmodalAnnotations" / seq.name / f"{k}_{frame}.png"


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 of a JPEG; SourceError if it does not decode (e.g. truncated)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as err:
        raise SourceError(f"{path}: unreadable JPEG ({err})") from None


def read_mask(path: Path) -> np.ndarray:
    """(H, W) bool of a mask PNG: any non-zero value is the object."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("L")) > 0
    except (OSError, SyntaxError, ValueError) as err:
        raise SourceError(f"{path}: unreadable PNG ({err})") from None


def read_flows(src: Path, seq: SourceSequence) -> np.ndarray:
    """(T, 2, H, W, 2) float32 px, the missing end flows filled (see the module docstring)."""
    flow = np.zeros((len(seq.frames), 2, seq.height, seq.width, 2), np.float32)
    filled = set(seq.filled)
    for t, f in enumerate(seq.frames):
        for gap, folder in enumerate(GAP_FOLDERS):
            if (t, gap) not in filled:
                try:
                    flow[t, gap] = read_flo(src / folder / seq.name / f"{f}.flo")
                except (OSError, ValueError) as err:
                    raise SourceError(str(err)) from None
    for t, gap in filled:
        flow[t, gap] = -flow[t, 1 - gap]
    return flow


def compose_modal(amodal: np.ndarray) -> np.ndarray:
    """(T, H, W) uint8 labels of amodal (K, T, H, W) bool in depth order (channel 0 in front):
    painted back to front, so the nearest layer wins where masks overlap."""
    modal = np.zeros(amodal.shape[1:], np.uint8)
    for k in range(amodal.shape[0] - 1, -1, -1):
        modal[amodal[k]] = k + 1
    return modal


def resize(rgb: np.ndarray, amodal: np.ndarray, flow: np.ndarray,
           size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rgb (T, H, W, 3), amodal (K, T, H, W), flow (T, 2, H, W, 2) at `size` (H', W')."""
    import cv2  # only when a source is resized

    h, w = size
    dsize = (w, h)
    rgb = np.stack([cv2.resize(f, dsize, interpolation=cv2.INTER_LINEAR) for f in rgb])
    amodal = np.stack([[cv2.resize(m.astype(np.uint8), dsize, interpolation=cv2.INTER_NEAREST)
                        for m in layer] for layer in amodal]).astype(bool)
    scale = np.array([w / flow.shape[3], h / flow.shape[2]], np.float32)
    flow = np.stack([[cv2.resize(g, dsize, interpolation=cv2.INTER_LINEAR) * scale for g in t]
                     for t in flow]).astype(np.float32)
    return rgb, amodal, flow
