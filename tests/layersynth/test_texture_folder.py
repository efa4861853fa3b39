"""Texture folders: the cached file index and the texture source over it."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from layersynth.assets import texture_folder as tf
from PIL import Image

COLOURS = {"a/red.png": (200, 30, 30), "a/green.jpg": (30, 200, 30), "b/blue.png": (30, 30, 200)}


def make_folder(root, colours=COLOURS, size=(40, 60)):
    for rel, rgb in colours.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((*size, 3), rgb, np.uint8)).save(path)
    return root


def test_index_lists_images_sorted_and_skips_other_and_hidden_files(tmp_path):
    root = make_folder(tmp_path / "pass")
    (root / "a" / "notes.txt").write_text("x")
    (root / ".hidden").mkdir()
    Image.new("RGB", (20, 20)).save(root / ".hidden" / "x.png")
    index, rebuilt = tf.load_or_build_index(root)
    assert rebuilt and index.paths() == ["a/green.jpg", "a/red.png", "b/blue.png"]
    assert [index.path(i) for i in range(3)] == index.paths()
    assert index.sizes[2] == (root / "b" / "blue.png").stat().st_size


def test_second_start_reads_the_cached_index_without_scanning(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "pass")
    first, _ = tf.load_or_build_index(root)
    monkeypatch.setattr(tf, "scan_folder", lambda *a: pytest.fail("rescanned an unchanged folder"))
    again, rebuilt = tf.load_or_build_index(root)
    assert not rebuilt and again.paths() == first.paths()
    assert again.fingerprint == first.fingerprint


@pytest.mark.parametrize("change", ["add", "remove", "rename"])
def test_index_is_rebuilt_when_the_folder_changes(tmp_path, change):
    root = make_folder(tmp_path / "pass")
    before, _ = tf.load_or_build_index(root)
    if change == "add":
        make_folder(root, {"b/new.png": (1, 2, 3)})
    elif change == "remove":
        (root / "a" / "red.png").unlink()
    else:
        (root / "b" / "blue.png").rename(root / "b" / "navy.png")
    after, rebuilt = tf.load_or_build_index(root)
    assert rebuilt and after.paths() != before.paths()
    assert after.fingerprint != before.fingerprint


def test_a_copy_of_the_folder_keeps_its_fingerprint(tmp_path):
    root = make_folder(tmp_path / "pass")
    shutil.copytree(root, tmp_path / "copy", copy_function=shutil.copyfile)  # fresh mtimes
    assert tf.load_or_build_index(root)[0].fingerprint == \
        tf.load_or_build_index(tmp_path / "copy")[0].fingerprint


def test_index_goes_to_the_cache_dir_when_asked(tmp_path):
    root = make_folder(tmp_path / "pass")
    tf.load_or_build_index(root, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").iterdir())) == 1
    assert not (root / tf.CACHE_SUBDIR).exists()
    assert not tf.load_or_build_index(root, cache_dir=tmp_path / "cache")[1]


def test_texture_folder_returns_rgb_uint8_images_within_size_limits(tmp_path):
    root = make_folder(tmp_path / "pass", size=(300, 900))
    Image.new("L", (8, 10), 77).save(root / "b" / "tiny_gray.png")
    Image.new("RGBA", (30, 30), (9, 8, 7, 0)).save(root / "b" / "rgba.png")
    source = tf.TextureFolder(root, max_side=256)
    assert len(source) == 5
    for i in range(len(source)):
        img = source.get(i)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert img.flags.c_contiguous and min(img.shape[:2]) >= 16 and max(img.shape[:2]) <= 256
    red = source.get(source.index.paths().index("a/red.png"))
    assert np.abs(red.astype(int) - (200, 30, 30)).max() <= 2
    assert source.describe()["fingerprint"] == source.index.fingerprint


def test_an_unreadable_image_is_skipped_with_a_warning_that_names_it(tmp_path, capsys):
    root = make_folder(tmp_path / "pass")
    (root / "a" / "broken.jpg").write_bytes(b"not a jpeg at all")
    source = tf.TextureFolder(root)
    i = source.index.paths().index("a/broken.jpg")
    img = source.get(i)
    assert "a/broken.jpg" in capsys.readouterr().err
    assert np.array_equal(img, source.get(i + 1))  # the next readable image, deterministically


def test_an_empty_folder_is_refused_with_its_name(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: no images"):
        tf.TextureFolder(tmp_path / "empty")


def test_walk_does_not_follow_symlinked_directories(tmp_path):
    root = make_folder(tmp_path / "pass")
    os.symlink(root / "a", root / "loop")
    assert tf.scan_folder(root, tf.IMAGE_SUFFIXES).paths() == ["a/green.jpg", "a/red.png",
                                                               "b/blue.png"]
