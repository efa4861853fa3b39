"""Export to the layout of the released OCLR synthetic data (REFERENCE.md section 7).

    JPEGImages/<seq>/<frame>.jpg            RGB, JPEG quality 95
    AmodalAnnotations/<seq>/<k>_<frame>.png one 8-bit PNG per object, 0 or 255; k = 1..K with
                                            k = 1 the BACK-most layer (amodal channel K - k)
    Flows_gap1/<seq>/<frame>.flo            flow t -> t+1 (gap index 0), Middlebury .flo
    Flows_gap-1/<seq>/<frame>.flo           flow t -> t-1 (gap index 1)
    Flows_gap<g>/, Flows_gap-<g>/           the same for every other stored gap g (`ds.gaps`,
                                            e.g. Flows_gap2/ and Flows_gap-2/ for --gaps 1,2)

<seq> is "<K>_<id>" (its first character is the number of objects, which loaders read) and
<frame> is the zero-padded frame index "00000". Modal masks are not exported: loaders derive them
from the amodal masks and their order.

The layout has one depth order per clip (the file numbers). A sequence whose order changes
(issue 16, a (T, K) `order` that is not the same at every frame) is written in its majority
order, the order held at the most frames (`clip_order`; the earliest on a tie): file k is the
object of rank K - k in it. What that loses: at the frames in another order, a loader composing
modal masks from the files puts the wrong object in front where the swapped pair overlaps, and
the change itself (when, which pair) is not in the files; docs/shards.md, "Export".

An export is written into a hidden staging folder beside the target (`staging_folder`) and moved
into place when every sequence is written: a new target is one rename; into an existing one (an
earlier export), each sequence folder is renamed in, replacing one of the same name. A failure
before that (a full disk, an unreadable shard) removes the staging folder: nothing of the run is
left and an earlier export is intact.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np

from layersynth.report import progress
from layersynth.store.gaps import DEFAULT_GAPS, gap_index
from layersynth.store.middlebury_flo import write_flo


def sequence_folder(seq_id: str, k: int) -> str:
    if not 1 <= k <= 9:
        raise ValueError(f"{seq_id}: {k} objects; the OCLR layout encodes 1 to 9 in one character")
    return f"{k}_{seq_id}"


def frame_name(t: int) -> str:
    return f"{t:05d}"


def amodal_file_index(rank: int, k: int) -> int:
    """File number (1 = back-most) of the amodal channel of depth rank `rank` (0 = front-most) of
    K layers (with one order per clip, channel c has rank c)."""
    return k - rank


def clip_order(order: np.ndarray) -> np.ndarray:
    """(K,) the order held at the most frames of a (T, K) per-frame order (the earliest of those
    held equally often), or a (K,) one as it is."""
    order = np.asarray(order)
    if order.ndim == 1:
        return order
    rows, first, counts = np.unique(order, axis=0, return_index=True, return_counts=True)
    best = max(range(len(rows)), key=lambda i: (counts[i], -first[i]))
    return rows[best]


def flow_folder(gap: int) -> str:
    """The folder of the signed `gap`'s flows: Flows_gap1, Flows_gap-1, Flows_gap2, ..."""
    return f"Flows_gap{gap}"


def layout(gaps: tuple[int, ...] = DEFAULT_GAPS) -> tuple[str, ...]:
    """The top-level folders of an export of flows at `gaps`."""
    return ("JPEGImages", "AmodalAnnotations",
            *(flow_folder(s * g) for g in gaps for s in (1, -1)))


def export_sequence(arrays: dict, seq_id: str, out: Path, flow: str = "flow_gt",
                    gaps: tuple[int, ...] = DEFAULT_GAPS) -> str:
    """Write one sequence's files under `out` (its flow holds `gaps`); return its folder name."""
    from PIL import Image  # ~20 ms; `layersynth --help` imports this module

    amodal = arrays["amodal"]
    k, t_len = amodal.shape[:2]
    ranks = clip_order(arrays["order"]) if "order" in arrays else np.arange(k)
    name = sequence_folder(seq_id, k)
    dirs = {d: out / d / name for d in layout(gaps)}
    signed = [s * g for g in gaps for s in (1, -1)]
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    for t in range(t_len):
        f = frame_name(t)
        save_image(Image.fromarray(arrays["rgb"][t]), dirs["JPEGImages"] / f"{f}.jpg",
                   quality=95)
        for c in range(k):
            mask = amodal[c, t].astype(np.uint8) * 255
            save_image(Image.fromarray(mask),
                       dirs["AmodalAnnotations"] / f"{amodal_file_index(ranks[c], k)}_{f}.png")
        for gap in signed:
            write_flo(dirs[flow_folder(gap)] / f"{f}.flo", arrays[flow][t, gap_index(gaps, gap)])
    return name


def save_image(image, path: Path, **options) -> None:
    """PIL `image.save`, encoded in memory and written in one go: a failed write (a full disk)
    raises an OSError naming `path` (PIL's own names none)."""
    buffer = io.BytesIO()
    image.save(buffer, format=path.suffix.lstrip(".").replace("jpg", "jpeg"), **options)
    try:
        with open(path, "wb") as fh:
            fh.write(buffer.getbuffer())
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(path)) from err


LAYOUT = layout()  # an export of gaps (1,), as the released data has it


def export_oclr(ds, out, *, flow: str = "gt", ids=None, show_progress: bool = False) -> list[str]:
    """Export sequences `ids` (default all) of an open Dataset to `out`, flows of every stored
    gap (`ds.gaps`); return folder names.

    `out` (and missing folders above it) is made at the end; see the module docstring."""
    out = Path(out)
    ids = ds.ids if ids is None else list(ids)
    names = ["rgb", "amodal", "order", f"flow_{flow}"]
    items = progress(ids, total=len(ids), desc="export") if show_progress else ids
    staging = staging_folder(out)
    try:
        folders = [export_sequence(ds.read(i, names), i, staging, f"flow_{flow}", ds.gaps)
                   for i in items]
        move_into_place(staging, out, folders, layout(ds.gaps))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folders


def staging_folder(out: Path) -> Path:
    """A new hidden folder beside `out` (in the nearest existing folder above it, on the same
    file system, so that moving it into place is a rename), unique per process."""
    out = out.absolute()
    existing = next(p for p in out.parents if p.is_dir())
    staging = existing / f".{out.name}.export-tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)  # left by a killed run of this same pid
    staging.mkdir()
    return staging


def move_into_place(staging: Path, out: Path, folders: list[str],
                    tops: tuple[str, ...] = LAYOUT) -> None:
    """Rename the finished export in `staging` to `out`, or its sequence folders into an
    existing `out` (an earlier export's folder of the same name is replaced); `tops`: the
    top-level folders (`layout`)."""
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        for top in tops:  # an empty export still has every folder
            (staging / top).mkdir(exist_ok=True)
        staging.rename(out)
        return
    for top in tops:
        (out / top).mkdir(exist_ok=True)
        for name in folders:
            target = out / top / name
            if target.exists():
                old = staging / f"old-{top}-{name}"
                target.rename(old)  # removed with the staging folder
            (staging / top / name).rename(target)
