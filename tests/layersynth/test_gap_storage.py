"""Flow at several frame gaps in the store (issue 14, shard schema 2): written, recorded, read,
picked by gap, checked, estimated, exported; schema-1 shards still read as gaps (1,).

The renderer's side of --gaps lives elsewhere: these sequences are fake arrays of the right
shapes, written with the writer API."""

import json
from dataclasses import replace

import h5py
import numpy as np
import pytest
from clirun import invoke
from fakeshards import fake_arrays
from layersynth import open_dataset
from layersynth.errors import UsageError
from layersynth.estimators import check_clip_size
from layersynth.estimators.base import FlowEstimator, assemble, clip_pairs, n_pairs
from layersynth.estimators.inplace import add_estimated_flow
from layersynth.pipeline.generation import generate, make_settings, scene_gaps
from layersynth.pipeline.validation import check_shard
from layersynth.store import card, manifest
from layersynth.store.gaps import check_gaps, flow_for, gap_index, select
from layersynth.store.middlebury_flo import read_flo
from layersynth.store.oclr_export import export_oclr
from layersynth.store.reader import Shard
from layersynth.store.schema import FLOW_SCALE, ShardError
from layersynth.store.writer import ShardWriter, add_arrays

GAPS = (1, 2)
SHARD = "shard-00000.h5"


def gap_arrays(rng, gaps=GAPS, k=2, t=5, h=8, w=12):
    """A fake sequence whose flows hold `gaps`: (T, 2 len(gaps), H, W, 2)."""
    arrays = fake_arrays(rng, k=k, t=t, h=h, w=w)
    arrays["flow_gt"] = rng.normal(0, 5, (t, 2 * len(gaps), h, w, 2)).astype(np.float32)
    return arrays


def record(i, k):
    return {"seed": {"entropy": 1, "spawn_key": [0, i]},
            "stats": {"objects": k, "frames": 5, "height": 8, "width": 12,
                      "occlusion_fraction": 0.0}}


def write_gap_dataset(root, seqs_per_shard=(2,), gaps=GAPS, t=5):
    """Shards of fake sequences at `gaps` plus a manifest recording them; {id: arrays}."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    manifest.save(root, manifest.new({"x": 1}, shard_size=max(seqs_per_shard),
                                     n=sum(seqs_per_shard), generator_version="test", gaps=gaps))
    written, i = {}, 0
    for j, count in enumerate(seqs_per_shard):
        with ShardWriter(root / manifest.shard_name(j), shard_index=j, settings={"x": 1},
                         generator_version="test", gaps=gaps) as w:
            for _ in range(count):
                sid = manifest.seq_id(i)
                written[sid] = gap_arrays(rng, gaps, k=1 + i % 2, t=t)
                w.add(sid, written[sid], record(i, 1 + i % 2), gaps=gaps)
                i += 1
        manifest.put_entry(root, w.entry)
    return written


@pytest.fixture
def dataset(tmp_path):
    return tmp_path / "d", write_gap_dataset(tmp_path / "d")


def test_the_reader_returns_every_gap_and_exposes_the_gaps_of_dataset_and_shard(dataset):
    root, written = dataset
    with open_dataset(root) as ds:
        assert ds.gaps == GAPS and ds.shard_of("000000").gaps == GAPS
        flow = ds["000001"]["flow_gt"]
        assert flow.shape == (5, 4, 8, 12, 2)
        assert np.abs(flow - written["000001"]["flow_gt"]).max() <= FLOW_SCALE / 2
    assert manifest.load(root)["gaps"] == [1, 2]


def test_flow_for_picks_plus_and_minus_each_gap_at_2i_and_2i_plus_1(dataset):
    root, _ = dataset
    with open_dataset(root) as ds:
        flow = ds["000000"]["flow_gt"]
        for gap, index in ((1, 0), (-1, 1), (2, 2), (-2, 3)):
            assert ds.gap_index(gap) == index
            np.testing.assert_array_equal(ds.flow_for(flow, gap), flow[:, index])
        with pytest.raises(ValueError, match=r"gap \+3 is not stored \(gaps \+-1, \+-2\)"):
            ds.flow_for(flow, 3)
    with pytest.raises(ValueError, match="gap"):
        gap_index(GAPS, 0)
    with pytest.raises(ValueError, match="4 gap maps"):
        flow_for(flow[:, :2], GAPS, 1)


def test_reading_some_gaps_returns_their_maps_in_the_order_asked(dataset):
    root, _ = dataset
    with open_dataset(root) as ds:
        full = ds["000000"]["flow_gt"]
        only_1 = ds.read("000000", ["flow_gt", "rgb"], gaps=(1,))
        np.testing.assert_array_equal(only_1["flow_gt"], full[:, :2])
        assert only_1["rgb"].shape == (5, 8, 12, 3)
        swapped = ds.read("000000", ["flow_gt"], frames=slice(1, 3), gaps=(2, 1))["flow_gt"]
        np.testing.assert_array_equal(swapped, full[1:3][:, [2, 3, 0, 1]])
        with pytest.raises(ValueError, match=r"shard-00000.h5: gap \+3 is not stored"):
            ds.read("000000", ["flow_gt"], gaps=(3,))
    assert select(full, GAPS, GAPS) is full


@pytest.mark.parametrize("bad", [[], [0], [1, 1], [-2], [1.0], [True], "12"])
def test_gaps_must_be_distinct_positive_integers(bad):
    with pytest.raises(ValueError, match="gaps must be"):
        check_gaps(bad)


def test_the_writer_refuses_flow_of_other_gaps_and_a_sequence_made_at_other_gaps(tmp_path):
    rng = np.random.default_rng(1)
    with pytest.raises(ValueError, match=r"flow_gt: expected float32 \(3, 4, 8, 12, 2\)"):
        with ShardWriter(tmp_path / SHARD, shard_index=0, settings={}, generator_version="t",
                         gaps=GAPS) as w:
            w.add("000000", fake_arrays(rng), {})  # gap-1 flow only
    with pytest.raises(ValueError, match=r"sequence 000000: flow at gaps \[1\], the shard"):
        with ShardWriter(tmp_path / SHARD, shard_index=0, settings={}, generator_version="t",
                         gaps=GAPS) as w:
            w.add("000000", gap_arrays(rng, t=3), {}, gaps=(1,))
    assert not list(tmp_path.iterdir())


def test_each_flow_array_and_the_file_record_the_gaps(dataset):
    root, _ = dataset
    with h5py.File(root / SHARD, "r") as f:
        assert f.attrs["schema_version"] == 2 and f.attrs["gaps"].tolist() == [1, 2]
        group = f["000000"]
        assert group["flow_gt"].attrs["gaps"].tolist() == [1, 2]
        assert "gaps" not in group["rgb"].attrs


def downgrade_to_schema_1(root):
    """Make a gaps-(1,) dataset look as schema 1 wrote it: no gaps anywhere, version 1."""
    with h5py.File(root / SHARD, "r+") as f:
        del f.attrs["gaps"]
        f.attrs["schema_version"] = 1
        for sid in f:
            del f[sid]["flow_gt"].attrs["gaps"]
    data = json.loads((root / "manifest.json").read_text())
    del data["gaps"]
    data["schema_version"] = 1
    (root / "manifest.json").write_text(json.dumps(data))
    manifest.put_entry(root, dict(manifest.load(root)["shards"][0],
                                  sha256=manifest.sha256_file(root / SHARD),
                                  bytes=(root / SHARD).stat().st_size))


def test_a_schema_1_dataset_reads_as_gaps_1_and_a_flow_pass_keeps_it_schema_1(tmp_path):
    written = write_gap_dataset(tmp_path, gaps=(1,))
    downgrade_to_schema_1(tmp_path)
    with open_dataset(tmp_path) as ds:
        assert ds.gaps == (1,) and ds.shard_of("000000").version == 1
        np.testing.assert_allclose(ds["000000"]["flow_gt"], written["000000"]["flow_gt"],
                                   atol=FLOW_SCALE / 2)
    add_arrays(tmp_path, SHARD, {i: {"flow_dis": a["flow_gt"]} for i, a in written.items()})
    with h5py.File(tmp_path / SHARD, "r") as f:
        assert f.attrs["schema_version"] == 1 and "gaps" not in f.attrs
        assert "gaps" not in f["000000"]["flow_dis"].attrs
    assert check_shard(tmp_path, manifest.load(tmp_path)["shards"][0]) == []


def test_a_flow_added_to_a_schema_2_shard_records_its_gaps_and_must_hold_them(dataset):
    root, written = dataset
    add_arrays(root, SHARD, {i: {"flow_dis": a["flow_gt"]} for i, a in written.items()})
    with h5py.File(root / SHARD, "r") as f:
        assert f["000001"]["flow_dis"].attrs["gaps"].tolist() == [1, 2]
    with pytest.raises(ValueError, match=r"flow_raft: shape \(5, 2, 8, 12, 2\): the shard holds"):
        add_arrays(root, SHARD, {"000000": {"flow_raft": written["000000"]["flow_gt"][:, :2]}})


@pytest.mark.parametrize("junk", [np.asarray([0]), np.asarray([2, 2]), np.bytes_(b"1,2"),
                                  np.asarray([[1, 2]]), np.asarray([1.0, 2.0])])
def test_a_corrupt_gaps_attribute_of_the_file_is_a_shard_error_naming_it(dataset, junk):
    root, _ = dataset
    with h5py.File(root / SHARD, "r+") as f:
        f.attrs["gaps"] = junk
    with pytest.raises(ShardError, match=r"shard-00000.h5: attribute gaps: damaged"):
        Shard(root / SHARD)


def test_a_gaps_attribute_that_lies_about_the_flow_is_never_trusted(dataset):
    root, _ = dataset
    with h5py.File(root / SHARD, "r+") as f:
        f["000001"]["flow_gt"].attrs["gaps"] = np.asarray([1, 3])
    with Shard(root / SHARD) as shard:
        shard.read("000000")
        with pytest.raises(ShardError, match=r"sequence 000001: flow_gt: attribute gaps \[1, 3\] "
                                             r"differs from the file's \[1, 2\]"):
            shard.read("000001", ["flow_gt"])
    with h5py.File(root / SHARD, "r+") as f:  # file and arrays agree, the gap axis does not
        f.attrs["gaps"] = np.asarray([1])
        for sid in f:
            f[sid]["flow_gt"].attrs["gaps"] = np.asarray([1])
    with Shard(root / SHARD) as shard, pytest.raises(ShardError, match="shape .* does not hold"):
        shard.read("000000", ["flow_gt"])
    with pytest.raises(ShardError, match=r"shard-00000.h5: holds flow at gaps \[1\], "
                                         r"manifest.json says \[1, 2\]"):
        open_dataset(root)["000000"]


def test_a_schema_2_flow_without_its_gaps_attribute_is_refused(dataset):
    root, _ = dataset
    with h5py.File(root / SHARD, "r+") as f:
        del f["000000"]["flow_gt"].attrs["gaps"]
    with Shard(root / SHARD) as shard, pytest.raises(
            ShardError, match="sequence 000000: flow_gt: attribute gaps: missing"):
        shard.read_stored("000000")


@pytest.mark.parametrize("gaps", [[0], [1, 1], "1", None])
def test_a_manifest_with_bad_gaps_is_refused_naming_the_key(dataset, gaps):
    root, _ = dataset
    data = json.loads((root / "manifest.json").read_text())
    data["gaps"] = gaps
    if gaps is None:
        del data["gaps"]
    (root / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ShardError, match="manifest.json: gaps: "):
        open_dataset(root)


def test_validate_checks_every_gap_and_names_a_shard_of_other_gaps(dataset, tmp_path):
    root, _ = dataset
    entry = manifest.load(root)["shards"][0]
    assert check_shard(root, entry, gaps=GAPS) == []
    assert check_shard(root, entry, gaps=(1,)) == [
        "shard-00000.h5: holds flow at gaps [1, 2], manifest says [1]"]
    ran = invoke("validate", root)
    assert ran.code == 0 and "sound: 1 shards, 2 sequences" in ran.out


def test_export_writes_a_folder_per_signed_gap_whose_flo_files_are_the_stored_flow(dataset):
    root, _ = dataset
    out = root.parent / "oclr"
    with open_dataset(root) as ds:
        names = export_oclr(ds, out)
        for gap in (1, -1, 2, -2):
            for seq_id, name in zip(ds.ids, names, strict=True):
                stored = ds.flow_for(ds[seq_id]["flow_gt"], gap)
                for t in range(len(stored)):
                    np.testing.assert_array_equal(
                        read_flo(out / f"Flows_gap{gap}" / name / f"{t:05d}.flo"), stored[t])
    assert sorted(p.name for p in out.iterdir()) == [
        "AmodalAnnotations", "Flows_gap-1", "Flows_gap-2", "Flows_gap1", "Flows_gap2",
        "JPEGImages"]


class FrameIds(FlowEstimator):
    """Flow naming its pair: u = source frame's grey level (its id), v = destination - source."""

    name = "ids"

    def __init__(self):
        self.pairs = 0

    def estimate_pairs(self, src, dst):
        self.pairs += len(src)
        u = src[..., 0].astype(np.float32)
        return np.stack([u, dst[..., 0].astype(np.float32) - u], axis=-1)


def id_clip(t, h=3, w=4):
    return np.broadcast_to(np.arange(t, dtype=np.uint8)[:, None, None, None], (t, h, w, 3)).copy()


@pytest.mark.parametrize("t", [4, 5, 7])
def test_each_gap_gets_its_own_pairs_and_the_clip_ends_the_negated_opposite_flow(t):
    est = FrameIds()
    flow = est.estimate(id_clip(t), GAPS)  # (T, 4, H, W, 2)
    assert flow.shape == (t, 4, 3, 4, 2) and est.pairs == n_pairs(t, GAPS) == 4 * t - 6
    for i, g in enumerate(GAPS):
        for s, index in ((1, 2 * i), (-1, 2 * i + 1)):
            for frame in range(t):
                if 0 <= frame + s * g < t:  # a real pair: source id, displacement s * g
                    want = (frame, s * g)
                else:  # the clip end: minus the other direction's pair of the same gap
                    want = (-frame, s * g)
                assert tuple(flow[frame, index, 0, 0]) == want, (g, s, frame)
    np.testing.assert_array_equal(est.estimate(id_clip(t)), flow[:, :2])  # gaps (1,) as before


def test_pairs_of_gaps_1_are_those_of_before_and_assemble_inverts_clip_pairs():
    rgb = id_clip(5)
    src, dst = clip_pairs(rgb)
    assert src[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 1, 2, 3, 4]
    assert dst[:, 0, 0, 0].tolist() == [1, 2, 3, 4, 0, 1, 2, 3]
    src, dst = clip_pairs(rgb, (2,))
    assert (src[:, 0, 0, 0].tolist(), dst[:, 0, 0, 0].tolist()) == ([0, 1, 2, 2, 3, 4],
                                                                      [2, 3, 4, 0, 1, 2])
    # pair n carries flow n: forward pairs 0..2 at frames 0..2, backward 3..5 at frames 2..4
    pair_flows = np.arange(len(src), dtype=np.float32)[:, None, None, None] * np.ones((1, 3, 4, 2))
    out = assemble(pair_flows, 5, (2,))
    assert out[:, 0, 0, 0, 0].tolist() == [0, 1, 2, -4, -5]
    assert out[:, 1, 0, 0, 0].tolist() == [0, -1, 3, 4, 5]


def test_a_clip_too_short_for_a_gap_is_refused_before_any_estimate():
    with pytest.raises(ValueError, match=r"T>=4"):
        FrameIds().estimate(id_clip(3), GAPS)
    with pytest.raises(UsageError, match="dis flow at gap 2 needs at least 4 frames"):
        check_clip_size("dis", 3, 32, 48, GAPS)
    check_clip_size("dis", 4, 32, 48, GAPS)


def test_an_in_place_flow_pass_estimates_every_stored_gap(dataset):
    root, _ = dataset
    est = FrameIds()
    report = add_estimated_flow(root, est)
    assert report.pairs == est.pairs == 2 * n_pairs(5, GAPS)
    with open_dataset(root) as ds:
        assert ds.flow_methods == ["gt", "ids"]
        assert ds["000000"]["flow_ids"].shape == ds["000000"]["flow_gt"].shape


def test_layersynth_flow_dis_fills_every_gap_and_says_which(dataset):
    root, _ = dataset
    ran = invoke("flow", root, "--method", "dis")
    assert ran.code == 0, ran.err
    assert "-> flow_dis at gaps +-1, +-2" in ran.out and ran.last_json()["gaps"] == [1, 2]
    with open_dataset(root) as ds:
        flow = ds["000000"]["flow_dis"]
        assert flow.shape == (5, 4, 8, 12, 2)
        for g in GAPS:  # the last g frames have no t + g: minus their t - g flow
            np.testing.assert_array_equal(ds.flow_for(flow, g)[-g:], -ds.flow_for(flow, -g)[-g:])


def test_layersynth_flow_refuses_a_dataset_whose_clips_are_too_short_for_a_gap(tmp_path):
    write_gap_dataset(tmp_path, gaps=(1, 2), t=3)
    before = manifest.load(tmp_path)
    ran = invoke("flow", tmp_path, "--method", "dis")
    assert "dis flow at gap 2 needs at least 4 frames a sequence" in ran.error_line()
    assert manifest.load(tmp_path) == before


def test_the_card_and_inspect_say_which_gaps_are_stored(dataset):
    root, _ = dataset
    line = card.gaps_line(manifest.load(root))
    assert "flow gaps stored: +-1, +-2" in line and "0 = +1, 1 = -1, 2 = +2, 3 = -2" in line
    ran = invoke("inspect", root)
    assert ran.code == 0, ran.err
    assert "flow gaps      +-1, +-2 (gap axis: 0 = +1, 1 = -1, 2 = +2, 3 = -2)" in ran.out
    assert ran.last_json()["gaps"] == [1, 2]


def test_generation_takes_the_gaps_of_the_scene_settings_and_old_settings_mean_gap_1():
    assert scene_gaps({"frames": 4}) == (1,)
    assert scene_gaps({"gaps": [1, 2]}) == (1, 2)


def test_generate_refuses_estimated_flow_at_a_gap_its_clips_are_too_short_for(tmp_path):
    settings = make_settings(preset="tiny", seed=1, frames=3, height=32, width=48,
                             flow=("gt", "dis"))
    settings = replace(settings, scene=dict(settings.scene, gaps=[1, 2]))  # as --gaps 1,2 will
    with pytest.raises(UsageError, match="--flow gt,dis with --gaps 1,2 --frames 3: dis flow at "
                                         "gap 2 needs at least 4 frames"):
        generate(settings, n=1, out=tmp_path / "d", workers=1, scheduler=None)
    assert not (tmp_path / "d").exists()
