import json

import numpy as np
import pytest
import skimage.data
from layersynth.assets.sources import ArraySource, Assets, SilhouetteSource, TextureSource


def test_builtin_assets_are_deterministic_and_well_typed():
    a = Assets.builtin()
    assert isinstance(a.textures, TextureSource) and isinstance(a.silhouettes, SilhouetteSource)
    assert len(a.textures) >= 10 and len(a.silhouettes) >= 10
    for i in range(len(a.textures)):
        tex = a.textures.get(i)
        assert tex.dtype == np.uint8 and tex.ndim == 3 and tex.shape[2] == 3
        assert min(tex.shape[:2]) >= 16 and tex.flags.c_contiguous
    for i in range(len(a.silhouettes)):
        sil = a.silhouettes.get(i)
        assert sil.dtype == bool and sil.ndim == 2
        assert sil[0].any() and sil[-1].any() and sil[:, 0].any() and sil[:, -1].any()  # cropped
    # The procedural assets come from a fixed seed: the digest is a constant of the code.
    assert Assets.builtin().describe() == a.describe()


def test_builtin_assets_include_the_scikit_image_horse_silhouette():
    horse = ~skimage.data.horse()
    a = Assets.builtin()
    assert any(a.silhouettes.get(i).sum() == horse.sum() for i in range(len(a.silhouettes)))


def test_describe_is_json_safe_and_changes_with_the_assets():
    plain, smooth = Assets.builtin(), Assets.builtin(smooth=True)
    d = json.loads(json.dumps(plain.describe()))
    assert d["textures"]["count"] == len(plain.textures) and d["backgrounds"] is None
    assert smooth.describe() != plain.describe()
    altered = ArraySource("builtin", [plain.textures.get(0)[::-1].copy()])
    original = ArraySource("builtin", [plain.textures.get(0)])
    assert altered.describe()["sha256"] != original.describe()["sha256"]


def test_smooth_textures_have_small_pixel_to_pixel_differences():
    tex = Assets.builtin(smooth=True).textures.get(0).astype(float)
    assert np.abs(np.diff(tex, axis=1)).mean() < 5.0  # of 255: a few levels per pixel step
    assert tex.std() > 20  # smooth, not flat


def test_asset_arrays_are_read_only():
    with pytest.raises(ValueError):
        Assets.builtin().textures.get(0)[0, 0, 0] = 1


def test_a_separate_background_source_is_used_for_backgrounds():
    a = Assets.builtin()
    bg = ArraySource("bg", [np.zeros((32, 32, 3), np.uint8)])
    both = Assets(textures=a.textures, silhouettes=a.silhouettes, backgrounds=bg)
    assert both.background_source is bg and a.background_source is a.textures
    assert both.describe()["backgrounds"]["kind"] == "bg"
