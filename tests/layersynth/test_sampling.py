"""sample_scene: reproducible draws, the scene mix, motion limits and the occlusion range."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth.assets.sources import Assets
from layersynth.motion import homography
from layersynth.render import sprites
from layersynth.render.composition import occlusion_fraction
from layersynth.render.renderer import render_masks
from layersynth.scene.config import SceneConfig
from layersynth.scene.sampling import _sample_object, sample_scene

ASSETS = Assets.builtin()
TINY = SceneConfig.preset("tiny")


def test_same_seed_gives_the_same_scene_and_different_seeds_differ():
    a = sample_scene(np.random.default_rng(7), TINY, ASSETS)
    assert a == sample_scene(np.random.default_rng(7), TINY, ASSETS)
    assert a != sample_scene(np.random.default_rng(8), TINY, ASSETS)


def test_object_counts_come_in_equal_proportions():
    rng = np.random.default_rng(0)
    counts = Counter(len(sample_scene(rng, TINY, ASSETS).objects) for _ in range(600))
    assert set(counts) == {1, 2, 3}
    assert all(150 <= c <= 250 for c in counts.values())


def test_every_sprite_kind_and_occluders_occur():
    rng = np.random.default_rng(1)
    scenes = [sample_scene(rng, TINY, ASSETS) for _ in range(60)]
    kinds = Counter(o.sprite.kind for s in scenes for o in s.objects)
    assert kinds["polygon"] > 10 and kinds["silhouette"] > 10 and kinds["articulated"] > 10
    assert 5 < sum(s.occluder is not None for s in scenes) < 40


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_control_point_perturbations_stay_below_half_the_nearest_distance(seed):
    p = sample_scene(np.random.default_rng(seed), SceneConfig.preset("oclr"), ASSETS)
    for o in p.objects:
        points = np.asarray(o.deformation.points)
        size = np.linalg.norm(np.asarray(o.deformation.amplitude), axis=1)
        assert np.all(size < sprites.nearest_distance(points) / 2)
        assert np.any(size > 0)  # a non-empty subset moves
        if o.sprite.kind == "polygon":
            assert np.array_equal(points, np.asarray(o.sprite.vertices))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_object_centres_stay_inside_the_frame_and_things_move(seed):
    p = sample_scene(np.random.default_rng(seed), SceneConfig.preset("oclr"), ASSETS)
    for o in p.objects:
        if o.crossing:  # entering and leaving paths are tested in test_events
            continue
        xy = homography.components(np.asarray(o.motion.coeffs), p.taus)[:, :2]
        assert np.all((xy >= 0) & (xy <= [p.width, p.height]))
    cam = homography.matrices(np.asarray(p.camera.coeffs), p.taus, p.camera.shake)
    assert not np.allclose(cam[0], cam[-1])


def test_photometric_off_sets_every_jitter_amplitude_to_zero():
    cfg = SceneConfig.preset("tiny", photometric=False, occluder_prob=1.0)
    p = sample_scene(np.random.default_rng(3), cfg, ASSETS)
    layers = [p.background, p.occluder.appearance] + [o.appearance for o in p.objects]
    assert all(a.jitter_amp == (0.0, 0.0, 0.0) for a in layers)
    p_on = sample_scene(np.random.default_rng(3), SceneConfig.preset("tiny"), ASSETS)
    assert any(a != 0 for a in p_on.background.jitter_amp)


def test_scenes_meet_the_occlusion_range():
    cfg = SceneConfig.preset("tiny", frames=4, objects=(3,), occlusion=(0.1, 0.3))
    rng = np.random.default_rng(4)
    for _ in range(3):
        p = sample_scene(rng, cfg, ASSETS)
        assert 0.1 <= occlusion_fraction(*render_masks(p, ASSETS)) <= 0.3


def test_an_unreachable_occlusion_range_raises_a_clear_error():
    cfg = SceneConfig.preset("tiny", frames=2, objects=(1,), occluder_prob=0.0,
                             full_occlusion_prob=0.0, occlusion=(0.9, 1.0), occlusion_tries=5)
    with pytest.raises(ValueError, match="occlusion 0.9:1.0: none of 5"):
        sample_scene(np.random.default_rng(0), cfg, ASSETS)


@pytest.mark.parametrize("share", [0.2, 0.5, 0.8])
def test_polygons_drawn_non_convex_are_non_convex_at_the_configured_share(share):
    cfg = SceneConfig.preset("tiny", articulated_prob=0.0, polygon_prob=1.0,
                             polygon_nonconvex=share)
    rng = np.random.default_rng(2)
    polygons = [np.asarray(_sample_object(rng, cfg, ASSETS).sprite.vertices) for _ in range(300)]
    solidity = np.array([sprites.solidity(v) for v in polygons])
    assert all(sprites.is_simple(v) for v in polygons)
    assert abs((solidity < 1 - 1e-9).mean() - share) <= 0.05
    assert ((solidity > 1 - 1e-9) | (solidity <= sprites.NONCONVEX_SOLIDITY)).all()


def test_articulated_objects_come_at_their_configured_share():
    cfg = SceneConfig.preset("tiny", articulated_prob=0.3)
    rng = np.random.default_rng(3)
    kinds = Counter(_sample_object(rng, cfg, ASSETS).sprite.kind for _ in range(400))
    assert abs(kinds["articulated"] / 400 - 0.3) <= 0.05
    none = SceneConfig.preset("tiny", articulated_prob=0.0)
    assert all(_sample_object(rng, none, ASSETS).sprite.kind != "articulated" for _ in range(50))
