"""Export to the layout of the released OCLR synthetic data (REFERENCE.md section 7).

    JPEGImages/<seq>/<frame>.jpg            RGB, JPEG quality 95
    AmodalAnnotations/<seq>/<k>_<frame>.png one 8-bit PNG per object, 0 or 255; k = 1..K with
                                            k = 1 the BACK-most layer (amodal channel K - k)
    Flows_gap1/<seq>/<frame>.flo            flow t -> t+1 (gap index 0), Middlebury .flo
    Flows_gap-1/<seq>/<frame>.flo           flow t -> t-1 (gap index 1)

<seq> is "<K>_<id>" (its first character is the number of objects, which loaders read) and
<frame> is the zero-padded frame index "00000". Modal masks are not exported: loaders derive them
from the amodal masks and their order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from layersynth.report import progress
from layersynth.store.middlebury_flo import write_flo


def sequence_folder(seq_id: str, k: int) -> str:
    if not 1 <= k <= 9:
        raise ValueError(f"{seq_id}: {k} objects; the OCLR layout encodes 1 to 9 in one character")
    return f"{k}_{seq_id}"


def frame_name(t: int) -> str:
    return f"{t:05d}"


def amodal_file_index(channel: int, k: int) -> int:
    """File number (1 = back-most) of amodal channel `channel` (0 = front-most) of K layers."""
    return k - channel


def export_sequence(arrays: dict, seq_id: str, out: Path, flow: str = "flow_gt") -> str:
    """Write one sequence's files under `out`; return its folder name."""
    from PIL import Image  # ~20 ms; `layersynth --help` imports this module

    amodal = arrays["amodal"]
    k, t_len = amodal.shape[:2]
    name = sequence_folder(seq_id, k)
    dirs = {d: out / d / name for d in
            ("JPEGImages", "AmodalAnnotations", "Flows_gap1", "Flows_gap-1")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    for t in range(t_len):
        f = frame_name(t)
        Image.fromarray(arrays["rgb"][t]).save(dirs["JPEGImages"] / f"{f}.jpg", quality=95)
        for c in range(k):
            mask = amodal[c, t].astype(np.uint8) * 255
            Image.fromarray(mask).save(
                dirs["AmodalAnnotations"] / f"{amodal_file_index(c, k)}_{f}.png")
        write_flo(dirs["Flows_gap1"] / f"{f}.flo", arrays[flow][t, 0])
        write_flo(dirs["Flows_gap-1"] / f"{f}.flo", arrays[flow][t, 1])
    return name


def export_oclr(ds, out, *, flow: str = "gt", ids=None, show_progress: bool = False) -> list[str]:
    """Export sequences `ids` (default all) of an open Dataset to `out`; return folder names."""
    out = Path(out)
    ids = ds.ids if ids is None else list(ids)
    names = ["rgb", "amodal", f"flow_{flow}"]
    items = progress(ids, total=len(ids), desc="export") if show_progress else ids
    return [export_sequence(ds.read(i, names), i, out, f"flow_{flow}") for i in items]
