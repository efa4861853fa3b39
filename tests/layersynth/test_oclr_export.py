import numpy as np
import pytest
from layersynth import open_dataset
from layersynth.pipeline.generation import generate, make_settings
from layersynth.store import oclr_export
from layersynth.store import writer as shards
from layersynth.store.middlebury_flo import read_flo
from layersynth.store.oclr_export import amodal_file_index, export_oclr, sequence_folder
from PIL import Image


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("exp")
    settings = make_settings(preset="tiny", seed=5, shard_size=2, frames=3, height=32, width=48)
    generate(settings, n=4, out=base / "d", workers=1, scheduler=None)
    ds = open_dataset(base / "d")
    names = export_oclr(ds, base / "oclr")
    return ds, names, base / "oclr"


def test_sequence_folders_start_with_the_number_of_objects(exported):
    ds, names, _ = exported
    for seq_id, name in zip(ds.ids, names, strict=True):
        assert name == f"{len(ds[seq_id]['amodal'])}_{seq_id}"
    with pytest.raises(ValueError, match="12 objects"):
        sequence_folder("000001", 12)


def test_flo_files_hold_exactly_the_stored_flow_of_both_gaps(exported):
    ds, names, out = exported
    for seq_id, name in zip(ds.ids, names, strict=True):
        flow = ds[seq_id]["flow_gt"]
        for t in range(len(flow)):
            np.testing.assert_array_equal(read_flo(out / "Flows_gap1" / name / f"{t:05d}.flo"),
                                          flow[t, 0])
            np.testing.assert_array_equal(read_flo(out / "Flows_gap-1" / name / f"{t:05d}.flo"),
                                          flow[t, 1])


def test_amodal_pngs_equal_the_stored_masks_with_file_1_the_back_most_layer(exported):
    ds, names, out = exported
    for seq_id, name in zip(ds.ids, names, strict=True):
        amodal = ds[seq_id]["amodal"]
        k = len(amodal)
        for t in range(amodal.shape[1]):
            for c in range(k):
                png = np.asarray(Image.open(out / "AmodalAnnotations" / name /
                                            f"{amodal_file_index(c, k)}_{t:05d}.png"))
                assert set(np.unique(png)) <= {0, 255}
                np.testing.assert_array_equal(png > 0, amodal[c, t])
        files = sorted((out / "AmodalAnnotations" / name).glob("*_00000.png"))
        assert [f.name for f in files] == [f"{i}_00000.png" for i in range(1, k + 1)]
    assert amodal_file_index(0, 3) == 3 and amodal_file_index(2, 3) == 1


def test_jpeg_frames_are_close_to_the_stored_rgb(exported):
    ds, names, out = exported
    rgb = ds[ds.ids[0]]["rgb"]
    jpg = np.asarray(Image.open(out / "JPEGImages" / names[0] / "00002.jpg")).astype(int)
    assert jpg.shape == rgb[2].shape
    assert np.abs(jpg - rgb[2]).mean() < 12


def test_export_can_write_an_estimated_flow_instead_of_the_ground_truth(exported, tmp_path):
    ds, names, _ = exported
    root = ds.root
    entry = ds.manifest["shards"][0]
    shards.add_arrays(root, entry["file"],
                      {i: {"flow_dis": ds[i]["flow_gt"] + 1.0} for i in entry["ids"]})
    ds2 = open_dataset(root)
    assert "dis" not in ds2.flow_methods  # only one shard has it
    seq = entry["ids"][0]
    name = export_oclr(ds2, tmp_path, flow="dis", ids=[seq])[0]
    got = read_flo(tmp_path / "Flows_gap1" / name / "00000.flo")
    np.testing.assert_array_equal(got, ds2[seq]["flow_gt"][0, 0] + 1.0)


def tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_a_failed_export_leaves_nothing_and_an_earlier_export_intact(exported, tmp_path,
                                                                    monkeypatch):
    ds, _, _ = exported
    export_oclr(ds, tmp_path / "earlier", ids=ds.ids[:1])
    before = tree(tmp_path / "earlier")
    real, calls = oclr_export.export_sequence, []

    def third_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(oclr_export, "export_sequence", third_fails)
    for out in (tmp_path / "new" / "deeper", tmp_path / "earlier"):
        calls.clear()
        with pytest.raises(OSError):
            export_oclr(ds, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier"]
    assert tree(tmp_path / "earlier") == before


def test_exporting_into_an_earlier_export_replaces_only_the_sequences_exported(exported,
                                                                               tmp_path):
    ds, names, _ = exported
    export_oclr(ds, tmp_path / "o", ids=ds.ids[:2])
    (tmp_path / "o" / "JPEGImages" / names[0] / "00000.jpg").write_bytes(b"stale")
    export_oclr(ds, tmp_path / "o", ids=[ds.ids[0], ds.ids[2]])
    jpegs = sorted(p.name for p in (tmp_path / "o" / "JPEGImages").iterdir())
    assert jpegs == sorted(names[:3])
    assert (tmp_path / "o" / "JPEGImages" / names[0] / "00000.jpg").read_bytes() != b"stale"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_a_changing_order_is_exported_in_its_majority_order_earliest_on_a_tie():
    order = np.array([[0, 1, 2], [0, 2, 1], [0, 2, 1], [1, 0, 2]], np.int16)
    assert oclr_export.clip_order(order).tolist() == [0, 2, 1]  # held at 2 of 4 frames
    assert oclr_export.clip_order(order[[0, 1]]).tolist() == [0, 1, 2]  # 1 each: the first
    assert oclr_export.clip_order(np.array([1, 0], np.int16)).tolist() == [1, 0]


def test_each_amodal_file_is_numbered_by_its_objects_rank_in_the_clip_order(tmp_path):
    rng = np.random.default_rng(0)
    amodal = rng.random((2, 3, 4, 5)) < 0.5
    order = np.array([[0, 1], [1, 0], [1, 0]], np.int16)  # majority: channel 1 in front
    arrays = {"rgb": np.zeros((3, 4, 5, 3), np.uint8), "amodal": amodal, "order": order,
              "flow_gt": np.zeros((3, 2, 4, 5, 2), np.float32)}
    name = oclr_export.export_sequence(arrays, "000007", tmp_path)
    back = np.asarray(Image.open(tmp_path / "AmodalAnnotations" / name / "1_00000.png")) > 0
    front = np.asarray(Image.open(tmp_path / "AmodalAnnotations" / name / "2_00000.png")) > 0
    assert np.array_equal(front, amodal[1, 0]) and np.array_equal(back, amodal[0, 0])
