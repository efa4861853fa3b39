"""Silhouette bank: YouTube-VOS palette annotations -> usable, cropped, cached object masks."""

from __future__ import annotations

import numpy as np
import pytest
from layersynth.assets import silhouette_bank as sb
from PIL import Image

H, W = 64, 80
yy, xx = np.mgrid[0:H, 0:W]


def ring(cy, cx, outer=12, inner=5):
    r = np.hypot(yy - cy, xx - cx)
    return (r < outer) & (r >= inner)


def ids_frame(shift=0):
    """Object 1: a ring with a hole (usable). 2: cut by the border. 3: two far blobs. 4: a speck."""
    ids = np.zeros((H, W), np.uint8)
    ids[ring(30, 30 + shift)] = 1
    ids[np.hypot(yy - 5, xx - 70) < 9] = 2
    ids[np.hypot(yy - 50, xx - 60) < 4] = 3
    ids[np.hypot(yy - 50, xx - 74) < 4] = 3
    ids[10:12, 50:52] = 4
    return ids


def save_palette(path, ids):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(ids, mode="P")
    img.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128] + [0] * 753)
    img.save(path)


def fake_ytvos(root, videos=2, frames=6):
    for v in range(videos):
        for f in range(frames):
            save_palette(root / "Annotations" / f"vid{v}" / f"{5 * f:05d}.png", ids_frame(f))
    return root


def test_usable_masks_keep_holes_and_drop_border_multi_part_and_tiny_objects():
    kept = sb.frame_silhouettes(ids_frame(), sb.BankConfig())
    assert [obj for obj, _ in kept] == [1]
    mask = kept[0][1]
    assert mask.shape == (23, 23) and mask.dtype == bool
    assert not mask[11, 11] and mask[11, 1]  # the hole survives the crop; the ring is there


def test_specks_are_dropped_before_the_one_component_test():
    ids = np.zeros((H, W), np.uint8)
    ids[ring(30, 30)] = 1
    ids[55, 70] = 1  # one stray annotated pixel
    kept = sb.frame_silhouettes(ids, sb.BankConfig())
    assert [obj for obj, _ in kept] == [1] and kept[0][1].shape == (23, 23)


def test_low_solidity_masks_are_rejected():
    ids = np.zeros((H, W), np.uint8)
    ids[10:50, 10:13] = 1
    ids[47:50, 10:60] = 1  # an L of thin strokes: area far below its hull's
    assert sb.frame_silhouettes(ids, sb.BankConfig()) == []
    assert len(sb.frame_silhouettes(ids, sb.BankConfig(min_solidity=0.0))) == 1


def test_large_masks_are_shrunk_to_max_side():
    ids = np.zeros((H, W), np.uint8)
    ids[5:55, 5:45] = 1
    (_, mask), = sb.frame_silhouettes(ids, sb.BankConfig(max_side=20))
    assert max(mask.shape) == 20 and mask.all()


def test_pick_frames_spreads_the_chosen_frames_over_each_video():
    paths = [f"v{v}/{f:05d}.png" for v in range(2) for f in range(0, 55, 5)]
    picked = sb.pick_frames(paths, 3)
    assert picked == ["v0/00000.png", "v0/00025.png", "v0/00050.png",
                      "v1/00000.png", "v1/00025.png", "v1/00050.png"]
    assert sb.pick_frames(paths[:2], 5) == paths[:2]


def test_bank_is_built_cached_and_reused(tmp_path, monkeypatch):
    root = fake_ytvos(tmp_path / "train")
    bank = sb.SilhouetteBank(root)
    assert bank.rebuilt and len(bank) == 8  # 2 videos x 4 frames x the ring
    assert all(s.endswith("#1") for s in bank.sources)
    masks = [bank.get(i) for i in range(len(bank))]
    monkeypatch.setattr(sb, "extract", lambda *a, **k: pytest.fail("rebuilt a valid bank"))
    again = sb.SilhouetteBank(root)
    assert not again.rebuilt and all(np.array_equal(a, again.get(i)) for i, a in
                                     enumerate(masks))
    assert list((root / ".layersynth").glob("silhouettes-*.npz"))
    assert not list((root / "Annotations").glob(".layersynth*"))


def test_bank_is_rebuilt_when_annotations_or_config_change(tmp_path):
    root = fake_ytvos(tmp_path / "train")
    first = sb.SilhouetteBank(root)
    save_palette(root / "Annotations" / "vid9" / "00000.png", ids_frame())
    grown = sb.SilhouetteBank(root)
    assert grown.rebuilt and len(grown) == len(first) + 1
    assert grown.describe()["fingerprint"] != first.describe()["fingerprint"]
    assert sb.SilhouetteBank(root, config=sb.BankConfig(frames_per_video=1)).rebuilt


def test_bad_palette_and_unreadable_pngs_are_skipped_with_a_warning_naming_them(tmp_path,
                                                                                capsys):
    root = fake_ytvos(tmp_path / "train", videos=1, frames=2)
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(root / "Annotations" / "vid0" / "rgb.png")
    (root / "Annotations" / "vid0" / "trunc.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 20)
    bank = sb.SilhouetteBank(root)
    err = capsys.readouterr().err
    assert "vid0/rgb.png" in err and "mode RGB" in err and "vid0/trunc.png" in err
    assert bank.skipped == 2 and len(bank) == 2


def test_a_root_without_annotations_or_usable_masks_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Annotations"):
        sb.SilhouetteBank(tmp_path)
    save_palette(tmp_path / "t" / "Annotations" / "v" / "00000.png", np.zeros((H, W), np.uint8))
    with pytest.raises(ValueError, match="no usable silhouettes"):
        sb.SilhouetteBank(tmp_path / "t")
