"""The realism statistics of `inspect --stats`: each figure equals a plain recomputation (pixel
loops, a least-squares homography, scipy's convex hull) on a generated tiny dataset, and the
known answer on hand-made arrays."""

import numpy as np
import pytest
from layersynth import open_dataset
from layersynth.pipeline.generation import generate, make_settings
from layersynth.viz.realism import (
    NEAR_STATIC_PX,
    PARALLAX_PX,
    best_flow,
    label_means,
    realism_stats,
    sequence_figures,
    solidity,
    sprite_kinds,
    summarise,
)
from scipy.spatial import ConvexHull


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    root = tmp_path_factory.mktemp("realism") / "d"
    # One background plane, so that RANSAC's and least squares' fits agree; the parallax residual
    # against known answers: test_background_fit.py.
    settings = make_settings(preset="tiny", seed=5, shard_size=3, frames=5, height=48, width=80,
                             parallax_prob=0.0)
    generate(settings, n=6, out=root, workers=1, scheduler=None)
    with open_dataset(root) as opened:
        yield opened


def least_squares_homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(3, 3) homography src -> dst ((N, 2) each) by the normalised direct linear transform."""
    def normaliser(p):
        c, s = p.mean(0), np.sqrt(2) / np.linalg.norm(p - p.mean(0), axis=1).mean()
        return np.array([[s, 0, -s * c[0]], [0, s, -s * c[1]], [0, 0, 1]])

    ns, nd = normaliser(src), normaliser(dst)
    a = (np.c_[src, np.ones(len(src))] @ ns.T)[:, :2]
    b = (np.c_[dst, np.ones(len(dst))] @ nd.T)[:, :2]
    (x, y), (u, v), one, zero = a.T, b.T, np.ones(len(a)), np.zeros(len(a))
    rows = np.concatenate([np.stack([x, y, one, zero, zero, zero, -u * x, -u * y, -u], 1),
                           np.stack([zero, zero, zero, x, y, one, -v * x, -v * y, -v], 1)])
    hom = np.linalg.svd(rows, full_matrices=False)[2][-1].reshape(3, 3)
    return np.linalg.inv(nd) @ hom @ ns


def hull_solidity(mask: np.ndarray) -> float:
    """Area / hull area with every corner of every pixel square given to scipy."""
    ys, xs = np.nonzero(mask)
    corners = np.concatenate([np.c_[xs + dx, ys + dy] for dx in (0, 1) for dy in (0, 1)])
    return mask.sum() / ConvexHull(corners).volume


def plain_frame(flow, background):
    """Least-squares background prediction (H, W, 2) and mean |residual| of one frame."""
    ys, xs = np.nonzero(background)
    src = np.c_[xs, ys].astype(float)
    hom = least_squares_homography(src, src + flow[ys, xs])
    gy, gx = np.mgrid[0 : flow.shape[0], 0 : flow.shape[1]]
    p = np.stack([gx, gy, np.ones_like(gx)], -1) @ hom.T
    predicted = p[..., :2] / p[..., 2:] - np.stack([gx, gy], -1)
    return predicted, np.linalg.norm(flow - predicted, axis=-1)[background].mean()


def plain_figures(arrays, kinds):
    """Every object-frame's figures by loops, and the sequence's mean background residual."""
    rows, residuals = [], []
    amodal, modal, occluder = arrays["amodal"], arrays["modal"], arrays["occluder"]
    for t in range(modal.shape[0]):
        flow = arrays["flow_gt"][t, 0].astype(float)
        predicted, res = plain_frame(flow, (modal[t] == 0) & ~occluder[t])
        residuals.append(res)
        for k, kind in enumerate(kinds):
            a, v = amodal[k, t], modal[t] == k + 1
            rows.append({
                "kind": kind, "k": k, "t": t, "area_share": a.mean(), "out": not a.any(),
                "fully_occluded": a.any() and not v.any(),
                "border": a[0].any() or a[-1].any() or a[:, 0].any() or a[:, -1].any(),
                "object_flow": np.linalg.norm(flow[v], axis=-1).mean() if v.any() else np.nan,
                "relative": (np.linalg.norm(flow[v] - predicted[v], axis=-1).mean()
                             if v.any() else np.nan),
                "solidity": hull_solidity(a) if a.any() else np.nan})
    return rows, float(np.mean(residuals))


@pytest.fixture(scope="module")
def plain(ds):
    """(object-frame rows, residual per sequence) of the whole dataset, recomputed plainly."""
    rows, residuals = [], []
    for i in ds.ids:
        arrays = ds[i]
        kinds = [o["sprite"]["kind"] for o in ds.record(i)["scene"]["objects"]]
        seq_rows, res = plain_figures(arrays, kinds)
        rows += seq_rows
        residuals.append(res)
    return rows, residuals


def test_each_object_frame_figure_equals_the_plain_recomputation(ds):
    for i in ds.ids[:3]:
        arrays = ds[i]
        kinds = sprite_kinds(ds.record(i), len(arrays["amodal"]))
        got = sequence_figures(arrays, "flow_gt", kinds)
        rows, residual = plain_figures(arrays, kinds)
        for r in rows:
            k, t = r["k"], r["t"]
            assert got.area_share[k, t] == pytest.approx(r["area_share"])
            for name in ("out", "fully_occluded", "border"):
                assert bool(getattr(got, name)[k, t]) == r[name], (i, name, k, t)
            for name, tol in (("object_flow", 1e-5), ("relative", 0.02), ("solidity", 1e-9)):
                assert getattr(got, name)[k, t] == pytest.approx(r[name], abs=tol, nan_ok=True)
        assert got.background_residual == pytest.approx(residual, abs=0.01)


def _median(rows, name, **where):
    values = [r[name] for r in rows if all(r[k] == v for k, v in where.items())]
    values = [v for v in values if not np.isnan(v)]
    return np.median(values)


def _share(rows, test, **where):
    chosen = [r for r in rows if all(r[k] == v for k, v in where.items())]
    return np.mean([test(r) for r in chosen])


def test_the_dataset_medians_and_shares_equal_the_plain_recomputation(ds, plain):
    rows, residuals = plain
    s = realism_stats(ds)
    assert s["flow"] == "gt" and s["flow_exact"] and s["object_frames"] == len(rows)
    groups = {"all": ({}, s["overall"])} | {k: ({"kind": k}, g) for k, g in s["by_kind"].items()}
    for where, g in groups.values():
        measured = [r for r in rows if not np.isnan(r["relative"])
                    and all(r[k] == v for k, v in where.items())]
        assert g["area_share_median"] == pytest.approx(
            np.median([r["area_share"] for r in rows if not r["out"] and all(
                r[k] == v for k, v in where.items())]))
        assert g["object_flow_px_median"] == pytest.approx(_median(rows, "object_flow", **where))
        assert g["relative_motion_px_median"] == pytest.approx(
            _median(rows, "relative", **where), abs=0.02)
        assert g["near_static_share"] == pytest.approx(
            np.mean([r["relative"] < NEAR_STATIC_PX for r in measured]))
        assert g["solidity_median"] == pytest.approx(_median(rows, "solidity", **where))
        for key, name in (("fully_occluded_share", "fully_occluded"),
                          ("touching_border_share", "border"), ("out_of_frame_share", "out")):
            assert g[key] == pytest.approx(_share(rows, lambda r, n=name: r[n], **where))
    assert s["background_residual_px"]["median"] == pytest.approx(np.median(residuals), abs=0.01)
    assert s["background_residual_px"]["parallax_share"] == np.mean(
        np.asarray(residuals) > PARALLAX_PX)


def test_sprite_kinds_are_counted_per_object_from_the_scene_parameters(ds, plain):
    rows, _ = plain
    s = realism_stats(ds)
    objects = {(r["kind"], r["k"], i) for i, r in enumerate(rows) if r["t"] == 0}
    assert sum(v["objects"] for v in s["sprite_kinds"].values()) == len(objects)
    assert set(s["sprite_kinds"]) == {r["kind"] for r in rows}
    assert sorted(s["per_sequence"]) == ds.ids


def frame_set(k=2, t=1, h=20, w=30):
    amodal = np.zeros((k, t, h, w), bool)
    return amodal, np.zeros((t, h, w), np.uint8), np.zeros((t, h, w), bool)


def modal_of(amodal):
    """Front-most visible layer: modal k + 1 where layer k is the first to cover a pixel."""
    modal = np.zeros(amodal.shape[1:], np.uint8)
    for k in reversed(range(len(amodal))):
        modal[amodal[k]] = k + 1
    return modal


def test_an_object_wholly_under_another_is_fully_occluded_and_the_front_one_is_not():
    amodal, _, occluder = frame_set()
    amodal[0, 0, 2:12, 2:16] = True
    amodal[1, 0, 4:8, 5:9] = True
    got = sequence_figures({"amodal": amodal, "modal": modal_of(amodal), "occluder": occluder},
                           None, ("polygon", "polygon"))
    assert got.fully_occluded[:, 0].tolist() == [False, True]
    assert got.visible[:, 0].tolist() == [140, 0] and not got.out.any()


def test_an_object_under_an_occluder_is_fully_occluded():
    amodal, modal, occluder = frame_set(k=1)
    amodal[0, 0, 5:9, 5:9] = True
    occluder[0, 3:12, 3:12] = True
    got = sequence_figures({"amodal": amodal, "modal": modal, "occluder": occluder}, None,
                           ("silhouette",))
    assert got.fully_occluded[0, 0] and got.area_share[0, 0] == pytest.approx(16 / 600)


def test_an_empty_amodal_is_out_of_frame_and_an_edge_pixel_touches_the_border():
    amodal, _, occluder = frame_set(k=3)
    amodal[1, 0, 5:10, 0:4] = True  # on the left edge
    amodal[2, 0, 19, 10] = True  # one pixel on the bottom row
    got = sequence_figures({"amodal": amodal, "modal": modal_of(amodal), "occluder": occluder},
                           None, ("a", "b", "c"))
    assert got.out[:, 0].tolist() == [True, False, False]
    assert got.border[:, 0].tolist() == [False, True, True]
    assert np.isnan(got.solidity[0, 0]) and not got.fully_occluded.any()


@pytest.mark.parametrize("shape, expected", [
    ("rectangle", 1.0), ("L", 3 / 3.5), ("ring", 16 / 25), ("pixel", 1.0)])
def test_solidity_of_known_shapes(shape, expected):
    mask = np.zeros((12, 12), bool)
    if shape == "rectangle":
        mask[2:5, 3:10] = True
    elif shape == "L":
        mask[4:6, 4:6] = True
        mask[4, 5] = False
    elif shape == "ring":
        mask[3:8, 3:8] = True
        mask[4:7, 4:7] = False
    else:
        mask[0, 11] = True
    assert solidity(mask) == pytest.approx(expected)
    assert solidity(mask) == pytest.approx(hull_solidity(mask))


def moving_pair():
    """Background moving (1, 0) px; object 0 moves with it, object 1 at (0, 2) px relative."""
    amodal, _, occluder = frame_set(t=2)
    amodal[0, :, 2:8, 2:8] = True
    amodal[1, :, 10:16, 15:25] = True
    flow = np.zeros((2, 2, 20, 30, 2), np.float32)
    flow[..., 0] = 1.0
    flow[:, 0, 10:16, 15:25] += np.float32([0.0, 2.0])
    return {"amodal": amodal, "modal": modal_of(amodal), "occluder": occluder, "flow_x": flow}


def test_relative_motion_is_zero_for_an_object_moving_with_the_background():
    got = sequence_figures(moving_pair(), "flow_x", ("polygon", "articulated"))
    assert got.relative[0] == pytest.approx([0.0, 0.0], abs=1e-6)
    assert got.relative[1] == pytest.approx([2.0, 2.0], abs=1e-6)
    assert got.object_flow[1] == pytest.approx([np.sqrt(5)] * 2)
    assert got.background_flow == pytest.approx([1.0, 1.0]) and got.background_residual < 1e-6


def test_summarise_gives_shares_overall_and_by_kind_including_new_kinds():
    seq = sequence_figures(moving_pair(), "flow_x", ("polygon", "articulated"))
    s = summarise([seq, seq], "x")
    assert s["flow"] == "x" and not s["flow_exact"] and s["object_frames"] == 8
    assert s["overall"]["near_static_share"] == 0.5
    assert s["by_kind"]["polygon"]["near_static_share"] == 1.0
    assert s["by_kind"]["articulated"]["near_static_share"] == 0.0
    assert s["sprite_kinds"] == {"articulated": {"objects": 2, "share": 0.5},
                                 "polygon": {"objects": 2, "share": 0.5}}


def test_without_flow_the_motion_figures_are_none_and_the_mask_figures_remain():
    pair = moving_pair()
    s = summarise([sequence_figures(pair, None, ("unknown", "unknown"))], None)
    assert s["flow"] is None and s["overall"]["relative_motion_px_median"] is None
    assert s["overall"]["near_static_share"] is None
    assert s["background_residual_px"]["sequences"] == 0
    assert s["overall"]["solidity_median"] == 1.0 and s["overall"]["out_of_frame_share"] == 0.0


def test_a_sequence_without_objects_has_background_figures_only():
    amodal, modal, occluder = frame_set(k=0, t=2)
    flow = np.full((2, 2, 20, 30, 2), 0.5, np.float32)
    seq = sequence_figures({"amodal": amodal, "modal": modal, "occluder": occluder, "f": flow},
                           "f", ())
    s = summarise([seq], "f")
    assert s["object_frames"] == 0 and s["objects"] == 0 and s["overall"]["solidity_median"] is None
    assert s["background_flow_px"]["median"] == pytest.approx(np.hypot(0.5, 0.5))
    assert s["background_residual_px"]["median"] < 1e-6


def test_label_means_equal_a_loop_over_labels():
    rng = np.random.default_rng(0)
    values, labels = rng.random((3, 5, 7)), rng.integers(0, 3, (3, 5, 7))
    labels[1][labels[1] == 2] = 0  # label 2 absent from frame 1
    got = label_means(values, labels, 4)
    for t in range(3):
        for n in range(4):
            want = values[t][labels[t] == n].mean() if (labels[t] == n).any() else np.nan
            assert got[t, n] == pytest.approx(want, nan_ok=True)


@pytest.mark.parametrize("record, k, kinds", [
    ({"scene": {"objects": [{"sprite": {"kind": "polygon"}},
                            {"sprite": {"kind": "articulated"}}]}}, 2,
     ("polygon", "articulated")),
    ({"seed": {}}, 2, ("unknown", "unknown")),
    ({"scene": {"objects": [{"sprite": {"kind": "silhouette"}}]}}, 2, ("silhouette", "unknown")),
    ({"scene": {"objects": [{"sprite": {}}, {"sprite": {"kind": 3}}, "x"]}}, 3,
     ("unknown", "unknown", "unknown")),
    ({"scene": []}, 1, ("unknown",)),
])
def test_sprite_kinds_come_from_the_record_and_are_unknown_where_absent(record, k, kinds):
    assert sprite_kinds(record, k) == kinds


@pytest.mark.parametrize("methods, best", [
    (["gt", "dis", "raft"], "gt"), (["dis", "raft"], "raft"), (["dis"], "dis"),
    (["zeta", "alpha"], "alpha"), (["alpha", "dis"], "dis"), ([], None)])
def test_the_best_stored_flow_is_exact_then_raft_then_dis(methods, best):
    assert best_flow(methods) == best


class RaftOnly:
    """A reader of one sequence that holds flow_raft and no flow_gt (what an import stores)."""

    ids = ["000000"]
    flow_methods = ["raft"]

    def read(self, seq_id, names):
        pair = moving_pair()
        pair["flow_raft"] = pair.pop("flow_x")
        return {n: pair[n] for n in names}

    def record(self, seq_id):
        return {"seed": {}}


def test_a_dataset_with_only_estimated_flow_uses_it_and_says_so():
    s = realism_stats(RaftOnly())
    assert s["flow"] == "raft" and s["flow_exact"] is False
    assert s["overall"]["near_static_share"] == 0.5
    assert s["sprite_kinds"] == {"unknown": {"objects": 2, "share": 1.0}}
