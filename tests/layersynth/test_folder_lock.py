"""layersynth.store.folder_lock: one run per output folder, released however the holder ends."""

import signal
import subprocess
import sys
import time

import pytest
from layersynth.store.folder_lock import FolderInUse, hold

HOLDER = """
import sys, time
from layersynth.store.folder_lock import hold
with hold(sys.argv[1], "layersynth generate"):
    print("held", flush=True)
    time.sleep(60)
"""


def start_holder(folder):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_holder_is_refused_with_the_first_ones_command_and_pid(tmp_path):
    proc = start_holder(tmp_path / "out")
    try:
        with pytest.raises(FolderInUse, match=rf"in use by layersynth generate \(pid {proc.pid}\)"):
            with hold(tmp_path / "out", "layersynth generate"):
                pass
    finally:
        proc.kill()
        proc.wait()


def test_a_holder_killed_with_sigkill_leaves_the_folder_free(tmp_path):
    proc = start_holder(tmp_path / "out")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with hold(tmp_path / "out", "second") as lock:
        assert lock.read_text().startswith("second (pid ")


def test_the_lock_is_released_when_the_block_ends_even_by_an_exception(tmp_path):
    with pytest.raises(RuntimeError):
        with hold(tmp_path, "first"):
            raise RuntimeError("boom")
    start = time.monotonic()
    with hold(tmp_path, "again"):
        pass
    assert time.monotonic() - start < 1.0


def test_shared_holders_run_together_and_an_exclusive_one_excludes_them(tmp_path):
    with hold(tmp_path, "layersynth flow", shared=True):
        proc = subprocess.run(
            [sys.executable, "-c", "import sys\nfrom layersynth.store.folder_lock import hold\n"
             "with hold(sys.argv[1], 'layersynth flow', shared=True): print('both')",
             str(tmp_path)], capture_output=True, text=True)
        assert proc.stdout.strip() == "both"
    proc = start_holder(tmp_path)  # exclusive
    try:
        with pytest.raises(FolderInUse, match="in use by layersynth generate"):
            with hold(tmp_path, "layersynth flow", shared=True):
                pass
    finally:
        proc.kill()
        proc.wait()
