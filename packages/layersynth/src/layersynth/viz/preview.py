"""Previews of one sequence: a PNG contact sheet, or a GIF / MP4 animation.

Each frame becomes one row of tiles: RGB at 1:1 | a nearest-neighbour zoom (x ZOOM) of the RGB
around an object edge, so the anti-aliased boundary pixels, which mix the layers they straddle,
are visible | flow +1 (colour wheel, one scale for the sequence) | modal labels (DAVIS palette;
occluders grey), with the frame's depth order written in its corner (amodal channels front to
back, "1>0": channel 1 in front; it changes where the scene's order does, issue 16) | amodal mask
of each layer (channel k: the k-th nearest at the first frame). The edge is picked automatically:
the object boundary pixel nearest the frame centre (else the occluder's, else the centre);
the zoom tile is H x H, from an (H // ZOOM)-pixel square crop.
The contact sheet stacks up to `max_rows` evenly spaced frames under a header naming the columns.
A preview is written under a temporary name beside the target and renamed into place when
complete, so a failed run (a full disk) leaves no half-written file and an earlier one intact.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np

from layersynth.viz.flow_colours import flow_to_rgb

FORMATS = (".png", ".gif", ".mp4")
HEADER = 14  # px: height of the column-title strip of the contact sheet
ZOOM = 8  # nearest-neighbour magnification of the edge tile: one pixel becomes 8 x 8


def palette(n: int = 256) -> np.ndarray:
    """(n, 3) uint8 DAVIS palette: label 0 black, 1 dark red, 2 dark green, ..."""
    out = np.zeros((n, 3), np.uint8)
    for label in range(n):
        c, bit = label, 7
        while c:
            for ch in range(3):
                out[label, ch] |= ((c >> ch) & 1) << bit
            c >>= 3
            bit -= 1
    return out


def column_titles(k: int, flow: str = "flow_gt") -> list[str]:
    label = "flow +1" if flow == "flow_gt" else f"flow +1 ({flow.removeprefix('flow_')})"
    return ["rgb", f"edge x{ZOOM}", label, "modal"] + [f"amodal {c}" for c in range(k)]


def shown_flow(arrays: dict) -> str:
    """The flow drawn: the exact flow_gt, else (an imported dataset has none) the first estimated
    flow the sequence holds (flow_raft, then flow_dis)."""
    for name in ("flow_gt", "flow_raft", "flow_dis"):
        if name in arrays:
            return name
    raise ValueError("the sequence holds no flow (flow_gt, flow_raft or flow_dis)")


def edge_pixel(modal: np.ndarray, occluder: np.ndarray | None = None) -> tuple[int, int]:
    """(row, col) of the edge to zoom on: of the pixels of `modal` (H, W) labels with a
    4-neighbour of another label, one of them an object, the one nearest the frame centre; with
    none, the same for the edge of `occluder` (H, W) bool; with none either, the centre."""
    h, w = modal.shape
    for labels in (modal, None if occluder is None else occluder.astype(np.uint8)):
        if labels is None:
            break
        edge = np.zeros((h, w), bool)
        for a, b in ((np.s_[:, 1:], np.s_[:, :-1]), (np.s_[1:], np.s_[:-1])):
            cross = labels[a] != labels[b]
            edge[a] |= cross
            edge[b] |= cross
        rows, cols = np.nonzero(edge)
        if len(rows):
            best = np.argmin((rows - (h - 1) / 2) ** 2 + (cols - (w - 1) / 2) ** 2)
            return int(rows[best]), int(cols[best])
    return h // 2, w // 2


def edge_zoom(rgb: np.ndarray, modal: np.ndarray, occluder: np.ndarray | None = None
              ) -> np.ndarray:
    """(H, H, 3) uint8: the (H // ZOOM)-pixel square of rgb (H, W, 3) around `edge_pixel`,
    magnified ZOOM times by pixel repetition, padded with black to H x H."""
    h, w = modal.shape
    side = max(1, min(h // ZOOM, w))
    r, c = edge_pixel(modal, occluder)
    r0, c0 = min(max(r - side // 2, 0), h - side), min(max(c - side // 2, 0), w - side)
    crop = rgb[r0:r0 + side, c0:c0 + side]
    big = np.repeat(np.repeat(crop, ZOOM, axis=0), ZOOM, axis=1)[:h, :h]
    out = np.zeros((h, h, 3), np.uint8)
    out[:big.shape[0], :big.shape[1]] = big
    return out


def frame_row(arrays: dict, t: int, max_mag: float) -> np.ndarray:
    """(H, W * (3 + K) + H, 3) uint8 tiles of frame t."""
    modal = palette()[arrays["modal"][t]]
    modal[arrays["occluder"][t] & (arrays["modal"][t] == 0)] = 96
    if "order" in arrays:
        modal = write_text(modal, order_text(arrays["order"], t))
    tiles = [arrays["rgb"][t], edge_zoom(arrays["rgb"][t], arrays["modal"][t],
                                         arrays["occluder"][t]),
             flow_to_rgb(arrays[shown_flow(arrays)][t, 0], max_mag), modal]
    tiles += [np.repeat(m[t, :, :, None].astype(np.uint8) * 255, 3, axis=2)
              for m in arrays["amodal"]]
    return np.concatenate(tiles, axis=1)


def order_text(order: np.ndarray, t: int) -> str:
    """Frame t's depth order of an order (T, K) (or (K,): one per clip) as the amodal channels
    front to back: "1>0" puts channel 1 in front of channel 0."""
    ranks = order[t] if np.ndim(order) == 2 else order
    return ">".join(str(int(c)) for c in np.argsort(ranks, kind="stable"))


def write_text(tile: np.ndarray, text: str) -> np.ndarray:
    """(H, W, 3) uint8 `tile` with `text` in white on black in its top-left corner."""
    from PIL import Image, ImageDraw  # ~20 ms; `layersynth --help` imports this module

    image = Image.fromarray(tile)
    draw = ImageDraw.Draw(image)
    box = draw.textbbox((1, 0), text)
    draw.rectangle((0, 0, box[2] + 1, box[3] + 1), fill=(0, 0, 0))
    draw.text((1, 0), text, fill=(255, 255, 255))
    return np.asarray(image)


def frames(arrays: dict) -> list[np.ndarray]:
    """One tile row per frame, flow coloured on one scale (the sequence's largest +1 flow)."""
    flow = arrays[shown_flow(arrays)][:, 0]
    max_mag = float(np.hypot(*np.moveaxis(flow, -1, 0)).max(initial=0.0))
    return [frame_row(arrays, t, max_mag) for t in range(len(arrays["rgb"]))]


def contact_sheet(arrays: dict, max_rows: int = 8) -> np.ndarray:
    """(HEADER + rows * H, W * (3 + K) + H, 3) uint8 with column titles."""
    from PIL import Image, ImageDraw  # ~20 ms; `layersynth --help` imports this module

    rows = frames(arrays)
    picks = np.unique(np.linspace(0, len(rows) - 1, min(max_rows, len(rows))).round().astype(int))
    body = np.concatenate([rows[i] for i in picks], axis=0)
    sheet = Image.new("RGB", (body.shape[1], body.shape[0] + HEADER), (255, 255, 255))
    sheet.paste(Image.fromarray(body), (0, HEADER))
    draw, (h, w) = ImageDraw.Draw(sheet), arrays["rgb"].shape[1:3]
    lefts = [0, w] + [w + h + c * w for c in range(2 + len(arrays["amodal"]))]
    for left, title in zip(lefts, column_titles(len(arrays["amodal"]), shown_flow(arrays)),
                           strict=True):
        draw.text((left + 3, 1), title, fill=(0, 0, 0))
    return np.asarray(sheet)


def _pad16(img: np.ndarray) -> np.ndarray:
    """Pad to multiples of 16 px: H.264 encoders need even (ideally 16-aligned) sizes."""
    h, w = img.shape[:2]
    return np.pad(img, ((0, -h % 16), (0, -w % 16), (0, 0)))


def temporary_name(out: Path) -> Path:
    """A hidden name beside `out`, unique per process, with `out`'s extension (which picks the
    encoder): p.png -> .p.tmp-1234.png."""
    return out.with_name(f".{out.stem}.tmp-{os.getpid()}{out.suffix}")


def write_preview(arrays: dict, out, fps: int = 10) -> Path:
    """Write a preview of one sequence's arrays; the format follows `out`'s extension.

    Written to `temporary_name(out)` and renamed over `out` once complete; on any failure the
    temporary file is removed and `out` is left as it was. `out`'s folder must exist.
    """
    out = Path(out)
    ext = out.suffix.lower()
    if ext not in FORMATS:
        raise ValueError(f"{out}: unknown preview format {ext!r}; use .png, .gif or .mp4")
    if fps <= 0:
        raise ValueError(f"fps: must be positive, got {fps}")
    tmp = temporary_name(out)
    try:
        _write(arrays, tmp, ext, fps)
        os.replace(tmp, out)
    except OSError as err:  # a write error names no file; this one names what was asked for
        raise OSError(err.errno, err.strerror or str(err), str(out)) from err
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _write(arrays: dict, path: Path, ext: str, fps: int) -> None:
    """PNG and GIF are encoded in memory, then written with one plain write (an encoder writing
    to a full disk leaves a half-closed file object whose destructor raises again later)."""
    import imageio.v2 as imageio  # ~0.15 s; `layersynth --help` imports this module

    if ext == ".png":
        data = imageio.imwrite("<bytes>", contact_sheet(arrays), format="png")
    elif ext == ".gif":
        data = imageio.mimsave("<bytes>", frames(arrays), format="gif", duration=1000 / fps,
                               loop=0)
    else:
        rows = [_pad16(f) for f in frames(arrays)]
        imageio.mimsave(path, rows, fps=fps, codec="libx264", macro_block_size=1,
                        ffmpeg_log_level="quiet")
        _check_video(path, len(rows))
        return
    with open(path, "wb") as fh:
        fh.write(data)


def _check_video(path: Path, n_frames: int) -> None:
    """OSError unless `path` holds a video of `n_frames` frames: imageio ignores ffmpeg's exit
    status, so a video ffmpeg could not finish (a full disk) is only seen by reading it back."""
    from imageio_ffmpeg import count_frames_and_secs  # what imageio's ffmpeg plugin runs on

    try:
        found = count_frames_and_secs(str(path))[0]
    except (OSError, RuntimeError):
        found = 0
    if found != n_frames:
        full = os.statvfs(path.parent).f_bavail == 0
        raise OSError(errno.ENOSPC if full else errno.EIO,
                      os.strerror(errno.ENOSPC) if full else
                      f"ffmpeg wrote {found} of {n_frames} frames", str(path))
