import os

import numpy as np
import pytest
import torch
from oclr import data
from oclr.data import ClipShape, ShardClips, StreamSampler


class FakeReader:
    """The `layersynth.open_dataset` interface over arrays made in memory.

    Sequence i has 1 + i % 3 objects; its flow is constant (u, v) = (i + 1, -(i + 1)) at gap +1
    and the negation at gap -1, so every item says where it came from."""

    def __init__(self, root, n=6, frames=4, size=(16, 24), flows=("flow_gt",)):
        self.root, self.n, self.frames, self.size, self.flows = root, n, frames, size, flows
        self.ids = [f"{i:06d}" for i in range(n)]
        if os.path.isdir(root):  # a log of the processes that opened a reader
            with open(os.path.join(root, f"opened-{os.getpid()}"), "a") as f:
                f.write("x")

    def __len__(self):
        return self.n

    def __getitem__(self, sid):
        i = int(sid)
        k, t, (h, w) = 1 + i % 3, self.frames, self.size
        amodal = np.zeros((k, t, h, w), bool)
        for layer in range(k):
            amodal[layer, :, 2 * layer : 2 * layer + 6, 3 * layer : 3 * layer + 8] = True
        flow = np.zeros((t, 2, h, w, 2), np.float32)
        flow[:, 0] = (i + 1, -(i + 1))
        flow[:, 1] = (-(i + 1), i + 1)
        modal = np.zeros((t, h, w), np.uint8)
        for layer in reversed(range(k)):
            modal[amodal[layer]] = layer + 1
        arrays = {"rgb": np.zeros((t, h, w, 3), np.uint8), "amodal": amodal, "modal": modal,
                  "occluder": np.zeros((t, h, w), bool), "order": np.arange(k, dtype=np.int16)}
        for key in self.flows:
            arrays[key] = flow.copy()
        return arrays


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """Make ShardClips read FakeReader folders; returns a setter for the reader's options."""
    options = {}
    monkeypatch.setattr(data, "open_reader", lambda root: FakeReader(str(root), **options))
    return options


SHAPE = ClipShape(frames=4, layers=3, height=16, width=24)


def test_flow_input_stacks_u_v_of_gap_plus_one_then_gap_minus_one():
    flow = torch.zeros(2, 2, 3, 5, 2)
    flow[:, 0, ..., 0], flow[:, 0, ..., 1] = 1.0, 2.0
    flow[:, 1, ..., 0], flow[:, 1, ..., 1] = 3.0, 4.0
    out = data.flow_input(flow)
    assert out.shape == (2, 4, 3, 5)
    assert out[:, :, 1, 2].tolist() == [[1.0, 2.0, 3.0, 4.0]] * 2


def test_resizing_scales_u_by_the_width_ratio_and_v_by_the_height_ratio():
    flow = torch.tensor([3.0, -2.0, -3.0, 2.0]).view(1, 4, 1, 1).expand(2, 4, 32, 56).clone()
    amodal = torch.zeros(2, 1, 32, 56)
    out, _, _ = data.resize_clip(flow, amodal, torch.zeros(2, 32, 56).long(), 64, 168)
    assert out.shape == (2, 4, 64, 168)
    expected = torch.tensor([9.0, -4.0, -9.0, 4.0]).view(1, 4, 1, 1)
    assert torch.allclose(out, expected.expand_as(out))


def test_a_zoom_flow_stays_the_same_zoom_about_the_resized_centre():
    # u = s (x - cx) on a 40 x 60 grid of pixel centres; at twice the size it must be
    # u' = s (x' - cx') with cx' = 2 (cx + 0.5) - 0.5: the motion field seen at finer pixels.
    s, cx, cy = 0.1, 30.0, 20.0
    ys, xs = torch.meshgrid(torch.arange(40.0), torch.arange(60.0), indexing="ij")
    flow = torch.stack([s * (xs - cx), s * (ys - cy)] * 2)[None]  # (1, 4, 40, 60)
    out, _, _ = data.resize_clip(flow, torch.zeros(1, 0, 40, 60), torch.zeros(1, 40, 60).long(),
                                 80, 120)
    ys2, xs2 = torch.meshgrid(torch.arange(80.0), torch.arange(120.0), indexing="ij")
    want_u, want_v = s * (xs2 - (2 * cx + 0.5)), s * (ys2 - (2 * cy + 0.5))
    inner = (slice(2, -2), slice(2, -2))  # bilinear resampling clamps at the border
    assert torch.allclose(out[0, 0][inner], want_u[inner], atol=1e-4)
    assert torch.allclose(out[0, 1][inner], want_v[inner], atol=1e-4)


def test_resized_masks_keep_their_area_and_labels_stay_labels():
    amodal = torch.zeros(1, 1, 16, 16)
    amodal[..., 4:12, 4:12] = 1
    modal = (amodal[:, 0] * 2).long()
    _, a2, m2 = data.resize_clip(torch.zeros(1, 4, 16, 16), amodal, modal, 32, 32)
    assert a2.sum() == 4 * amodal.sum()
    assert set(m2.unique().tolist()) == {0, 2}


def test_padding_to_k_appends_empty_layers_and_marks_them_invalid(fake):
    ds = ShardClips("fake", SHAPE)
    item = ds[1]  # sequence 1 has two objects
    assert item["amodal"].shape == (4, 3, 16, 24)
    assert item["valid"].tolist() == [True, True, False]
    assert item["amodal"][:, 2].sum() == 0 and item["amodal"][:, 1].sum() > 0
    assert item["order"].tolist() == [0, 1, 3]
    assert int(item["n_objects"]) == 2


def test_items_are_in_the_model_layout_with_resized_flow(fake):
    ds = ShardClips("fake", ClipShape(frames=4, layers=3, height=32, width=72))
    item = ds[2]
    assert item["flow"].shape == (4, 4, 32, 72) and item["flow"].dtype == torch.float32
    assert item["flow"][0, :, 5, 5].tolist() == [9.0, -6.0, -9.0, 6.0]  # (3, -3) * (3, 2)
    assert item["modal"].shape == (4, 32, 72) and item["modal"].max() == 3


def test_asking_for_a_flow_the_dataset_lacks_names_the_folder_and_what_it_has(fake, tmp_path):
    with pytest.raises(ValueError, match=r"nowhere.*no 'raft' flow.*has: gt.*layersynth flow"):
        ShardClips(tmp_path / "nowhere", SHAPE, flow="raft")
    fake["flows"] = ("flow_gt", "flow_dis")
    assert ShardClips("fake", SHAPE, flow="dis")[0]["flow"][0, 0, 0, 0] == 1.0
    with pytest.raises(ValueError, match="flow must be one of"):
        ShardClips("fake", SHAPE, flow="farneback")


def test_a_sequence_with_more_objects_than_layers_is_refused_by_name(fake):
    ds = ShardClips("fake", ClipShape(frames=4, layers=2, height=16, width=24))
    with pytest.raises(ValueError, match="sequence 000002 has 3 objects"):
        ds[2]


def test_long_sequences_give_end_aligned_windows_and_short_ones_repeat_the_last_frame(fake):
    assert data.window_starts(10, 4) == [0, 4, 6]
    assert data.window_starts(8, 4) == [0, 4]
    assert data.window_starts(3, 4) == [0]
    fake["frames"] = 10
    assert ShardClips("fake", SHAPE).clip_ids[:3] == ["000000@0", "000000@4", "000000@6"]
    assert data.frame_indices(3, 0, 5).tolist() == [0, 1, 2, 2, 2]


def test_each_loader_worker_opens_its_own_reader_and_sees_the_same_items(fake, tmp_path):
    ds = ShardClips(tmp_path, SHAPE)
    assert ds._reader is None  # nothing open for workers to inherit
    parent_logs = set(os.listdir(tmp_path))
    serial = [b["flow"] for b in data.eval_loader(ds, batch=2)]
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)
    parallel = [b["flow"] for b in loader]
    assert all(torch.equal(a, b) for a, b in zip(serial, parallel, strict=True))
    worker_logs = set(os.listdir(tmp_path)) - parent_logs
    assert len(worker_logs) == 2


def test_the_stream_is_a_fresh_permutation_every_epoch():
    s = StreamSampler(5, seed=3, batch=1)
    it = iter(s)
    first, second = [next(it) for _ in range(5)], [next(it) for _ in range(5)]
    assert sorted(first) == sorted(second) == list(range(5))
    assert first != second or s.permutation(0).tolist() != s.permutation(1).tolist()


def test_two_ranks_together_read_what_one_rank_reads_with_twice_the_batch():
    one = iter(StreamSampler(7, seed=1, batch=4))
    r0, r1 = (iter(StreamSampler(7, seed=1, batch=2, rank=r, world=2)) for r in (0, 1))
    for _ in range(5):
        both = [next(r0), next(r0), next(r1), next(r1)]
        assert both == [next(one) for _ in range(4)]


def test_a_sampler_restored_from_its_state_continues_the_same_stream():
    a = StreamSampler(6, seed=9, batch=2)
    a.advance(3)
    b = StreamSampler(6, seed=9, batch=2)
    b.load_state_dict(a.state_dict())
    full = iter(StreamSampler(6, seed=9, batch=2))
    skipped = [next(full) for _ in range(6)]
    assert len(skipped) == 6
    resumed = iter(b)
    assert [next(resumed) for _ in range(8)] == [next(full) for _ in range(8)]
    with pytest.raises(ValueError, match="does not match"):
        StreamSampler(6, seed=10, batch=2).load_state_dict(a.state_dict())


def test_real_generated_shards_become_model_clips_with_scaled_flow(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    import layersynth

    out = tmp_path / "shards"
    subprocess.run([str(Path(sys.executable).parent / "layersynth"), "generate", "--preset",
                    "tiny", "--n", "3", "--size", "32x48", "--frames", "4", "--workers", "1",
                    "--out", str(out)], check=True, capture_output=True)
    raw = layersynth.open_dataset(out)
    ds = ShardClips(out, ClipShape(frames=4, layers=3, height=64, width=144))
    assert len(ds) == 3 and ds.clip_ids[0] == f"{raw.ids[0]}@0"
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2)
    batch = next(iter(loader))
    assert batch["flow"].shape == (3, 4, 4, 64, 144) and batch["amodal"].shape == (3, 4, 3, 64, 144)
    flow = raw[raw.ids[0]]["flow_gt"]  # (T, 2, H, W, 2)
    # mean flow is preserved by bilinear resizing up to the border: compare means after scaling
    for channel, (gap, axis, scale) in enumerate([(0, 0, 3), (0, 1, 2), (1, 0, 3), (1, 1, 2)]):
        want = scale * flow[:, gap, :, :, axis].mean()
        assert batch["flow"][0, :, channel].mean() == pytest.approx(want, abs=0.02 * scale + 1e-3)
    n = [int(k) for k in batch["n_objects"]]
    assert batch["valid"].sum(1).tolist() == n
    windows = ShardClips(out, ClipShape(frames=3, layers=3, height=32, width=48))
    assert windows.clip_ids[:2] == [f"{raw.ids[0]}@0", f"{raw.ids[0]}@1"]
    want = raw[raw.ids[0]]["modal"][1:4]
    assert np.array_equal(windows[1]["modal"].numpy(), want)


def test_best_flow_prefers_estimated_flow_and_gives_none_for_an_unreadable_folder(shards,
                                                                                   tmp_path):
    from oclr.data import FLOW_PREFERENCE, best_flow

    assert FLOW_PREFERENCE == ("raft", "dis", "gt")
    assert best_flow(shards) == "gt"  # the tiny test shards hold ground truth only
    assert best_flow(shards, None) == "gt"
    assert best_flow(tmp_path / "nowhere") is None
    assert best_flow(shards, tmp_path / "nowhere") is None


def test_each_frame_s_depth_order_round_trips_from_the_shards_into_the_clips(reorder_shards):
    import layersynth

    ds = ShardClips(reorder_shards, ClipShape(frames=4, layers=3, height=32, width=48))
    with layersynth.open_dataset(reorder_shards) as reader:
        stored = {sid: reader[sid]["order"] for sid in reader.ids}
    assert any(len(np.unique(o, axis=0)) > 1 for o in stored.values())  # orders that change
    for i, (sid, start) in enumerate(ds.clips):
        item, want = ds[i], stored[sid][start:start + 4]  # (T, K) the window's frames
        k = want.shape[1]
        assert item["frame_order"].shape == (4, 3)
        assert item["frame_order"][:, :k].tolist() == want.tolist()
        assert (item["frame_order"][:, k:] == 3).all()
        rows, counts = np.unique(want, axis=0, return_counts=True)
        if counts.max() > 4 // 2:  # a strict majority: the clip's order is that one
            assert item["order"][:k].tolist() == rows[counts.argmax()].tolist()


def test_a_schema_1_order_per_clip_reads_as_the_same_order_at_every_frame(reorder_shards,
                                                                          tmp_path):
    import shutil

    import h5py
    from layersynth.store import manifest

    root = tmp_path / "old"
    shutil.copytree(reorder_shards, root)
    sid = "000000"
    path = root / "shard-00000.h5"
    with h5py.File(path, "r+") as f:
        k = f[sid]["amodal"].shape[0]
        old = np.arange(k, dtype=np.int16)[::-1].copy()  # (K,): layer K - 1 in front
        del f[sid]["order"]
        f[sid].create_dataset("order", data=old, chunks=old.shape, fletcher32=True)
        f.attrs["schema_version"] = 1
    manifest.put_entry(root, dict(manifest.load(root)["shards"][0],
                                  sha256=manifest.sha256_file(path), bytes=path.stat().st_size))
    ds = ShardClips(root, ClipShape(frames=4, layers=3, height=32, width=48))
    item = ds[ds.clip_ids.index(f"{sid}@0")]
    assert item["frame_order"][:, :k].tolist() == [old.tolist()] * 4
    assert item["order"][:k].tolist() == old.tolist()


def test_a_reader_without_frames_gives_its_one_order_to_every_frame(fake):
    item = ShardClips("fake", SHAPE)[2]  # three objects, order (K,) = 0, 1, 2
    assert item["frame_order"].tolist() == [[0, 1, 2]] * 4
    assert item["order"].tolist() == [0, 1, 2]


def test_the_clip_s_one_order_is_the_one_held_at_most_of_its_frames():
    stored = np.array([[0, 1], [1, 0], [1, 0], [1, 0], [0, 1]], np.int16)  # (T, K)
    order, frame_order = data.clip_orders(stored, np.array([0, 1, 2, 3]), 3)
    assert order.tolist() == [1, 0, 3]
    assert frame_order.tolist() == [[0, 1, 3], [1, 0, 3], [1, 0, 3], [1, 0, 3]]
    order, _ = data.clip_orders(stored, np.array([3, 4, 4, 4]), 3)  # padding repeats frame 4
    assert order.tolist() == [0, 1, 3]
