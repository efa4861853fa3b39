import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from oclr.linking import assign, link_windows, match_to_gt, object_masks, soft_iou
from oclr.windows import overlapping_windows


def moving_squares(n_frames, k=3, size=24):
    """(K, T, H, W) bool: object k a square moving right at its own row."""
    masks = np.zeros((k, n_frames, size, size), bool)
    for obj in range(k):
        for t in range(n_frames):
            x = (t + 5 * obj) % (size - 4)
            masks[obj, t, 8 * obj:8 * obj + 6, x:x + 4] = True
    return masks


def per_window(masks, windows, rng):
    """Each window's view of the objects, channels shuffled as an unlinked model would give them."""
    probs, perms = [], []
    for w in windows:
        perm = rng.permutation(len(masks))
        probs.append(masks[perm][:, w.indices].astype(np.float32))
        perms.append(perm)
    return probs, perms


def test_soft_iou_of_identical_masks_is_one_and_of_two_empty_masks_is_zero():
    a = np.zeros((2, 3, 4, 4))
    a[0, :, :2] = 1
    iou = soft_iou(a, a)
    assert iou[0, 0] == 1.0 and iou[1, 1] == 0.0 and iou[0, 1] == 0.0


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(31, 90))
def test_an_object_keeps_one_id_across_window_boundaries_whatever_the_channel_permutations(seed, n):
    rng = np.random.default_rng(seed)
    masks = moving_squares(n)
    windows = overlapping_windows(n, size=30, overlap=10)
    probs, shuffles = per_window(masks, windows, rng)
    links = link_windows(windows, probs)
    for window, prob, perm, shuffle in zip(windows, probs, links, shuffles, strict=True):
        aligned = prob[perm]
        # linked channel j must show the object that window 0 put in its channel j
        assert np.array_equal(shuffle[perm], shuffles[0])
        assert np.array_equal(aligned, masks[shuffles[0]][:, window.indices])


def test_empty_channels_keep_their_order_when_nothing_distinguishes_them():
    score = np.array([[0.9, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert assign(score).tolist() == [0, 1, 2]


def test_match_to_gt_puts_the_channel_of_gt_object_j_at_position_j():
    masks = moving_squares(10)
    probs = masks[[2, 0, 1]].astype(np.float32)
    perm = match_to_gt(probs, masks[:2])
    assert perm.tolist() == [1, 2, 0]


def test_match_to_gt_ignores_frames_without_ground_truth():
    masks = moving_squares(6, k=2)
    gt = masks.copy()
    gt[:, 3:] = gt[::-1, 3:]  # frames 3..5 are wrong on purpose and marked as missing
    has_gt = np.array([True, True, True, False, False, False])
    assert match_to_gt(masks[::-1].astype(float), gt, has_gt).tolist() == [1, 0]


def test_object_masks_splits_labels_and_leaves_void_out():
    labels = np.array([[[0, 1, 2, 255]]], np.uint8)
    masks = object_masks(labels)
    assert masks.shape == (2, 1, 1, 4)
    assert masks[:, 0, 0].tolist() == [[False, True, False, False], [False, False, True, False]]
