"""datasets.lock, verify and user locks (fetch: test_fetch.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from layersynth.assets import lockfile as ds
from lockfiles import CLIPS, fake_copy, write_lock

REPO = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- the shipped lock


def test_root_lock_and_packaged_lock_are_identical():
    assert (REPO / "datasets.lock").read_bytes() == ds.shipped_lock_path().read_bytes()


def test_shipped_lock_names_pass_parts_ytvos_and_videos_with_sizes():
    specs = ds.load_lock()
    assert set(specs) == {"pass", "ytvos", "videos"}
    parts = [f for f in specs["pass"].files if re.fullmatch(r"PASS\.\d\.tar", f.path)]
    assert len(parts) == 10 and all(f.size > 10**10 and f.url for f in parts)
    assert specs["ytvos"].access == "gated" and "youtube-vos.org" in specs["ytvos"].get
    assert specs["videos"].archives and all(f.sha256 for f in specs["videos"].files)


def test_shipped_lock_checksums_are_hex_digests_or_marked_unknown():
    raw = json.loads(ds.shipped_lock_path().read_text())
    for spec in raw["datasets"].values():
        for f in spec["files"] + spec["archives"]:
            assert f["sha256"] == "unknown" or re.fullmatch(r"[0-9a-f]{64}", f["sha256"])
            assert f["md5"] == "unknown" or re.fullmatch(r"[0-9a-f]{32}", f["md5"])


def test_a_lock_path_that_escapes_the_root_is_refused(tmp_path):
    lock = write_lock(tmp_path / "l.json", "x", {"../evil": b"1"})
    with pytest.raises(ds.LockError, match="unsafe path"):
        ds.load_lock(lock)


# ----------------------------------------------------------------------------- verify


def test_verify_reports_a_missing_a_corrupt_and_an_extra_file(tmp_path):
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS))
    root = fake_copy(tmp_path / "copy", CLIPS)
    (root / "a.mp4").unlink()
    (root / "c.mp4").write_bytes(b"cc" * 699 + b"cd")  # same size, one byte differs
    (root / "notes.txt").write_text("mine")
    (root / ".layersynth-textures.idx").write_text("our cache is not 'extra'")
    report = ds.verify(spec, root)
    assert report.missing == ["a.mp4"]
    assert [p for p, _ in report.corrupt] == ["c.mp4"] and "sha256" in report.corrupt[0][1]
    assert report.extra == ["notes.txt"]
    assert report.ok == ["sub/b.mp4"] and not report.sound


def test_verify_json_keeps_exact_counts_but_caps_long_file_lists(tmp_path):
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS))
    root = fake_copy(tmp_path / "copy", {f"x{i}.jpg": b"x" for i in range(12)})
    out = ds.verify(spec, root).to_json(limit=5)
    assert out["counts"]["extra"] == 12 and len(out["extra"]) == 5
    assert out["counts"]["missing"] == 3 and len(out["missing"]) == 3


def test_verify_of_an_intact_copy_is_sound_and_sizes_only_leaves_files_unverified(tmp_path):
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS))
    root = fake_copy(tmp_path / "copy", CLIPS)
    assert ds.verify(spec, root).sound
    quick = ds.verify(spec, root, hashes=False)
    assert quick.sound and sorted(quick.unverified) == sorted(CLIPS) and not quick.ok


def test_verify_catches_a_truncated_file_by_its_size(tmp_path):
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS))
    root = fake_copy(tmp_path / "copy", CLIPS)
    (root / "a.mp4").write_bytes(b"A" * 10)
    report = ds.verify(spec, root, hashes=False)
    assert report.corrupt == [("a.mp4", "size 10 != 3000")]


def test_user_lock_records_a_copy_and_later_verify_detects_a_change(tmp_path):
    spec = ds.load_lock()["pass"]  # its published files are absent: the user's copy is images
    root = fake_copy(tmp_path / "imgs", {"x/1.jpg": b"one", "x/2.jpg": b"two"})
    path = ds.make_user_lock(spec, root)
    assert path.name == ds.USER_LOCK_NAME
    assert ds.verify(spec, root).sound
    (root / "x" / "2.jpg").write_bytes(b"tw0")
    report = ds.verify(spec, root)
    assert report.lock == str(path) and [p for p, _ in report.corrupt] == ["x/2.jpg"]


def test_a_user_lock_of_another_dataset_is_refused(tmp_path):
    specs = ds.load_lock()
    root = fake_copy(tmp_path / "d", {"a.png": b"1"})
    ds.make_user_lock(specs["videos"], root)
    with pytest.raises(ds.LockError, match="not 'ytvos'"):
        ds.verify(specs["ytvos"], root)


def test_ytvos_verify_derives_expected_annotations_from_meta_json(tmp_path):
    spec = ds.load_lock()["ytvos"]
    meta = {"videos": {"v1": {"objects": {"1": {"category": "cat", "frames": ["00000", "00005"]},
                                          "2": {"category": "dog", "frames": ["00005"]}}}}}
    root = fake_copy(tmp_path / "train", {"meta.json": json.dumps(meta).encode(),
                                         "Annotations/v1/00000.png": b"png",
                                         "Annotations/v1/00010.png": b"png",
                                         "JPEGImages/v1/00000.jpg": b"jpg"})
    report = ds.verify(spec, root)
    assert report.missing == ["Annotations/v1/00005.png"]
    assert report.extra == ["Annotations/v1/00010.png"]  # JPEGImages is outside the scope
    assert "meta.json" in report.unverified
    assert report.notes == ["meta.json lists 1 videos with annotated objects; the published "
                            "ytvos set has 3471"]


def test_a_malformed_youtube_vos_meta_json_is_corrupt(tmp_path):
    root = fake_copy(tmp_path / "train", {"meta.json": b'{"videos": 3}',
                                         "Annotations/v1/00000.png": b"png"})
    report = ds.verify(ds.load_lock()["ytvos"], root)
    assert [p for p, _ in report.corrupt] == ["meta.json"] and not report.sound
