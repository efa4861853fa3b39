import numpy as np
import pytest
from layersynth import open_dataset
from layersynth.pipeline.generation import generate, make_settings
from layersynth.store import writer as shards
from layersynth.viz.stats import dataset_stats, flow_epe, mean_and_quartiles


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    root = tmp_path_factory.mktemp("st") / "d"
    settings = make_settings(preset="tiny", seed=11, shard_size=3, frames=3, height=32, width=48)
    generate(settings, n=6, out=root, workers=1, scheduler=None)
    return open_dataset(root)


def test_mean_and_quartiles_gives_the_quartiles_and_none_when_empty():
    s = mean_and_quartiles([0.0, 1.0, 2.0, 3.0, 4.0])
    assert s == {"mean": 2.0, "min": 0.0, "p25": 1.0, "median": 2.0, "p75": 3.0, "max": 4.0}
    assert mean_and_quartiles([])["mean"] is None


def test_dataset_stats_count_objects_and_occlusion_from_the_records(ds):
    s = dataset_stats(ds)
    ks = [len(ds[i]["amodal"]) for i in ds.ids]
    assert s["objects"] == {str(k): ks.count(k) for k in sorted(set(ks))}
    assert s["sequences"] == 6 and s["shards"] == 2 and s["frames"] == 3
    assert s["bytes"] == sum(e["bytes"] for e in ds.manifest["shards"])
    occ = [ds.record(i)["stats"]["occlusion_fraction"] for i in ds.ids]
    assert s["occlusion_fraction"]["mean"] == pytest.approx(np.mean(occ))


def test_epe_of_an_estimated_flow_offset_by_one_pixel_is_one(ds):
    assert flow_epe(ds, 0) == {}
    for entry in ds.manifest["shards"]:
        new = {i: {"flow_dis": ds[i]["flow_gt"] + np.float32([1.0, 0.0])} for i in entry["ids"]}
        shards.add_arrays(ds.root, entry["file"], new)
    again = open_dataset(ds.root)
    epe = flow_epe(again, 0)
    assert list(epe) == ["dis"] and epe["dis"]["sequences"] == 6
    assert epe["dis"]["epe"] == pytest.approx(1.0, abs=1e-6)
