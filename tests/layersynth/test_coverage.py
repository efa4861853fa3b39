"""Anti-aliased edges: area coverage of the layers a pixel straddles, binary masks at pixel
centres without stray specks, and render_masks giving the masks of render."""

from dataclasses import dataclass

import numpy as np
from layersynth.assets.sources import Assets
from layersynth.motion import homography, tps
from layersynth.render import kernels, mipmap, sprites
from layersynth.render import renderer as render_mod
from layersynth.render.composition import coverage_colour, modal_from_amodal
from layersynth.render.exact_flow import NEWTON_MAX_ITER, NEWTON_TOL
from layersynth.render.renderer import render, render_masks
from layersynth.scene.config import SceneConfig
from layersynth.scene.sampling import sample_scene
from scipy import ndimage

ASSETS = Assets.builtin()
FG, BG = np.array([220.0, 40.0, 30.0]), np.array([20.0, 30.0, 200.0])
EIGHT = np.ones((3, 3), bool)


@dataclass(frozen=True)
class _Flat:
    """A texture source whose every texture is one flat colour."""

    colour: np.ndarray

    def get(self, index) -> np.ndarray:
        return sprites.readonly(np.broadcast_to(self.colour.astype(np.uint8), (8, 8, 3)))


def reference_coverage(mask: sprites.SpriteMask, inverse, x: np.ndarray, h: float = 1e-5):
    """Numpy coverage: clip(0.5 + sd / |grad_x sd|, 0, 1) at image points x (N, 2), the gradient
    by central differences through `inverse` (image -> canonical points)."""
    sd = mask.signed_distance(inverse(x))  # -inf off the grid: coverage 0 there
    gx = mask.signed_distance(inverse(x + [h, 0.0])) - mask.signed_distance(inverse(x - [h, 0.0]))
    gy = mask.signed_distance(inverse(x + [0.0, h])) - mask.signed_distance(inverse(x - [0.0, h]))
    norm = np.hypot(gx, gy) / (2 * h)
    return np.where(np.isfinite(sd), np.clip(0.5 + sd / np.nan_to_num(norm, nan=1.0), 0, 1), 0.0)


def _flat_occluder(hom, polygon, h, w):
    """flat_frame of a polygon occluder (flat colour 100) under `hom` on an empty h x w frame ->
    (trans, occl, colour, want): want the reference coverage at every pixel."""
    hinv = homography.inverse(hom)
    m = sprites.polygon_mask([np.array(polygon, float)], scale=1.0)
    claimed, occl, trans = np.zeros((h, w), bool), np.zeros((h, w), bool), np.ones((h, w))
    colour, flow = np.zeros((h, w, 3)), np.zeros((2, h, w, 2), np.float32)
    tex = sprites.readonly(np.full((4, 4, 3), 100, np.uint8))
    aff = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    kernels.flat_frame(hinv, np.stack([hom, hom]), m.sdf, m.scale, *m.origin,
                       *mipmap.single(tex).kernel_args(), aff, np.ones(3), np.zeros(3), True,
                       claimed, occl, colour, trans, flow)
    x = np.stack(np.meshgrid(np.arange(w, dtype=float), np.arange(h, dtype=float)), -1)
    want = reference_coverage(m, lambda p: homography.apply(hinv, p), x.reshape(-1, 2))
    return trans, occl, colour, want.reshape(h, w)


def test_occluder_coverage_equals_the_numpy_reference_under_a_perspective_map():
    hom = np.array([[0.9, -0.2, 14.0], [0.15, 1.1, 11.0], [2e-3, -1e-3, 1.0]])
    trans, occl, colour, want = _flat_occluder(
        hom, [[-8.0, -6.0], [9.0, -7.5], [4.0, 8.0], [-7.0, 5.0]], 28, 32)
    edge = (want > 0) & (want < 1)
    assert edge.sum() > 30  # the outline crosses pixels at many offsets
    np.testing.assert_allclose(1.0 - trans, want, atol=1e-4)
    np.testing.assert_allclose(colour[..., 0], 100.0 * want, atol=1e-2)
    assert np.array_equal(occl, want > 0.5)  # the mask: sd > 0 at the centre, i.e. a > 1/2


def test_front_to_back_coverage_gives_the_reference_composition():
    colours = np.array([[[10.0, 20.0, 30.0]], [[200.0, 100.0, 0.0]], [[50.0, 50.0, 250.0]]])
    cov = np.array([[0.25], [0.5], [1.0]])
    out = coverage_colour(colours, cov)
    want = 0.25 * colours[0] + 0.75 * 0.5 * colours[1] + 0.375 * colours[2]
    np.testing.assert_array_equal(out[0], np.floor(want[0] + 0.5).astype(np.uint8))


def _flat_scene(seed):
    cfg = SceneConfig.preset("tiny", objects=(1,), photometric=False, occluder_prob=0.0,
                             parallax_prob=0.0, frames=4, articulated_prob=0.0)
    p = sample_scene(np.random.default_rng(seed), cfg, ASSETS)
    flat = Assets(textures=_Flat(FG), silhouettes=ASSETS.silhouettes, backgrounds=_Flat(BG))
    return p, flat


def test_flat_colour_edges_mix_the_two_colours_across_every_outline():
    between = straddling = 0
    for seed in range(3):
        p, flat = _flat_scene(seed)
        s = render(p, flat)
        for t, m in enumerate(s.amodal[0]):
            edge = ndimage.binary_dilation(m, EIGHT) & ~ndimage.binary_erosion(m, EIGHT)
            rgb = s.rgb[t].astype(float)
            fg, bg = np.unique(rgb[m & ~edge], axis=0), np.unique(rgb[~m & ~edge], axis=0)
            assert len(fg) == 1 and len(bg) == 1  # away from the outline: one layer's colour
            d = fg[0] - bg[0]
            assert d @ d > 40.0**2
            share = (rgb - bg[0]) @ d / (d @ d)  # the foreground's share of the colour
            mixed = (share > 0.02) & (share < 0.98)
            # Across the outline, of two 4-neighbours one inside and one outside, one at least
            # lies within half a pixel of it (partly covered): its colour is a mix.
            for a, b in ((np.s_[:, 1:], np.s_[:, :-1]), (np.s_[1:], np.s_[:-1])):
                cross = m[a] != m[b]
                straddling += int(cross.sum())
                between += int((cross & (mixed[a] | mixed[b])).sum())
    assert straddling > 100 and between > 0.9 * straddling


def test_render_masks_gives_the_masks_of_render_with_coverage_on():
    cfg = SceneConfig.preset("tiny", objects=(3,), occluder_prob=1.0, frames=4,
                             articulated_prob=0.5)
    for seed in (1, 2):
        p = sample_scene(np.random.default_rng(seed), cfg, ASSETS)
        s = render(p, ASSETS)
        amodal, modal = render_masks(p, ASSETS)
        assert np.array_equal(s.amodal, amodal) and np.array_equal(s.modal, modal)
        assert np.array_equal(s.modal, modal_from_amodal(s.amodal, s.occluder))


def _rendered_mask(mask: sprites.SpriteMask, hinv: np.ndarray, size: int) -> np.ndarray:
    """(size, size) bool: the object kernel's mask of `mask` under homography H (no spline)."""
    points, ident = np.zeros((0, 2)), np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    claimed, amodal = np.zeros((size, size), bool), np.zeros((size, size), bool)
    tex = sprites.readonly(np.zeros((2, 2, 3), np.uint8))
    dummy = np.zeros((1, 1, 3)), np.ones((1, 1)), np.zeros((2, 1, 1, 2), np.float32)
    kernels.object_frame(hinv, np.stack([hinv, hinv]), points, ident, np.stack([ident, ident]),
                         np.array([0, size, 0, size], np.int64), mask.sdf,
                         np.maximum(-mask.sdf - 2.5 / mask.scale, 0.0), mask.scale, *mask.origin,
                         *mipmap.single(tex).kernel_args(), np.zeros((2, 3)), np.ones(3),
                         np.zeros(3), 1, False, claimed, amodal,
                         np.zeros((size, size), np.uint8), *dummy, NEWTON_TOL, NEWTON_MAX_ITER)
    return amodal


def test_small_rendered_shapes_have_no_specks_and_no_more_pieces_than_the_shape():
    rng = np.random.default_rng(3)
    size, specks, worst = 72, 0, 0
    for n in range(48):
        if n % 2:
            sil = ASSETS.silhouettes.get(int(rng.integers(len(ASSETS.silhouettes))))
            mask = sprites.silhouette_mask(sil, radius=float(rng.uniform(10, 24)))
        else:
            mask = sprites.polygon_mask([sprites.sample_polygon(rng, (4, 9), float(
                rng.uniform(8, 24)), 0.3, bool(n % 4))])
        angle, zoom = rng.uniform(0, 2 * np.pi), rng.uniform(1.0, 1.3)
        c, s = zoom * np.cos(angle), zoom * np.sin(angle)
        hom = np.array([[c, -s, size / 2 + rng.uniform(-1, 1)], [s, c, size / 2], [0, 0, 1.0]])
        got = _rendered_mask(mask, homography.inverse(hom), size)
        assert got.any() and not (got[0].any() or got[-1].any() or got[:, 0].any())
        labels, count = ndimage.label(got, EIGHT)
        pieces = ndimage.label(mask.mask, EIGHT)[1]
        sizes = np.bincount(labels.ravel())[1:]
        specks += int((sizes <= 2).sum())
        worst = max(worst, count - pieces)
    assert specks == 0 and worst <= 0


def test_the_scan_jumps_skip_no_pixel_an_edge_covers_in_part():
    """Each object layer drawn with its clearance map equals the same layer inverting every
    pixel of its box (no jumps): colour, transmittance and masks, bit for bit."""
    cfg = SceneConfig.preset("tiny", objects=(3,), frames=3, articulated_prob=0.5)
    p = sample_scene(np.random.default_rng(6), cfg, ASSETS)
    h, w = p.height, p.width
    for k, obj in enumerate(p.objects):
        plan = render_mod._plan_object(obj, p, ASSETS, k + 1)
        for sub in getattr(plan, "parts", (plan,)):
            for e in range(1, p.frames + 1):
                outs = []
                for dist in (sub.dist, np.zeros_like(sub.dist)):
                    buf = (np.zeros((h, w), bool), np.zeros((h, w), bool),
                           np.zeros((h, w), np.uint8), np.zeros((h, w, 3)), np.ones((h, w)),
                           np.zeros((2, h, w, 2), np.float32))
                    m, f = sub.mask, sub.fmap
                    kernels.object_frame(*f.homographies(e), f.points, *f.splines(e),
                                         sub.boxes[e], m.sdf, dist, m.scale, *m.origin,
                                         *sub.shading.at(e), k + 1, True, *buf, NEWTON_TOL,
                                         NEWTON_MAX_ITER)
                    outs.append(buf)
                for a, b in zip(*outs, strict=True):
                    assert np.array_equal(a, b)


def test_object_coverage_under_a_spline_equals_the_numpy_reference():
    rng = np.random.default_rng(9)
    points = np.array([[-6.0, -6.0], [6.0, -6.0], [6.0, 6.0], [-6.0, 6.0], [0.0, 0.0]])
    coef = np.ascontiguousarray(tps.fit(points, points + rng.normal(0, 0.8, points.shape)))
    hom = np.array([[1.1, 0.2, 16.0], [-0.1, 0.9, 14.0], [1e-3, 0.0, 1.0]])
    hinv = homography.inverse(hom)
    m = sprites.polygon_mask([np.array([[-7.0, -5.0], [6.0, -6.5], [5.0, 7.0], [-6.0, 4.0]])])
    h, w = 30, 32
    claimed, amodal, modal = np.zeros((h, w), bool), np.zeros((h, w), bool), np.zeros((h, w), "u1")
    colour, trans, flow = np.zeros((h, w, 3)), np.ones((h, w)), np.zeros((2, h, w, 2), "f4")
    tex = sprites.readonly(np.full((4, 4, 3), 100, np.uint8))
    kernels.object_frame(hinv, np.stack([hom, hom]), points, coef, np.stack([coef, coef]),
                         np.array([0, h, 0, w]), m.sdf, np.zeros(m.sdf.shape), m.scale, *m.origin,
                         *mipmap.single(tex).kernel_args(),
                         np.array([[1.0, 0, 0], [0, 1.0, 0]]), np.ones(3), np.zeros(3), 1, True,
                         claimed, amodal, modal, colour, trans, flow, NEWTON_TOL, NEWTON_MAX_ITER)
    x = np.stack(np.meshgrid(np.arange(w, dtype=float), np.arange(h, dtype=float)), -1)
    want = reference_coverage(m, lambda p: tps.invert(coef, points, homography.apply(hinv, p),
                                                      tol=1e-12), x.reshape(-1, 2)).reshape(h, w)
    assert ((want > 0) & (want < 1)).sum() > 30
    np.testing.assert_allclose(1.0 - trans, want, atol=2e-3)  # Newton to 0.02 px, then 1st order
    assert np.array_equal(amodal, want > 0.5)


def test_a_small_occluder_far_from_most_pixels_gets_the_reference_coverage_everywhere():
    """A 3-pixel triangle in a 40 x 64 frame under perspective: flat_frame's box and coverage
    leave no pixel out and add none."""
    hom = np.array([[1.3, 0.1, 40.0], [-0.05, 1.2, 20.0], [3e-3, 1e-3, 1.0]])
    trans, occl, _, want = _flat_occluder(hom, [[0.0, 0.0], [2.5, 0.3], [0.8, 2.2]], 40, 64)
    assert 0 < (want > 0).sum() < 30
    np.testing.assert_allclose(1.0 - trans, want, atol=1e-4)
    assert np.array_equal(occl, want > 0.5)
