"""Damaged shards are never read silently and never crash a command.

Through the installed console script, on a tiny dataset: a command that reads a damaged shard
(export, preview, inspect) exits 2 with one line naming the file, and the sequence and array for a
damaged chunk; `validate` exits 1 naming it; `flow` refuses it and leaves every file as it was;
`generate` run again makes it again; two `generate` runs on one folder do not overlap.
"""

import json
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from clirun import SCRIPT, script
from layersynth import open_dataset
from layersynth.store import manifest
from shard_damage import (
    FLIP,
    chunk_spans,
    flip,
    flip_in_chunk,
    header_offset,
    junk_in_record,
    same_arrays,
    truncate,
)

TINY = ["--preset", "tiny", "--n", "4", "--frames", "4", "--size", "32x48", "--shard-size", "2",
        "--workers", "1"]
SHARD, SEQ = "shard-00001.h5", "000003"
CHUNK = f"{SHARD}: sequence {SEQ}: {{}}: damaged chunk (checksum mismatch); run layersynth validate"


def _chunk(array):
    return lambda path: flip_in_chunk(path, SEQ, array, chunk=1)


def _h5py_junk(path):
    """A file HDF5 finds sound whose record is not JSON (written through h5py, checksums valid)."""
    with h5py.File(path, "r+") as f:
        f[SEQ].attrs["record"] = np.bytes_(b"\xff\xfe not json")


# damage -> (how it is done to shard-00001.h5, what the error line must say)
DAMAGE = {
    "truncated": (truncate, f"{SHARD}: not a readable HDF5 file"),
    "flow_gt chunk": (_chunk("flow_gt"), CHUNK.format("flow_gt")),
    "rgb chunk": (_chunk("rgb"), CHUNK.format("rgb")),
    "amodal chunk": (_chunk("amodal"), CHUNK.format("amodal")),
    "superblock": (lambda p: flip(p, 12), f"{SHARD}: not a readable HDF5 file"),
    "root header": (lambda p: flip(p, header_offset(p) + 6), f"{SHARD}: "),
    "sequence header": (lambda p: flip(p, header_offset(p, SEQ) + 6),
                        f"{SHARD}: sequence {SEQ}: damaged metadata (checksum mismatch)"),
    "record bytes": (lambda p: junk_in_record(p, SEQ),
                     f"{SHARD}: sequence {SEQ}: damaged metadata (checksum mismatch)"),
    "record text": (_h5py_junk, f"{SHARD}: sequence {SEQ}: attribute record: damaged"),
}
CHUNK_DAMAGE = ["flow_gt chunk", "rgb chunk", "amodal chunk"]
# export and preview read arrays, not records: junk written through HDF5 (its checksums sound)
# into a record is found by what reads records, inspect (and validate)
ARRAY_READERS = [d for d in DAMAGE if d != "record text"]
RECORD_DAMAGE = [d for d in DAMAGE if d not in CHUNK_DAMAGE]


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean") / "ds"
    ran = script("generate", *TINY, "--out", root)
    assert ran.code == 0, ran.err
    return root


@pytest.fixture
def damaged(clean, tmp_path, request):
    """(a copy of the clean dataset with the damage named by the test's parameter, what an error
    line about it must say)."""
    root = tmp_path / "ds"
    shutil.copytree(clean, root)
    damage, expected = DAMAGE[request.param]
    damage(root / SHARD)
    return root, expected


def files_of(root):
    """Bytes of every file a command could change (lock files aside)."""
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if not p.name.startswith(".")}


def refused(ran, expected):
    line = ran.error_line()  # exit 2, one stderr line, no traceback
    assert expected in line, line
    return line


@pytest.mark.parametrize("damaged", ARRAY_READERS, indirect=True)
def test_export_of_a_damaged_shard_exits_2_naming_it_and_leaves_nothing(damaged, tmp_path):
    root, expected = damaged
    refused(script("export", root, "--format", "oclr", "--out", tmp_path / "x"), expected)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("damaged", ARRAY_READERS, indirect=True)
def test_preview_of_a_damaged_sequence_exits_2_naming_it_and_writes_nothing(damaged, tmp_path):
    root, expected = damaged
    out = tmp_path / "p.png"
    refused(script("preview", root, "--seq", SEQ, "--out", out), expected)
    assert not out.exists()


@pytest.mark.parametrize("damaged", RECORD_DAMAGE, indirect=True)
def test_inspect_of_a_damaged_header_or_record_exits_2_naming_it(damaged):
    root, expected = damaged
    refused(script("inspect", root), expected)


@pytest.mark.parametrize("damaged", ["truncated", "flow_gt chunk", "record bytes"], indirect=True)
def test_validate_names_a_damaged_shard_and_exits_1(damaged):
    ran = script("validate", damaged[0])
    assert ran.code == 1 and "Traceback" not in ran.err
    assert f"problem: {SHARD}: checksum differs from manifest.json" in ran.out
    assert ran.last_json()["ok"] is False


@pytest.mark.parametrize("damaged", CHUNK_DAMAGE, indirect=True)
def test_validate_also_names_the_sequence_and_array_of_a_damaged_chunk(damaged):
    root, expected = damaged
    ran = script("validate", root)
    assert ran.code == 1
    assert f"problem: {expected.removesuffix('; run layersynth validate')}\n" in ran.out


@pytest.mark.parametrize("damaged", ["flow_gt chunk"], indirect=True)
def test_flow_refuses_a_damaged_shard_and_leaves_every_file_as_it_was(damaged):
    root, _ = damaged
    before = files_of(root)
    line = refused(script("flow", root, "--method", "dis"), f"{SHARD}: sha256 differs")
    assert "run layersynth validate" in line
    assert files_of(root) == before


@pytest.mark.parametrize("damaged", ["flow_gt chunk", "truncated"], indirect=True)
def test_generate_again_makes_a_damaged_shard_again_and_equals_a_clean_run(damaged, clean):
    damaged, _ = damaged
    ran = script("generate", *TINY, "--out", damaged)
    assert ran.code == 0, ran.err
    assert f"{SHARD}: " in ran.err and "making it again" in ran.err
    assert (ran.last_json()["made"], ran.last_json()["kept"]) == (2, 2)
    assert script("validate", damaged).code == 0
    assert files_of(damaged)[SHARD] == files_of(clean)[SHARD]
    with open_dataset(damaged) as got, open_dataset(clean) as want:
        assert got.ids == want.ids
        assert all(same_arrays(got[i], want[i]) and got.record(i) == want.record(i)
                   for i in got.ids)


def test_a_clean_dataset_and_its_lock_file_pass_every_reader(clean, tmp_path):
    assert (clean / ".lock").exists()
    assert script("validate", clean).code == 0
    assert script("inspect", clean).code == 0
    assert script("export", clean, "--format", "oclr", "--out", tmp_path / "x").code == 0
    assert open_dataset(clean).ids == [manifest.seq_id(i) for i in range(4)]


def test_a_second_generate_on_the_same_folder_exits_2_naming_the_first(tmp_path):
    out = tmp_path / "ds"
    argv = [str(SCRIPT), "generate", *TINY, "--n", "8", "--out", str(out)]
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while f"pid {first.pid}" not in _text(out / ".lock") and time.monotonic() < deadline:
            time.sleep(0.005)
        first.send_signal(signal.SIGSTOP)  # holds the folder (and maybe a temporary shard)
        line = refused(script("generate", *TINY, "--n", "8", "--out", out), f"pid {first.pid}")
        assert "in use by layersynth generate" in line
    finally:
        first.send_signal(signal.SIGCONT)
        _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert script("validate", out).code == 0


def _text(path):
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


# One process reads 24 differently damaged copies of the dataset: a crash in a decompressor would
# end it (exit 139) and fail the test; each copy must raise ShardError naming sequence and array.
TRIALS = r"""
import json, sys
from layersynth import open_dataset
from layersynth.store.schema import ShardError

results = []
for root in sys.argv[1:]:
    try:
        with open_dataset(root) as ds:
            for i in ds.ids:
                ds[i], ds.record(i)
        results.append("read silently")
    except ShardError as err:
        results.append(str(err))
print(json.dumps(results))
"""


def trial_places(path):
    """24 (sequence, array, offset, bytes) flips in the first and last chunk of every array of the
    shard's two sequences: at a chunk's start (the compressor's header), its end (the stored
    checksum) or in between."""
    rng = np.random.default_rng(0)
    places = []
    for seq in ("000002", "000003"):
        for array in ("amodal", "flow_gt", "modal", "occluder", "order", "rgb"):
            spans = chunk_spans(path, seq, array)
            for offset, size in (spans[0], spans[-1]):
                n = min(FLIP, size)
                at = rng.choice([0, size - n, int(rng.integers(0, size - n + 1))])
                places.append((seq, array, offset + int(at), n))
    return places


def test_flips_at_many_offsets_of_every_array_are_each_named_and_never_crash(clean, tmp_path):
    places = trial_places(clean / SHARD)
    assert len(places) == 24
    copies = []
    for k, (_, _, offset, n) in enumerate(places):
        copies.append(tmp_path / f"trial-{k:02d}")
        shutil.copytree(clean, copies[-1])
        flip(copies[-1] / SHARD, offset, n)
    proc = subprocess.run([sys.executable, "-c", TRIALS, *map(str, copies)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout)
    for (seq, array, offset, n), message in zip(places, results, strict=True):
        # a chunk of at most FLIP bytes (an order per clip, K values: schema 1) is inverted whole
        # with its checksum, which Fletcher-32 cannot see: the reader's check of the ranks names
        # it; the per-frame order (T x K values) is longer, so its checksum sees a flip
        whole = n == chunk_spans(clean / SHARD, seq, array)[0][1]
        why = "(holds" if array == "order" and whole else "(checksum mismatch)"
        assert f"{SHARD}: sequence {seq}: {array}: damaged chunk {why}" in message, (
            offset, message)
