"""The per-frame layer kernels (numba): inverse-map every pixel, read mask and texture, write flow.

These two functions are the renderer's hot loop and are written out in full on purpose: calling
a jitted helper that takes arrays from inside the pixel loop (texture sampling, TPS evaluation)
cost 1.3 to 2.6x more per pixel than the same code written inline (numba reference-counts array
arguments per call); the small helpers here take scalars only, or are inlined. The maths is that
of layersynth.motion.tps (spline, Jacobian, Newton) and layersynth.render.textures (filtered
texture lookup, colour gain); tests compare the kernels against those reference functions. What
they compute is described where it is decided: the inverse map and the flow in
layersynth.render.exact_flow, the claim rule and the coverage in layersynth.render.composition, the
occluder layer in layersynth.render.occluders.

Shared conventions: pixel (row i, column j) has image coordinates (x, y) = (j, i); a homography is a
(3, 3) float64 array; `claimed` (H, W) bool marks pixels whose centre a nearer layer covers (that
layer's flow and labels are final there); `colour` (H, W, 3) float64 accumulates the frame's colour
front to back and `trans` (H, W) float64 is what light still passes the layers drawn so far (0:
the pixel is done); flow (N, H, W, 2) float32 is the frame's flow, index 2i = +g_i, 2i + 1 = -g_i
for the scene's gaps, (u, v). The flow targets come as stacks: h_to (N, 3, 3) the homographies
H_{e+g1}, H_{e-g1}, ... and, for objects, coef_to (N, n + 3, 2) their splines' coefficients
(`exact_flow.ForwardMap.homographies`, `splines`). A layer's shape is a signed distance field
`sdf` (layersynth.render.sprites.SpriteMask), read bilinearly at mask pixel c * mscale + (ox, oy).
A texture is passed as `tex, levels, wrap`, the fields of a layersynth.render.mipmap.MipTexture;
`aff` (2, 3) maps canonical points to its texels. The texture helpers (layersynth.render.texels:
`bilinear_at`, `level_of`, `filtered_texel`) are inlined into the kernels at numba IR level
(inline="always"), which costs nothing per pixel: measured, the level-0 lookup runs as fast as the
former inline code. The object
kernel takes each pixel's texel footprint from the inverse Jacobian its Newton step already holds;
the flat kernel takes it once per row, at the row's centre (a homography's footprint changes by a
few percent across a frame).
"""

from __future__ import annotations

import numba
import numpy as np

from layersynth.render.texels import LOD_BIAS as LOD_BIAS  # re-exported: the kernels' bias
from layersynth.render.texels import bilinear_at, filtered_texel, footprint, level_of


@numba.njit(cache=True, inline="always")
def _project(hm, x, y):
    r = 1.0 / (hm[2, 0] * x + hm[2, 1] * y + hm[2, 2])  # one division: they bound the loops
    return ((hm[0, 0] * x + hm[0, 1] * y + hm[0, 2]) * r,
            (hm[1, 0] * x + hm[1, 1] * y + hm[1, 2]) * r)


@numba.njit(cache=True, inline="always")
def _project_to(hs, g, x, y):
    """_project through hs[g] of a stack hs (N, 3, 3), indexed in place (no array view per
    pixel)."""
    r = 1.0 / (hs[g, 2, 0] * x + hs[g, 2, 1] * y + hs[g, 2, 2])
    return ((hs[g, 0, 0] * x + hs[g, 0, 1] * y + hs[g, 0, 2]) * r,
            (hs[g, 1, 0] * x + hs[g, 1, 1] * y + hs[g, 1, 2]) * r)


@numba.njit(cache=True, inline="always")
def _hom_jacobian(hm, x, y, px, py):
    """d(H x)/dx at image point (x, y) whose image under hm is (px, py): (a00, a01, a10, a11)."""
    r = 1.0 / (hm[2, 0] * x + hm[2, 1] * y + hm[2, 2])
    return ((hm[0, 0] - px * hm[2, 0]) * r, (hm[0, 1] - px * hm[2, 1]) * r,
            (hm[1, 0] - py * hm[2, 0]) * r, (hm[1, 1] - py * hm[2, 1]) * r)


@numba.njit(cache=True, inline="always")
def _sdf_at(sdf, mx, my):
    """(inside grid, sd, dsd/dmx, dsd/dmy): bilinear signed distance at mask point (mx, my) and its
    gradient per mask pixel; outside the grid (False, -1, 0, 0)."""
    mh, mw = sdf.shape[0], sdf.shape[1]
    if not (0.0 <= mx <= mw - 1 and 0.0 <= my <= mh - 1):
        return False, -1.0, 0.0, 0.0
    m0, n0 = min(int(mx), mw - 2), min(int(my), mh - 2)
    fx, fy = mx - m0, my - n0
    s00, s01, s10, s11 = sdf[n0, m0], sdf[n0, m0 + 1], sdf[n0 + 1, m0], sdf[n0 + 1, m0 + 1]
    top, bot = s00 + (s01 - s00) * fx, s10 + (s11 - s10) * fx
    return True, top + (bot - top) * fy, (s01 - s00) * (1.0 - fy) + (s11 - s10) * fy, bot - top


@numba.njit(cache=True, inline="always")
def _coverage(sd, gx, gy, g00, g01, g10, g11):
    """(coverage, |grad_x sd|): the area coverage in [0, 1] of a pixel whose centre is at signed
    distance sd from a locally straight edge, clip(0.5 + d, 0, 1) with d = sd / |grad_x sd| in
    image pixels; (gx, gy) is grad_c sd and g = dc/dx (canonical per image pixel). A degenerate
    map covers by the centre alone.

    The callers skip it (coverage 1 or 0 by the sign of sd) where |sd| > 2 |grad_x sd| of the
    last pixel they computed it for on the row: d is then beyond +-0.5 unless the stretch grew
    4x from one pixel to the next."""
    ix, iy = g00 * gx + g10 * gy, g01 * gx + g11 * gy
    norm = np.sqrt(ix * ix + iy * iy)
    if not norm > 1e-12:
        return (1.0 if sd > 0.0 else 0.0), 0.0
    return min(max(0.5 + sd / norm, 0.0), 1.0), norm


@numba.njit(cache=True)
def _grid_box(hinv, mh, mw, mscale, ox, oy, height, width):
    """(y0, y1, x0, x1) half-open: the pixels of a height x width frame whose canonical point
    H^-1 x can lie on an (mh, mw) sdf grid (mask pixels c * mscale + (ox, oy)): the box of the
    grid corners' images under H (the adjugate of H^-1), a pixel wider each side for its rounding.
    The image of the grid is that convex quadrilateral only when H's w keeps one sign over the
    grid (no point of it at infinity); else, or when H^-1 is singular, the whole frame."""
    a = hinv
    hm = np.empty((3, 3))  # adj(H^-1) = det(H^-1) H: the same map
    for r in range(3):
        for c in range(3):
            r1, r2, c1, c2 = (c + 1) % 3, (c + 2) % 3, (r + 1) % 3, (r + 2) % 3
            hm[r, c] = a[r1, c1] * a[r2, c2] - a[r1, c2] * a[r2, c1]
    lo_x = lo_y = np.inf
    hi_x = hi_y = -np.inf
    pos = neg = 0
    for cmx in (0.0, mw - 1.0):
        for cmy in (0.0, mh - 1.0):
            cx, cy = (cmx - ox) / mscale, (cmy - oy) / mscale
            wgt = hm[2, 0] * cx + hm[2, 1] * cy + hm[2, 2]
            pos, neg = pos + (wgt > 0.0), neg + (wgt < 0.0)
            if wgt != 0.0:
                px, py = _project(hm, cx, cy)
                lo_x, hi_x, lo_y, hi_y = min(lo_x, px), max(hi_x, px), min(lo_y, py), max(hi_y, py)
    if not ((pos == 4 or neg == 4) and np.isfinite(lo_x + hi_x + lo_y + hi_y)):
        return 0, height, 0, width
    x0 = int(min(max(np.floor(lo_x) - 1.0, 0.0), width))
    x1 = int(min(max(np.ceil(hi_x) + 2.0, x0), width))
    y0 = int(min(max(np.floor(lo_y) - 1.0, 0.0), height))
    return y0, int(min(max(np.ceil(hi_y) + 2.0, y0), height)), x0, x1


@numba.njit(cache=True)
def flat_frame(hinv, h_to, sdf, mscale, ox, oy, tex, levels, wrap, aff, gain, bias, shade_on,
               claimed, occl, colour, trans, flow):
    """A flat shape layer (occluder, near plane): forward map the homography alone (F = H), shape
    `sdf`, over the pixels whose canonical point can fall on the sdf grid.

    It claims and marks in `occl` the unclaimed pixels whose centre it covers (sd > 0), writes
    their flow and, when shade_on, adds its colour to every pixel it covers in part (coverage
    a > 0) that is not done yet (done: trans <= 0; masks only: claimed). (Jumping over the pixels
    the signed distance rules out, as `object_frame` does, was slower: boxes are mostly covered.)
    """
    xm = 0.5 * (claimed.shape[1] - 1)
    mh, mw = sdf.shape[0], sdf.shape[1]
    y0, y1, x0, x1 = _grid_box(hinv, mh, mw, mscale, ox, oy, claimed.shape[0], claimed.shape[1])
    for i in range(y0, y1):
        nrm = 0.0  # |grad_x sd| at the last pixel of the row whose coverage was computed
        mx, my = _project(hinv, xm, float(i))  # the footprint changes little along a row
        base, f = level_of(levels, footprint(hinv, aff, xm, float(i), mx, my, 1.0, 0.0, 0.0, 1.0))
        nxt = min(base + 1, levels.shape[0] - 1)
        s0, h0, w0 = levels[base, 0], levels[base, 1], levels[base, 2]
        s1, h1, w1 = levels[nxt, 0], levels[nxt, 1], levels[nxt, 2]
        k0, k1 = w0 / levels[0, 2], w1 / levels[0, 2]  # level coordinate = (u + 0.5) k - 0.5
        for j in range(x0, x1):
            if (trans[i, j] <= 0.0) if shade_on else claimed[i, j]:
                continue
            cx, cy = _project(hinv, float(j), float(i))
            mx, my = cx * mscale + ox, cy * mscale + oy
            ok, sd, sgx, sgy = _sdf_at(sdf, mx, my)
            cov = 1.0 if sd > 0.0 else 0.0
            if ok and shade_on and not (nrm > 0.0 and abs(sd) > 2.0 * nrm):
                a00, a01, a10, a11 = _hom_jacobian(hinv, float(j), float(i), cx, cy)
                cov, nrm = _coverage(sd, sgx * mscale, sgy * mscale, a00, a01, a10, a11)
            if cov <= 0.0:
                continue
            claim = sd > 0.0 and not claimed[i, j]
            if claim:
                occl[i, j] = True
                claimed[i, j] = True
            if not shade_on:
                continue
            wgt, fresh = trans[i, j] * cov, trans[i, j] == 1.0  # fresh: colour holds no sum yet
            trans[i, j] *= 1.0 - cov
            tu = aff[0, 0] * cx + aff[0, 1] * cy + aff[0, 2]
            tv = aff[1, 0] * cx + aff[1, 1] * cy + aff[1, 2]
            if base > 0:
                texel = bilinear_at(tex, s0, h0, w0, wrap, (tu + 0.5) * k0 - 0.5,
                                    (tv + 0.5) * k0 - 0.5)
            else:
                texel = bilinear_at(tex, s0, h0, w0, wrap, tu, tv)
            if f > 0.0:
                far = bilinear_at(tex, s1, h1, w1, wrap, (tu + 0.5) * k1 - 0.5,
                                  (tv + 0.5) * k1 - 0.5)
                texel = (texel[0] * (1.0 - f) + far[0] * f, texel[1] * (1.0 - f) + far[1] * f,
                         texel[2] * (1.0 - f) + far[2] * f)
            for ch in range(3):
                val = gain[ch] * texel[ch] + bias[ch]
                add = wgt * min(max(val, 0.0), 255.0)
                colour[i, j, ch] = add if fresh else colour[i, j, ch] + add
            if not claim:
                continue
            for g in range(h_to.shape[0]):
                nx, ny = _project_to(h_to, g, cx, cy)
                flow[g, i, j, 0] = nx - j
                flow[g, i, j, 1] = ny - i


@numba.njit(cache=True)
def object_frame(hinv, h_to, points, coef, coef_to, box, sdf, dist, mscale, ox, oy, tex, levels,
                 wrap, aff, gain, bias, label, shade_on, claimed, amodal, modal, colour, trans,
                 flow, tol, max_iter):
    """One object layer (F = H o D, D a thin-plate spline) of one frame, inside `box`.

    For each pixel x: q = H^-1 x, then Newton on D(c) = q (warm-started from the previous pixel's
    solution to first order, so most pixels need one spline evaluation; the last step, once
    shorter than `tol` canonical pixels, is taken without re-evaluating). Where the shape covers
    the centre c (sd > 0): amodal; where no nearer layer claimed x: modal = label and flow
    F_{e+-g}(c) - x for every target g from the same kernel values. When shade_on, the colour is
    added with the pixel's coverage (dc/dx = (dD/dc)^-1 dH^-1/dx) to every pixel not yet done.
    `dist` (sdf shape, canonical pixels: a lower bound on the distance to the shape) lets the scan
    jump over pixels that cannot be covered, at half the distance the local stretch allows, less
    one pixel (coverage reaches ~0.7 px outside the shape).
    box: (y0, y1, x0, x1) half-open; coef (n + 3, 2) and coef_to (N, n + 3, 2): spline
    coefficients (layersynth.motion.tps) at e and at the flow targets.
    """
    n = points.shape[0]
    u = np.empty((3, n))  # kernel values U_k and gradient at the last evaluated point
    mh, mw = sdf.shape[0], sdf.shape[1]
    have_row = False
    rcx = rcy = rqx = rqy = r00 = r01 = r10 = r11 = 0.0
    for i in range(box[0], box[1]):
        have = have_row
        cx, cy, qx0, qy0 = rcx, rcy, rqx, rqy
        i00, i01, i10, i11 = r00, r01, r10, r11
        have_row = False
        nrm = 0.0  # |grad_x sd| at the last pixel of the row whose coverage was computed
        nxt = box[2]
        while nxt < box[3]:
            j, nxt = nxt, nxt + 1
            qx, qy = _project(hinv, float(j), float(i))
            ex, ey = qx, qy
            if have:
                ex = cx + i00 * (qx - qx0) + i01 * (qy - qy0)
                ey = cy + i10 * (qx - qx0) + i11 * (qy - qy0)
            have = False
            sx = sy = 0.0
            for _ in range(max_iter + 1):
                dx = coef[n, 0] + coef[n + 1, 0] * ex + coef[n + 2, 0] * ey
                dy = coef[n, 1] + coef[n + 1, 1] * ex + coef[n + 2, 1] * ey
                j00, j01 = coef[n + 1, 0], coef[n + 2, 0]
                j10, j11 = coef[n + 1, 1], coef[n + 2, 1]
                for k in range(n):
                    px, py = ex - points[k, 0], ey - points[k, 1]
                    sq = px * px + py * py
                    uk = gx = gy = 0.0
                    if sq > 0.0:
                        log_sq = np.log(sq)
                        uk = sq * log_sq
                        gx, gy = 2.0 * (log_sq + 1.0) * px, 2.0 * (log_sq + 1.0) * py
                    dx += coef[k, 0] * uk
                    dy += coef[k, 1] * uk
                    j00 += coef[k, 0] * gx
                    j01 += coef[k, 0] * gy
                    j10 += coef[k, 1] * gx
                    j11 += coef[k, 1] * gy
                    u[0, k], u[1, k], u[2, k] = uk, gx, gy
                det = j00 * j11 - j01 * j10
                if det <= 1e-9:  # folded or degenerate: leave the pixel uncovered
                    break
                i00, i01, i10, i11 = j11 / det, -j01 / det, -j10 / det, j00 / det
                sx = -(i00 * (dx - qx) + i01 * (dy - qy))
                sy = -(i10 * (dx - qx) + i11 * (dy - qy))
                if sx * sx + sy * sy < tol * tol:
                    have = True
                    break
                ex += sx
                ey += sy
            if not have:
                continue
            cx, cy, qx0, qy0 = ex + sx, ey + sy, qx, qy
            if not have_row:
                have_row = True
                rcx, rcy, rqx, rqy, r00, r01, r10, r11 = cx, cy, qx, qy, i00, i01, i10, i11
            mx, my = cx * mscale + ox, cy * mscale + oy
            inside, sd, sgx, sgy = _sdf_at(sdf, mx, my)
            cov = 1.0 if sd > 0.0 else 0.0
            if inside and shade_on and not (nrm > 0.0 and abs(sd) > 2.0 * nrm):
                a00, a01, a10, a11 = _hom_jacobian(hinv, float(j), float(i), qx, qy)
                cov, nrm = _coverage(sd, sgx * mscale, sgy * mscale, i00 * a00 + i01 * a10,
                                     i00 * a01 + i01 * a11, i10 * a00 + i11 * a10,
                                     i10 * a01 + i11 * a11)
            if cov <= 0.0:
                # Jump: no covered pixel lies within `gap` canonical pixels of c.
                if inside:
                    gap = dist[min(int(my + 0.5), mh - 1), min(int(mx + 0.5), mw - 1)]
                else:
                    gap = max(-mx, mx - (mw - 1), -my, my - (mh - 1)) / mscale
                hx, hy = _project(hinv, float(j + 1), float(i))  # canonical stretch along x
                step = np.hypot(i00 * (hx - qx) + i01 * (hy - qy),
                                i10 * (hx - qx) + i11 * (hy - qy))
                nxt += max(int(0.5 * gap / max(step, 1e-6)) - 1, 0)
                continue
            claim = False
            if sd > 0.0:
                amodal[i, j] = True
                claim = not claimed[i, j]
                if claim:
                    claimed[i, j] = True
                    modal[i, j] = label
            if not shade_on or trans[i, j] <= 0.0:
                continue
            wgt, fresh = trans[i, j] * cov, trans[i, j] == 1.0  # fresh: colour holds no sum yet
            trans[i, j] *= 1.0 - cov
            tu = aff[0, 0] * cx + aff[0, 1] * cy + aff[0, 2]
            tv = aff[1, 0] * cx + aff[1, 1] * cy + aff[1, 2]
            rho2 = footprint(hinv, aff, float(j), float(i), qx, qy, i00, i01, i10, i11)
            lvl, f = level_of(levels, rho2)
            texel = filtered_texel(tex, levels, wrap, tu, tv, lvl, f)
            for ch in range(3):
                val = gain[ch] * texel[ch] + bias[ch]
                add = wgt * min(max(val, 0.0), 255.0)
                colour[i, j, ch] = add if fresh else colour[i, j, ch] + add
            if not claim:
                continue
            # D_{e+-g}(c + s) = D(c) + J(c) s from the kernel values at c, for each target
            for g in range(h_to.shape[0]):
                dx = (coef_to[g, n, 0] + coef_to[g, n + 1, 0] * cx
                      + coef_to[g, n + 2, 0] * cy)
                dy = (coef_to[g, n, 1] + coef_to[g, n + 1, 1] * cx
                      + coef_to[g, n + 2, 1] * cy)
                for k in range(n):
                    uk = u[0, k] + u[1, k] * sx + u[2, k] * sy
                    dx += coef_to[g, k, 0] * uk
                    dy += coef_to[g, k, 1] * uk
                nx, ny = _project_to(h_to, g, dx, dy)
                flow[g, i, j, 0] = nx - j
                flow[g, i, j, 1] = ny - i


@numba.njit(cache=True)
def background_frame(hinv, h_to, tex, levels, wrap, aff, gain, bias, claimed, colour, trans, rgb,
                     flow):
    """The far background (F = H), the last layer of every frame, which closes it.

    It covers every pixel fully: it adds its colour with the light that still passes (trans)
    and writes its flow where no nearer layer claimed the pixel centre; then, in the same pass,
    it rounds the frame's colour sum into rgb (H, W, 3) uint8 (nearest level, half up, clipped to
    [0, 255]) and sets trans back to 1 for the next frame. A pixel no nearer layer reached
    (trans 1) takes the background's colour straight into rgb: colour (H, W, 3) is written only
    where a nearer layer left a partial sum (a layer that finds trans 1 overwrites what the last
    frame left in colour, so it needs no clearing). Pixels already done (trans 0) only round.
    """
    xm = 0.5 * (claimed.shape[1] - 1)
    for i in range(claimed.shape[0]):
        mx, my = _project(hinv, xm, float(i))  # the footprint changes little along a row
        base, f = level_of(levels, footprint(hinv, aff, xm, float(i), mx, my, 1.0, 0.0, 0.0, 1.0))
        nxt = min(base + 1, levels.shape[0] - 1)
        s0, h0, w0 = levels[base, 0], levels[base, 1], levels[base, 2]
        s1, h1, w1 = levels[nxt, 0], levels[nxt, 1], levels[nxt, 2]
        k0, k1 = w0 / levels[0, 2], w1 / levels[0, 2]  # level coordinate = (u + 0.5) k - 0.5
        for j in range(claimed.shape[1]):
            wgt = trans[i, j]
            if wgt <= 0.0:
                for ch in range(3):
                    rgb[i, j, ch] = np.uint8(min(max(colour[i, j, ch] + 0.5, 0.0), 255.0))
                trans[i, j] = 1.0
                continue
            cx, cy = _project(hinv, float(j), float(i))
            tu = aff[0, 0] * cx + aff[0, 1] * cy + aff[0, 2]
            tv = aff[1, 0] * cx + aff[1, 1] * cy + aff[1, 2]
            if base > 0:
                texel = bilinear_at(tex, s0, h0, w0, wrap, (tu + 0.5) * k0 - 0.5,
                                    (tv + 0.5) * k0 - 0.5)
            else:
                texel = bilinear_at(tex, s0, h0, w0, wrap, tu, tv)
            if f > 0.0:
                far = bilinear_at(tex, s1, h1, w1, wrap, (tu + 0.5) * k1 - 0.5,
                                  (tv + 0.5) * k1 - 0.5)
                texel = (texel[0] * (1.0 - f) + far[0] * f, texel[1] * (1.0 - f) + far[1] * f,
                         texel[2] * (1.0 - f) + far[2] * f)
            for ch in range(3):
                val = wgt * min(max(gain[ch] * texel[ch] + bias[ch], 0.0), 255.0)
                if wgt < 1.0:
                    val += colour[i, j, ch]
                rgb[i, j, ch] = np.uint8(min(max(val + 0.5, 0.0), 255.0))
            trans[i, j] = 1.0
            if claimed[i, j]:
                continue
            for g in range(h_to.shape[0]):
                nx, ny = _project_to(h_to, g, cx, cy)
                flow[g, i, j, 0] = nx - j
                flow[g, i, j, 1] = ny - i
