import hashlib
import json

import numpy as np
import pytest
import skimage.data
from layersynth.assets.sources import ArraySource, Assets, SilhouetteSource, TextureSource
from layersynth.scene.config import SceneConfig
from layersynth.scene.sampling import sample_scene


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
    assert d["textures"]["count"] == len(plain.textures)
    assert d["backgrounds"]["count"] == len(plain.backgrounds)
    assert d["textures"]["kind"].endswith("-objects")
    assert d["backgrounds"]["kind"].endswith("-backgrounds")
    assert smooth.describe()["backgrounds"] is None  # the smooth set serves both, as before
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
    assert both.background_source is bg and a.background_source is a.backgrounds
    assert both.describe()["backgrounds"]["kind"] == "bg"
    plain = Assets(textures=a.textures, silhouettes=a.silhouettes)
    assert plain.background_source is plain.textures


def digests(source) -> set[bytes]:
    return {hashlib.sha256(source.get(i).tobytes()).digest() for i in range(len(source))}


def test_builtin_objects_never_take_a_background_texture_image():
    a = Assets.builtin()
    objects, backgrounds = digests(a.textures), digests(a.backgrounds)
    assert len(objects) == len(a.textures) and len(backgrounds) == len(a.backgrounds)
    assert not objects & backgrounds
    assert len(a.textures) >= 120 and len(a.backgrounds) >= 60


def test_sampled_objects_and_occluders_draw_from_the_object_pool_backgrounds_from_theirs():
    a = Assets.builtin()
    cfg = SceneConfig.preset("tiny", objects=(3,), occluder_prob=1.0)
    rng = np.random.default_rng(3)
    for _ in range(10):
        p = sample_scene(rng, cfg, a)
        background = digests(ArraySource("bg", [a.backgrounds.get(p.background.texture)]))
        layers = [*p.objects, *([p.occluder] if p.occluder else [])]
        assert len(layers) >= 3
        for layer in layers:
            texture = a.textures.get(layer.appearance.texture)
            assert not digests(ArraySource("t", [texture])) & background
