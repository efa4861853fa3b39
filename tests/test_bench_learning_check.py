"""bench/learning_check.py's data step: a folder another process is generating is waited for,
never deleted (two checks started on one --out once wiped each other's training set)."""

import importlib.util
from pathlib import Path

import pytest
from layersynth.store import folder_lock

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _learning_check():
    """The script as a module, loaded from its file (it imports only installed packages)."""
    spec = importlib.util.spec_from_file_location("learning_check", BENCH / "learning_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_folder_held_by_another_generation_is_not_deleted(tmp_path):
    lc = _learning_check()
    out = tmp_path / "train"
    out.mkdir()
    (out / "shard-00000.h5").write_bytes(b"being written by the other process")
    with folder_lock.hold(out, "layersynth generate"):
        with pytest.raises(folder_lock.FolderInUse, match="in use by layersynth generate"):
            lc.generate(out, 2, 0, wait=0.0)
    assert (out / "shard-00000.h5").read_bytes() == b"being written by the other process"


def test_the_checks_scenes_are_the_papers_kind_polygons_and_silhouettes_over_one_plane():
    """SCENE turns off what the paper's generator does not have (docs/model.md, "With the paper's
    kind of scene"): sampled from the `tiny` preset with it, no scene has an occluder, a near
    background plane, an articulated body, a static spell or an object entering or leaving, and
    the camera has no shake, fast pan or acceleration; the preset without SCENE has some."""
    import numpy as np
    from layersynth.assets.sources import Assets
    from layersynth.scene.config import SceneConfig
    from layersynth.scene.sampling import sample_scene

    lc = _learning_check()
    cfg = SceneConfig.preset("tiny", **lc.SCENE)
    plain = SceneConfig.preset("tiny", **{k: lc.SCENE[k] for k in ("height", "width")})
    assets = Assets.builtin()
    kinds, planes, events = set(), 0, 0
    for seed in range(24):
        p = sample_scene(np.random.default_rng(seed), cfg, assets)
        kinds |= {o.sprite.kind for o in p.objects}
        planes += len(p.planes)
        events += sum(o.spell is not None or o.crossing != "" for o in p.objects)
        assert p.occluder is None and p.hidden == -1, f"seed {seed}"
    assert kinds == {"polygon", "silhouette"} and planes == 0 and events == 0
    assert (cfg.height, cfg.width) == (48, 80)
    assert cfg.shake_prob == cfg.fast_pan_prob == cfg.camera_accel == 0.0
    # the preset itself has them all, so the check is what turns them off
    full = [sample_scene(np.random.default_rng(s), plain, assets) for s in range(24)]
    assert any(o.sprite.kind == "articulated" for p in full for o in p.objects)
    assert sum(len(p.planes) for p in full) > 0


def test_the_checks_objects_move_about_as_far_in_8_frames_as_the_presets_in_30():
    """SPEED (docs/model.md, "Paper-length motion"): sampled with SCENE, the objects' centre
    speeds average over 3x those of the same scenes at the preset's speed (30 / 8 = 3.75 asked;
    less where a fast path would leave the frame and is shrunk), and no longer under 1 px a frame
    at 48 px."""
    import numpy as np
    from layersynth.assets.sources import Assets
    from layersynth.scene.config import SceneConfig
    from layersynth.scene.sampling import sample_scene

    lc = _learning_check()
    fast = SceneConfig.preset("tiny", **lc.SCENE)
    preset_speed = SceneConfig.preset("tiny").object_speed
    slow = SceneConfig.preset("tiny", **{**lc.SCENE, "object_speed": preset_speed})
    assets = Assets.builtin()

    def mean_speed(cfg):
        speeds = [np.hypot(o.motion.coeffs[0][1], o.motion.coeffs[1][1])
                  for seed in range(48)
                  for o in sample_scene(np.random.default_rng(seed), cfg, assets).objects]
        return float(np.mean(speeds))

    assert np.isclose(fast.object_speed[0] / slow.object_speed[0], 30 / 8)
    slow_px, fast_px = mean_speed(slow), mean_speed(fast)
    assert slow_px < 1.0 < 3 * slow_px < fast_px


def test_the_checks_network_has_spare_queries_and_reads_its_order_off_the_occlusions():
    """MODEL (docs/model.md, "Depth order from the occlusions in the flow"): more queries than a
    check scene has objects, so two objects need not share one, and the order head with no
    parameters, so the check's order accuracy is the rule's on the network's own masks."""
    from layersynth.scene.config import SceneConfig
    from oclr.config import ModelConfig
    from oclr.model import build_model, count_parameters

    lc = _learning_check()
    cfg = ModelConfig.preset("tiny", **lc.MODEL)
    scene = SceneConfig.preset("tiny", **lc.SCENE)
    assert cfg.num_objects > max(scene.objects)
    assert (cfg.height, cfg.width) == (scene.height, scene.width)
    assert cfg.order_head == "occlusion"
    assert count_parameters(build_model("tiny", **lc.MODEL))["order_head"] == 0
