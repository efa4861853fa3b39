"""load_assets: the user's folders end up in rendered sequences (through sample_scene/render)."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
from layersynth.assets.loading import load_assets
from layersynth.assets.sources import Assets
from layersynth.errors import UsageError
from layersynth.render.renderer import render
from layersynth.scene.config import SceneConfig
from layersynth.scene.params import SceneParams
from layersynth.scene.sampling import sample_scene
from PIL import Image
from scipy import ndimage

FLAT = [(210, 40, 40), (40, 210, 40), (40, 40, 210)]


def flat_textures(root):
    root.mkdir(parents=True)
    for i, rgb in enumerate(FLAT):
        Image.fromarray(np.full((40, 50, 3), rgb, np.uint8)).save(root / f"img{i}.png")
    return root


def ring_annotations(root, videos=3):
    """YouTube-VOS-like palette PNGs: one ring per frame (outer radius 26, hole radius 12)."""
    yy, xx = np.mgrid[0:90, 0:120]
    for v in range(videos):
        for f in range(2):
            r = np.hypot(yy - 45, xx - 60 - 3 * f)
            ids = ((r < 26) & (r >= 12)).astype(np.uint8) * (v + 1)
            path = root / "Annotations" / f"v{v}" / f"{5 * f:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            img = Image.fromarray(ids, mode="P")
            img.putpalette([0, 0, 0] + [255, 0, 0] * 255)
            img.save(path)
    return root


def expected_colour(appearance, texel) -> np.ndarray:
    """The renderer's colour of a flat texel with the photometric jitter off."""
    value = np.asarray(appearance.gain) * np.asarray(texel, float) + np.asarray(appearance.bias)
    return np.clip(np.floor(value + 0.5), 0, 255)


def test_without_folders_the_builtin_assets_serve():
    assets = load_assets()
    assert assets.describe() == Assets.builtin().describe()


def interior(labels: np.ndarray) -> np.ndarray:
    """(..., H, W) bool: pixels whose 4 neighbours carry the same label (away from the outlines,
    where anti-aliased edges mix the layers' colours)."""
    p = np.pad(labels, [(0, 0)] * (labels.ndim - 2) + [(1, 1), (1, 1)], mode="edge")
    c = p[..., 1:-1, 1:-1]
    return ((c == p[..., :-2, 1:-1]) & (c == p[..., 2:, 1:-1]) & (c == p[..., 1:-1, :-2])
            & (c == p[..., 1:-1, 2:]))


def test_flat_colour_textures_show_up_in_the_rendered_objects(tmp_path):
    assets = load_assets(textures=flat_textures(tmp_path / "pass"))
    assert assets.describe()["textures"]["kind"] == "folder"
    cfg = SceneConfig.preset("tiny", photometric=False, objects=(2,), occluder_prob=0.0)
    rng = np.random.default_rng(5)
    seen = 0
    for _ in range(3):
        params = sample_scene(rng, cfg, assets)
        seq = render(params, assets)
        for k, layer in enumerate(params.objects):
            texel = assets.textures.get(layer.appearance.texture)[0, 0]
            visible = seq.rgb[(seq.modal == k + 1) & interior(seq.modal)]
            if len(visible):
                seen += 1
                near = np.abs(visible - expected_colour(layer.appearance, texel)).max(-1) <= 1
                assert near.mean() >= 0.95  # the rest: slivers of other layers, anti-aliased
    assert seen >= 3


def test_silhouettes_with_holes_show_up_in_the_amodal_masks(tmp_path):
    assets = load_assets(silhouettes=ring_annotations(tmp_path / "train"))
    assert assets.describe()["silhouettes"]["kind"] == "ytvos" and len(assets.silhouettes) == 6
    cfg = SceneConfig.preset("tiny", objects=(1,), polygon_prob=0.0, occluder_prob=0.0,
                             deform=0.1, object_size=(0.35, 0.4), articulated_prob=0.0,
                             enter_exit_prob=0.0, full_occlusion_prob=0.0)
    rng = np.random.default_rng(0)
    for _ in range(3):
        amodal = render(sample_scene(rng, cfg, assets), assets).amodal[0]
        holes = [(ndimage.binary_fill_holes(m) & ~m).sum() for m in amodal]
        assert max(holes) > 20  # the ring's hole: ~ (12/26)^2 of its disc, inside the frame


def test_builtin_silhouettes_have_holes_too():
    """The procedural bank (issue 13) has rings and loops: their holes reach the amodal masks."""
    assets = Assets.builtin()
    cfg = SceneConfig.preset("tiny", objects=(1,), polygon_prob=0.0, occluder_prob=0.0,
                             deform=0.1, object_size=(0.35, 0.4), articulated_prob=0.0)
    rng = np.random.default_rng(0)
    holes = [max((ndimage.binary_fill_holes(m) & ~m).sum() for m in render(
        sample_scene(rng, cfg, assets), assets).amodal[0]) for _ in range(8)]
    assert max(holes) > 20 and min(holes) == 0  # some shapes have holes, others none


def test_a_flat_background_video_colours_the_background(tmp_path):
    folder = tmp_path / "bg" / "clip"
    folder.mkdir(parents=True)
    for i in range(4):
        Image.fromarray(np.full((60, 90, 3), (15, 235, 120), np.uint8)).save(folder / f"{i}.png")
    assets = load_assets(backgrounds=tmp_path / "bg")
    assert assets.describe()["videos"]["kind"] == "videos"
    cfg = SceneConfig.preset("tiny", photometric=False, occluder_prob=0.0,
                             video_background_prob=1.0)
    params = sample_scene(np.random.default_rng(1), cfg, assets)
    seq = render(params, assets)
    background = seq.rgb[(seq.modal == 0) & interior(seq.modal)]
    assert len(background)
    near = np.abs(background - expected_colour(params.background, (15, 235, 120))).max(-1) <= 1
    assert near.mean() >= 0.95  # the rest: thin parts of objects, covering no pixel centre


def test_loading_user_assets_never_opens_a_network_connection(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("load_assets tried the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    assets = load_assets(textures=flat_textures(tmp_path / "pass"),
                         silhouettes=ring_annotations(tmp_path / "train"))
    assert len(assets.textures) == 3 and len(assets.silhouettes) == 6


def test_video_backgrounds_follow_the_clip_in_the_configured_share_of_scenes(tmp_path):
    folder = tmp_path / "bg" / "clip"
    folder.mkdir(parents=True)
    for i in range(12):
        frame = np.full((60, 90, 3), (20 * i, 100, 30), np.uint8)
        Image.fromarray(frame).save(folder / f"{i:03d}.png")
    assets = load_assets(backgrounds=tmp_path / "bg")
    assert assets.describe()["videos"]["kind"] == "videos"
    cfg = SceneConfig.preset("tiny", photometric=False, occluder_prob=0.0,
                             video_background_prob=0.5)
    rng = np.random.default_rng(0)
    scenes = [sample_scene(rng, cfg, assets) for _ in range(20)]
    with_video = [p for p in scenes if p.background_video is not None]
    assert 4 <= len(with_video) <= 16
    params = with_video[0]
    again = SceneParams.from_dict(json.loads(json.dumps(params.to_dict())))
    seq = render(params, assets)
    red = [seq.rgb[t][seq.modal[t] == 0, 0].mean() for t in range(len(seq.rgb))]
    assert np.all(np.abs(np.diff(red)) > 10)  # the clip's red ramps by 20 a frame (ping-pong)
    assert np.array_equal(render(again, assets).rgb, seq.rgb)


def test_a_folder_that_cannot_serve_is_named_in_a_usage_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="--textures .*empty: no images"):
        load_assets(textures=tmp_path / "empty")
    with pytest.raises(UsageError, match="--silhouettes .*no Annotations"):
        load_assets(silhouettes=tmp_path / "empty")


def test_a_textures_folder_serves_objects_and_backgrounds_other_folders_keep_the_split(tmp_path):
    assets = load_assets(textures=flat_textures(tmp_path / "pass"))
    assert assets.backgrounds is None and assets.background_source is assets.textures
    builtin = Assets.builtin()
    kept = load_assets(silhouettes=ring_annotations(tmp_path / "train"))
    assert kept.backgrounds is builtin.backgrounds and kept.textures is builtin.textures
    assert kept.background_source is not kept.textures
