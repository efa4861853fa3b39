"""The numba render kernels against the reference functions of motion.tps, motion.homography and
render.textures, on small frames; and against a brute-force inverse on whole rendered scenes."""

from dataclasses import replace

import numpy as np
from layersynth.assets.sources import Assets
from layersynth.motion import homography, tps
from layersynth.render import exact_flow, kernels, mipmap, sprites, textures
from layersynth.render import renderer as render_mod
from layersynth.render.exact_flow import NEWTON_MAX_ITER, NEWTON_TOL
from layersynth.render.renderer import render, render_masks
from layersynth.scene.config import SceneConfig
from layersynth.scene.sampling import sample_scene

H, W = 12, 16
ASSETS = Assets.builtin()


def _hom(tx, ty, rot, persp=0.0):
    c, s = np.cos(rot), np.sin(rot)
    return np.array([[c, -s, tx], [s, c, ty], [persp, 0.0, 1.0]])


HOMS = (_hom(6.0, 5.0, 0.05), _hom(7.5, 4.0, 0.1, 1e-3), _hom(5.0, 6.5, 0.0))  # e - 1, e, e + 1
HINV, H_NEXT, H_PREV = homography.inverse(HOMS[1]), HOMS[2], HOMS[0]
H_TO = np.stack([H_NEXT, H_PREV])  # the kernels' flow targets: +1, -1
PIXELS = np.stack(np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float)), -1)


def _shading(seed=0, size=(9, 11), scale=0.8):
    """(MipTexture, aff, gain, bias); the default texture is magnified (0.8 texels a pixel)."""
    rng = np.random.default_rng(seed)
    tex = sprites.readonly(rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    aff = textures.texture_affine((4.0, 3.0), scale, (True, False))
    return mipmap.cached(tex), aff, np.array([1.1, 0.9, 1.0]), np.array([3.0, -2.0, 0.0])


def _colour(tex, aff, gain, bias, c, jac=None):
    return np.clip(textures.sample(tex, aff, c, jac) * gain + bias, 0, 255)


def _row_centre_jacobian(hinv, width):
    """dc/dx where flat_frame takes its footprint: at the centre of each row of its view."""
    mid = PIXELS.copy()
    mid[..., 0] = (width - 1) / 2.0
    return textures.homography_jacobian(hinv, mid)


def _outputs():
    """claimed, colour, trans, flow of an empty frame."""
    return (np.zeros((H, W), bool), np.zeros((H, W, 3)), np.ones((H, W)),
            np.zeros((2, H, W, 2), np.float32))


def _background(shading, claimed, colour, trans, flow):
    """background_frame over the whole frame -> the rgb (H, W, 3) uint8 it closed the frame to."""
    rgb = np.zeros((H, W, 3), np.uint8)
    tex, aff, gain, bias = shading
    kernels.background_frame(HINV, H_TO, *tex.kernel_args(), aff, gain, bias, claimed, colour,
                             trans, rgb, flow)
    return rgb


def test_background_fills_unclaimed_pixels_with_the_reference_colour_and_homography_flow():
    tex, aff, gain, bias = _shading()
    claimed, colour, trans, flow = _outputs()
    claimed[3, 4] = True
    trans[3, 4] = 0.0  # a nearer layer covers that pixel fully, with this colour
    colour[3, 4] = (7.2, 80.6, 254.9)
    rgb = _background((tex, aff, gain, bias), claimed, colour, trans, flow)
    assert (trans == 1.0).all()  # ready for the next frame
    c = homography.apply(HINV, PIXELS)
    free = np.ones((H, W), bool)
    free[3, 4] = False
    want = _colour(tex, aff, gain, bias, c)
    assert np.abs(rgb[free] - want[free]).max() <= 0.5 + 1e-9
    for gap, h_to in ((0, H_NEXT), (1, H_PREV)):
        np.testing.assert_allclose(flow[gap][free], (homography.apply(h_to, c) - PIXELS)[free],
                                   atol=1e-4)
    assert list(rgb[3, 4]) == [7, 81, 255] and not flow[:, 3, 4].any()  # the nearer layer's


def test_background_adds_its_colour_behind_a_partly_covering_layer_and_rounds_once():
    tex, aff, gain, bias = _shading()
    claimed, colour, trans, flow = _outputs()
    trans[2, 5], colour[2, 5] = 0.25, (30.0, 60.2, 90.4)  # a nearer layer covers 3/4 of it
    claimed[2, 5] = True  # ... and its centre: that layer owns the flow
    rgb = _background((tex, aff, gain, bias), claimed, colour, trans, flow)
    want = _colour(tex, aff, gain, bias, homography.apply(HINV, PIXELS))[2, 5]
    expect = np.clip(np.floor(np.array([30.0, 60.2, 90.4]) + 0.25 * want + 0.5), 0, 255)
    assert list(rgb[2, 5]) == list(expect) and not flow[:, 2, 5].any()
    assert trans[2, 5] == 1.0


def test_flat_frame_as_occluder_claims_and_marks_only_the_pixels_on_its_mask():
    tex, aff, gain, bias = _shading(1)
    square = [np.array([[-3.0, -2.0], [2.0, -2.0], [2.0, 3.0], [-3.0, 3.0]])]
    mask = sprites.polygon_mask(square, scale=1.0)
    claimed, colour, trans, flow = _outputs()
    occl = np.zeros((H, W), bool)
    c = homography.apply(HINV, PIXELS)
    want = mask.covers(c)
    first = tuple(np.argwhere(want)[0])
    claimed[first] = True
    kernels.flat_frame(HINV, H_TO, mask.sdf, mask.scale, *mask.origin, *tex.kernel_args(),
                       aff, gain, bias, True, claimed, occl, colour, trans, flow)
    expect_claimed = want.copy()
    want[first] = False
    assert want.sum() > 10
    assert np.array_equal(occl, want) and np.array_equal(claimed, expect_claimed)
    cov = 1.0 - trans  # the coverage it drew with, checked against its reference in test_coverage
    assert ((cov >= 0.5) == expect_claimed).all() and (cov[expect_claimed] > 0.5).all()
    np.testing.assert_allclose(colour, cov[..., None] * _colour(tex, aff, gain, bias, c),
                               atol=1e-9)
    assert flow[:, want].any() and not flow[:, ~want].any()  # flow where it claims only


def test_background_filters_a_minified_texture_as_the_reference_trilinear_sampler():
    tex, aff, gain, bias = _shading(2, size=(64, 80), scale=3.0)  # ~3 texels a pixel
    assert len(tex.levels) == 3
    claimed, colour, trans, flow = _outputs()
    rgb = _background((tex, aff, gain, bias), claimed, colour, trans, flow)
    jac = _row_centre_jacobian(HINV, W)
    lod = textures.level_of_detail(aff, jac)
    assert 1.0 < lod.min() and lod.max() < 2.0  # levels 1 and 2 blended
    want = _colour(tex, aff, gain, bias, homography.apply(HINV, PIXELS), jac)
    assert np.abs(rgb - want).max() <= 0.5 + 1e-9


def _spline(seed):
    rng = np.random.default_rng(seed)
    points = np.array([[-4.0, -4.0], [4.0, -4.0], [4.0, 4.0], [-4.0, 4.0], [0.0, 0.0]])
    coefs = [np.ascontiguousarray(tps.fit(points, points + rng.normal(0, 0.6, points.shape)))
             for _ in range(3)]  # e - 1, e, e + 1
    return points, coefs


def _draw_object(points, coefs, mask, shading, label, shade_on, buffers):
    """object_frame over the whole frame with no jumps (every pixel inverted): the spline
    `coefs` (e - 1, e, e + 1), `shading` (MipTexture, aff, gain, bias), `buffers` (claimed,
    colour, trans, flow) -> the (amodal, modal) it wrote."""
    (c_prev, c_e, c_next), (tex, aff, gain, bias) = coefs, shading
    amodal, modal = np.zeros((H, W), bool), np.zeros((H, W), np.uint8)
    kernels.object_frame(HINV, H_TO, points, c_e, np.stack([c_next, c_prev]),
                         np.array([0, H, 0, W], np.int64), mask.sdf, np.zeros(mask.sdf.shape),
                         mask.scale, mask.origin[0], mask.origin[1], *tex.kernel_args(), aff, gain,
                         bias, label, shade_on, buffers[0], amodal, modal, *buffers[1:],
                         NEWTON_TOL, NEWTON_MAX_ITER)
    return amodal, modal


def test_object_frame_matches_newton_inverse_mask_lookup_texture_and_forward_flow():
    points, coefs = _spline(2)
    c_prev, c_e, c_next = coefs
    tex, aff, gain, bias = _shading(3)
    mask = sprites.polygon_mask([np.array([[-5.0, -3.0], [4.0, -4.0], [3.0, 5.0], [-4.0, 3.0]])])
    claimed, colour, trans, flow = _outputs()
    claimed[5, :] = True  # a nearer layer owns row 5 (its centres) and covers it fully
    trans[5, :] = 0.0
    amodal, modal = _draw_object(points, coefs, mask, (tex, aff, gain, bias), 3, True,
                                 (claimed, colour, trans, flow))
    x = PIXELS.reshape(-1, 2)
    c = tps.invert(c_e, points, homography.apply(HINV, x), tol=1e-10)
    covered = mask.covers(c).reshape(H, W)
    assert 10 < covered.sum() < H * W and covered[5].any()
    assert np.array_equal(amodal, covered)  # amodal under the nearer layer too
    visible = covered.copy()
    visible[5] = False
    assert np.array_equal(modal == 3, visible) and not modal[5].any()
    assert np.array_equal(claimed, visible | (np.arange(H)[:, None] == 5))
    c = c.reshape(H, W, 2)
    cov = 1.0 - trans
    cov[5] = 0.0
    assert ((cov >= 0.5) == visible).all()
    drawn = np.abs(colour - cov[..., None] * _colour(tex, aff, gain, bias, c))
    assert drawn.max() <= 1.0 and not colour[5].any()
    for gap, (h_to, c_to) in enumerate(((H_NEXT, c_next), (H_PREV, c_prev))):
        want = homography.apply(h_to, tps.evaluate(c_to, points, c)) - PIXELS
        np.testing.assert_allclose(flow[gap][visible], want[visible], atol=2e-3)
    assert not flow[:, ~visible].any() and not colour[cov == 0.0].any()


def test_object_frame_filters_a_minified_texture_by_the_footprint_of_its_inverse_map():
    points, coefs = _spline(2)
    c_e = coefs[1]
    tex, aff, gain, bias = _shading(5, size=(64, 80), scale=3.0)
    mask = sprites.polygon_mask([np.array([[-5.0, -3.0], [4.0, -4.0], [3.0, 5.0], [-4.0, 3.0]])])
    claimed, colour, trans, flow = _outputs()
    _, modal = _draw_object(points, coefs, mask, (tex, aff, gain, bias), 3, True,
                            (claimed, colour, trans, flow))
    interior = (modal == 3) & (trans == 0.0)  # fully covered: colour is the texel alone
    assert interior.sum() > 10

    def inverse(dx, dy):
        x = (PIXELS + [dx, dy]).reshape(-1, 2)
        return tps.invert(c_e, points, homography.apply(HINV, x), tol=1e-10).reshape(H, W, 2)

    jac = np.stack([inverse(0.5, 0) - inverse(-0.5, 0), inverse(0, 0.5) - inverse(0, -0.5)], -1)
    assert textures.level_of_detail(aff, jac)[modal == 3].min() > 1.0  # minified everywhere
    want = _colour(tex, aff, gain, bias, inverse(0, 0), jac)
    assert np.abs(colour[interior] - want[interior]).max() <= 1.0


def test_object_frame_with_shading_off_writes_the_masks_only():
    points, coefs = _spline(4)
    mask = sprites.polygon_mask([np.array([[-5.0, -5.0], [5.0, -5.0], [0.0, 5.0]])])
    claimed, colour, trans, flow = _outputs()
    amodal, modal = _draw_object(points, coefs, mask, _shading(), 1, False,
                                 (claimed, colour, trans, flow))
    assert amodal.any() and np.array_equal(modal == 1, amodal)
    assert not colour.any() and not flow.any() and (trans == 1.0).all()


def test_amodal_masks_equal_a_brute_force_inverse_of_every_pixel():
    """Checks the kernel's warm-started Newton and its jumps over uncovered pixels."""
    p = sample_scene(np.random.default_rng(8), SceneConfig.preset("oclr", objects=(3,), frames=4,
                                                                  articulated_prob=0.6),
                     ASSETS)
    amodal, _ = render_masks(p, ASSETS)
    yy, xx = np.mgrid[0:p.height, 0:p.width].astype(float)
    assert "articulated" in {o.sprite.kind for o in p.objects}  # its parts are checked too
    for k, layer in enumerate(p.objects):
        plan = render_mod._plan_object(layer, p, ASSETS, k + 1)
        subs = getattr(plan, "parts", (plan,))  # an articulated object: the union of its parts
        for t in range(p.frames):
            want = np.zeros(p.height * p.width, bool)
            for sub in subs:
                c = np.nan_to_num(sub.fmap.inverse(t + 1, np.stack([xx, yy], -1).reshape(-1, 2),
                                                   tol=1e-9), nan=-1e6)
                want |= sub.mask.covers(c)
            assert np.array_equal(amodal[k, t], want.reshape(p.height, p.width))


def test_rendered_background_colour_equals_the_reference_sampler():
    p = sample_scene(np.random.default_rng(5), SceneConfig.preset("tiny"), ASSETS)
    p = replace(p, objects=(), occluder=None, planes=())
    rgb = render(p, ASSETS).rgb
    a = p.background
    tex = mipmap.cached(ASSETS.background_source.get(a.texture))
    aff = textures.texture_affine(a.offset, a.scale, a.flip)
    gains = textures.frame_gains(a.gain, a.jitter_amp, a.jitter_freq, a.jitter_phase,
                                 np.arange(p.frames + 2))
    hom = homography.inverse(exact_flow.camera_map(p.camera, p).hom)
    yy, xx = np.mgrid[0:p.height, 0:p.width].astype(float)
    for t in (0, p.frames - 1):
        c = homography.apply(hom[t + 1], np.stack([xx, yy], -1))
        mid = np.stack([np.full_like(xx, (p.width - 1) / 2.0), yy], -1)
        jac = textures.homography_jacobian(hom[t + 1], mid)
        want = np.clip(textures.sample(tex, aff, c, jac) * gains[t + 1] + a.bias, 0, 255)
        assert np.abs(rgb[t].astype(float) - want).max() <= 0.5 + 1e-6


def test_a_flat_layers_scan_box_holds_every_pixel_whose_point_falls_on_its_shape_grid():
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:40, 0:60]
    pix = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    tight = 0
    for _ in range(300):
        hinv = np.eye(3) + 0.3 * rng.standard_normal((3, 3))
        hinv[2, :2] *= 0.01  # perspective of either sign, sometimes past the horizon
        mh, mw = (int(v) for v in rng.integers(2, 40, 2))
        scale, ox, oy = rng.uniform(0.3, 3.0), *rng.uniform(-20.0, 20.0, 2)
        y0, y1, x0, x1 = kernels._grid_box(hinv, mh, mw, scale, ox, oy, 40, 60)
        q = hinv @ pix
        mx, my = q[0] / q[2] * scale + ox, q[1] / q[2] * scale + oy
        on_grid = ((mx >= 0) & (mx <= mw - 1) & (my >= 0) & (my <= mh - 1)).reshape(40, 60)
        box = np.zeros((40, 60), bool)
        box[y0:y1, x0:x1] = True
        assert not (on_grid & ~box).any()
        tight += box.sum() < box.size
    assert tight > 100  # most boxes leave pixels out
