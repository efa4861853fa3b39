"""Static occluders: drawn first, only where their polygons are, moving exactly with the camera."""

import numpy as np
from layersynth.assets.sources import Assets
from layersynth.motion import homography
from layersynth.render import exact_flow, occluders, sprites
from layersynth.render.composition import Canvas
from layersynth.render.renderer import render
from layersynth.scene.config import SceneConfig
from layersynth.scene.params import Occluder
from layersynth.scene.sampling import sample_scene
from scipy.ndimage import binary_erosion

ASSETS = Assets.builtin()
SMOOTH = Assets.builtin(smooth=True)


def _scene(seed, cfg, assets=ASSETS):
    return sample_scene(np.random.default_rng(seed), cfg, assets)


def test_occluders_hide_objects_and_stay_in_the_occluder_mask():
    cfg = SceneConfig.preset("tiny", occluder_prob=1.0, objects=(3,))
    hidden = 0
    for seed in range(4):
        s = render(_scene(seed, cfg), ASSETS)
        assert s.occluder.any()
        hidden += int((s.amodal.any(0) & s.occluder).sum())
    assert hidden > 0


def test_occluders_move_exactly_with_their_own_plane():
    cfg = SceneConfig.preset("tiny", objects=(1,), occluder_prob=1.0, photometric=False)
    p = sample_scene(np.random.default_rng(3), cfg, SMOOTH)
    s = render(p, SMOOTH)
    cam = exact_flow.camera_map(p.occluder.motion, p).hom
    assert p.occluder.motion != p.camera  # nearer than the far plane: its own trajectory
    for t in range(p.frames - 1):
        ys, xs = np.nonzero(s.occluder[t])
        x = np.stack([xs, ys], 1).astype(float)
        moved = homography.apply(cam[t + 2], homography.apply(homography.inverse(cam[t + 1]), x))
        np.testing.assert_allclose(x + s.flow_gt[t, 0][ys, xs], moved, atol=1e-4)
        core = binary_erosion(s.occluder[t], iterations=2)[ys, xs]  # away from the jagged edge
        col, row = np.round(moved[core]).astype(int).T
        inside = (row >= 0) & (row < p.height) & (col >= 0) & (col < p.width)
        assert s.occluder[t + 1][row[inside], col[inside]].all()


def _still_layer(polygons, frames=2):
    """An occluder layer whose camera stays put: canonical point = pixel."""
    p = _scene(0, SceneConfig.preset("tiny", occluder_prob=1.0))
    eye = np.broadcast_to(np.eye(3), (frames + 2, 3, 3)).copy()
    camera = exact_flow.ForwardMap(eye, eye.copy())
    record = Occluder(polygons=polygons, appearance=p.occluder.appearance)
    texture = ASSETS.textures.get(record.appearance.texture)
    return occluders.plan_occluder(record, texture, camera, frames)


def test_the_layer_claims_and_marks_its_polygons_and_leaves_claimed_pixels_alone():
    square = ((1.5, 0.5), (8.5, 0.5), (8.5, 5.5), (1.5, 5.5))  # edges half way between centres
    layer = _still_layer((square,))
    assert layer.mask.scale == occluders.MASK_SCALE
    canvas = Canvas.empty(2, 8, 12, 0, shade_on=True)
    canvas.claimed[3, 5] = True  # a pixel a nearer layer already owns
    layer.draw(0, canvas)
    want = sprites.rasterise([np.asarray(square)], (8, 12), 1.0, (0.0, 0.0))
    assert want.sum() == 7 * 5
    marked = want.copy()
    marked[3, 5] = False
    assert np.array_equal(canvas.occluder[0], marked)
    assert np.array_equal(canvas.claimed, want)
    assert not canvas.occluder[1].any() and not canvas.modal.any()  # modal stays background
    # Colour on every pixel it holds, the claimed one too (no nearer colour there): coverage 1
    # (the 4 corners ~0.85: a corner is no straight edge), and 0 half a pixel outside.
    assert (canvas.trans[want] < 0.2).all() and (canvas.trans[want] == 0.0).sum() == 35 - 4
    assert (canvas.trans[~want] == 1.0).all()
    assert canvas.colour[want].any(axis=-1).all() and not canvas.colour[~want].any()
    assert not canvas.flow.any()  # a camera that stays put: zero flow


def test_a_masks_only_canvas_gets_the_occluder_mask_and_no_colour():
    layer = _still_layer((((0.0, 0.0), (5.0, 0.0), (0.0, 5.0)),))
    canvas = Canvas.empty(2, 8, 12, 0, shade_on=False)
    layer.draw(1, canvas)
    assert canvas.occluder[1].any() and not canvas.occluder[0].any()
    assert not canvas.rgb.any() and canvas.rgb.shape == (1, 1, 1, 3)
