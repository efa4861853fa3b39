"""oclr.runlog.RunLog: RUN/metrics.jsonl, its truncation on resume, TensorBoard scalars when
tensorboard is importable, and the progress of rank 0 only. The engine's use of it (the resume step
of a real checkpoint) is tested in test_engine.py."""

import json
import time

import pytest
from oclr import runlog
from oclr.runlog import RunLog

# Lines as an older run left them: spacing and key order json.dumps would not write, so a line
# kept byte for byte is told apart from one parsed and written again.
OLD_LINES = ['{"step": 1,  "train/loss": 0.50}', '{"time": 7.0, "step": 2, "train/loss": 0.25}',
             '{"step":3,"val/amodal_j":0.1}', '{"step": 4, "train/loss": 0.125}',
             '{"step": 5, "train/loss": 0.0625}']


class FakeWriter:
    """SummaryWriter stand-in recording how it was opened, each scalar and whether it was closed."""

    opened: list = []

    def __init__(self, logdir, purge_step=None):
        self.scalars, self.closed = [], False
        FakeWriter.opened.append((logdir, purge_step))

    def add_scalar(self, name, value, step):
        self.scalars.append((name, value, step))

    def close(self):
        self.closed = True


@pytest.fixture
def fake_tensorboard(monkeypatch):
    monkeypatch.setattr(FakeWriter, "opened", [])
    monkeypatch.setattr(runlog, "SummaryWriter", FakeWriter)


@pytest.fixture
def no_tensorboard(monkeypatch):
    monkeypatch.setattr(runlog, "SummaryWriter", None)


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_write_is_one_json_object_a_line_with_step_time_and_the_values(tmp_path,
                                                                             no_tensorboard):
    log = RunLog(str(tmp_path / "run"), enabled=True, resume_step=0)
    before = time.time()
    log.write(1, {"train/loss": 0.5, "train/lr": 1e-3})
    log.write(2, {"val/amodal_j": 0.25, "ranks_in_sync": True})
    after = time.time()
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and all(line.startswith("{") for line in lines)
    first, second = map(json.loads, lines)
    assert list(first) == ["step", "time", "train/loss", "train/lr"]
    assert first["step"] == 1 and first["train/loss"] == 0.5 and first["train/lr"] == 1e-3
    assert second == {"step": 2, "time": second["time"], "val/amodal_j": 0.25,
                      "ranks_in_sync": True}
    assert before <= first["time"] <= second["time"] <= after


def test_resuming_drops_lines_past_the_step_and_keeps_earlier_ones_byte_for_byte(tmp_path,
                                                                                no_tensorboard):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(line + "\n" for line in OLD_LINES))
    log = RunLog(str(tmp_path), enabled=True, resume_step=3)
    assert path.read_text() == "".join(line + "\n" for line in OLD_LINES[:3])
    log.write(4, {"train/loss": 0.2})
    assert [row["step"] for row in rows(path)] == [1, 2, 3, 4]
    assert rows(path)[-1]["train/loss"] == 0.2
    assert not list(tmp_path.glob("*.tmp"))


def test_a_fresh_start_beside_an_old_log_keeps_none_of_its_steps(tmp_path, no_tensorboard):
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(OLD_LINES) + "\n\n")
    RunLog(str(tmp_path), enabled=True, resume_step=0)
    assert path.read_text() == ""


def test_a_disabled_log_writes_no_file_and_leaves_rank_0s_log_alone(tmp_path, fake_tensorboard):
    log = RunLog(str(tmp_path / "run"), enabled=False, resume_step=0)
    log.write(1, {"train/loss": 0.5})
    log.close()
    assert not (tmp_path / "run").exists() and FakeWriter.opened == []
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text(OLD_LINES[4] + "\n")
    RunLog(str(tmp_path / "run"), enabled=False, resume_step=2).write(3, {"train/loss": 0.1})
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == OLD_LINES[4] + "\n"


def test_only_numbers_are_sent_to_tensorboard_and_all_values_to_the_file(tmp_path,
                                                                         no_tensorboard):
    log = RunLog(str(tmp_path), enabled=True, resume_step=0)
    log.tb = FakeWriter(str(tmp_path / "tb"))
    values = {"train/loss": 0.5, "train/clips": 4, "ranks_in_sync": True, "note": "warmup",
              "digest": None, "sizes": [1, 2]}
    log.write(7, values)
    assert log.tb.scalars == [("train/loss", 0.5, 7), ("train/clips", 4, 7)]
    assert {k: v for k, v in rows(tmp_path / "metrics.jsonl")[0].items() if k != "time"} == {
        "step": 7, **values}


def test_tensorboard_opens_under_tb_purging_past_the_resumed_step_and_closes(tmp_path,
                                                                            fake_tensorboard):
    RunLog(str(tmp_path / "fresh"), enabled=True, resume_step=0)
    log = RunLog(str(tmp_path / "resumed"), enabled=True, resume_step=40)
    assert FakeWriter.opened == [(str(tmp_path / "fresh" / "tb"), None),
                                 (str(tmp_path / "resumed" / "tb"), 40)]
    log.write(41, {"train/loss": 0.5})
    log.close()
    assert log.tb.scalars == [("train/loss", 0.5, 41)] and log.tb.closed


def test_without_tensorboard_the_log_still_writes_and_closes(tmp_path, no_tensorboard):
    log = RunLog(str(tmp_path), enabled=True, resume_step=0)
    log.write(1, {"train/loss": 0.5})
    log.close()
    assert log.tb is None and rows(tmp_path / "metrics.jsonl")[0]["train/loss"] == 0.5


def test_progress_is_shown_on_rank_0_only_and_yields_the_steps_either_way(tmp_path, capsys,
                                                                          no_tensorboard):
    main = RunLog(str(tmp_path / "main"), enabled=True, resume_step=2)
    assert list(main.progress(range(2, 5), start=2, total=5)) == [2, 3, 4]
    err = capsys.readouterr().err
    assert "train (from step 2 to 5): 3/3 done" in err
    other = RunLog(str(tmp_path / "other"), enabled=False, resume_step=2)
    assert list(other.progress(range(2, 5), start=2, total=5)) == [2, 3, 4]
    assert capsys.readouterr().err == ""
