"""DATASET.md: the dataset card lists every schema field and the settings that made the data."""

import json
from copy import deepcopy

from layersynth.scene.config import SceneConfig
from layersynth.store import card, schema

MANIFEST = {
    "generator_version": "0.1.0", "schema_version": schema.SCHEMA_VERSION,
    "settings": {"preset": "tiny", "seed": 5, "namespace": 0, "flow": ["gt", "dis"],
                 "asset_dirs": {"textures": None}, "shard_size": 4,
                 "scene": {"frames": 8, "height": 64, "width": 112, "objects": [1, 2, 3],
                           "occlusion": [0.0, 1.0]}},
    "shards": [{"ids": ["000000", "000001"], "bytes": 2_000_000},
               {"ids": ["000004"], "bytes": 1_000_000}],
}


def test_the_card_lists_every_schema_field_with_its_axes_dtype_and_units():
    text = card.render_card(MANIFEST)
    for name, field in schema.FIELDS.items():
        row = f"| `{name}` | {field.axes} | {field.stored} | {field.decoded} | {field.units} |"
        assert row in text
    assert "| `flow_<method>` |" in text


def test_the_card_says_which_flow_gaps_are_stored_and_where_each_sits():
    assert "flow gaps stored: +-1: every flow is (T, 2, H, W, 2), gap index 0 = +1, 1 = -1" in (
        card.render_card(MANIFEST))  # a manifest without gaps: schema 1's gap 1
    text = card.render_card(dict(MANIFEST, gaps=[1, 2]))
    assert ("flow gaps stored: +-1, +-2: every flow is (T, 4, H, W, 2), gap index 0 = +1, "
            "1 = -1, 2 = +2, 3 = -2") in text


def test_the_card_states_counts_seeds_flows_and_the_settings_as_json():
    text = card.render_card(MANIFEST)
    assert "3 sequences of 8 frames at 64 x 112 in 2 HDF5 shards (3.0 MB)" in text
    assert "SeedSequence(entropy=5, spawn_key=(0, i))" in text
    assert "flows stored: flow_gt, flow_dis" in text
    assert f"multiply by {schema.FLOW_SCALE}" in text
    settings = text.split("```json\n")[1].split("```")[0]
    assert json.loads(settings) == MANIFEST["settings"]


def test_write_card_puts_dataset_md_beside_the_shards_and_leaves_no_temporary_file(tmp_path):
    path = card.write_card(tmp_path, MANIFEST)
    assert path == tmp_path / "DATASET.md"
    assert path.read_text() == card.render_card(MANIFEST)
    assert [p.name for p in tmp_path.iterdir()] == ["DATASET.md"]


def test_the_card_states_the_sprite_kind_shares_of_a_scene_config():
    scene = SceneConfig.preset("tiny", articulated_prob=0.25, polygon_nonconvex=0.6).to_dict()
    manifest = {**MANIFEST, "settings": {**MANIFEST["settings"], "scene": scene}}
    text = card.render_card(manifest)
    assert "- sprites: 0.25 articulated (parts on hinges, joint swing up to 0.6 rad" in text
    assert "of the rest 0.5 polygons (0.6 of them non-convex), the others silhouettes" in text
    assert "sprites:" not in card.render_card(MANIFEST)  # an older manifest: no such line
    assert "`sprite.kind` is `polygon`, `silhouette` or `articulated`; an articulated" in text


def test_the_card_states_the_motion_event_rates_when_the_settings_have_them():
    assert "motion events" not in card.render_card(MANIFEST)  # made before the events
    scene = {**MANIFEST["settings"]["scene"], "static_spell_prob": 0.25,
             "static_spell_frames": [6.0, 14.0], "static_ramp": 2.0, "enter_exit_prob": 0.3,
             "full_occlusion_prob": 0.35, "full_occlusion_frames": [3.0, 8.0]}
    data = {**MANIFEST, "settings": {**MANIFEST["settings"], "scene": scene}}
    text = card.render_card(data)
    assert "static spells for 0.25 of objects ([6.0, 14.0] frames, ramps 2.0)" in text
    assert "entering or leaving the frame 0.3 of objects" in text
    assert "wholly hidden in 0.35 of scenes ([3.0, 8.0] frames)" in text


def test_the_card_describes_the_background_depth_settings_when_the_manifest_has_them():
    manifest = deepcopy(MANIFEST)
    manifest["settings"]["scene"] = SceneConfig.preset("tiny").to_dict()
    text = card.render_card(manifest)
    assert "near planes in 0.9 of still-background scenes, [1, 2] of them" in text
    assert "fast pans in 0.15 at [0.025, 0.05] H/frame, hand-held shake in 0.3" in text
    assert "near planes" not in card.render_card(MANIFEST)  # an older manifest: no such line
