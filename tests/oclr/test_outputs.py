import errno

import pytest
from layersynth.errors import InputError
from oclr.outputs import check_output_file, os_problem, reported_os_errors, staged_folder


def test_an_output_file_is_checked_where_it_would_be_written(tmp_path):
    check_output_file(None, "--json")
    check_output_file(tmp_path / "new.json", "--json")
    with pytest.raises(InputError, match=f"--json {tmp_path}: a folder, not a file"):
        check_output_file(tmp_path, "--json")
    with pytest.raises(InputError, match="nowhere/x.json: no folder .*nowhere to write it in"):
        check_output_file(tmp_path / "nowhere" / "x.json", "--json")


def test_a_staged_folder_becomes_out_only_when_the_block_ends_well(tmp_path):
    out = tmp_path / "deep" / "out"
    with staged_folder(out) as stage:
        (stage / "masks").mkdir()
        assert not out.exists() and stage.parent == tmp_path
    assert (out / "masks").is_dir() and list(tmp_path.iterdir()) == [tmp_path / "deep"]
    (tmp_path / "made").mkdir()
    assert out.stat().st_mode == (tmp_path / "made").stat().st_mode  # the umask's, not 0700


def test_a_failed_block_leaves_out_as_it_was_and_no_staging_folder(tmp_path):
    out = tmp_path / "out"
    (out / "masks").mkdir(parents=True)
    (out / "masks" / "a.png").write_text("old")
    with pytest.raises(RuntimeError), staged_folder(out) as stage:
        (stage / "masks").mkdir()
        raise RuntimeError("midway")
    assert (out / "masks" / "a.png").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_published_entries_replace_those_of_the_same_name_and_keep_the_rest(tmp_path):
    out = tmp_path / "out"
    (out / "masks").mkdir(parents=True)
    (out / "masks" / "stale.png").write_text("old")
    (out / "notes.txt").write_text("mine")
    with staged_folder(out) as stage:
        (stage / "masks").mkdir()
        (stage / "masks" / "new.png").write_text("new")
    assert [p.name for p in (out / "masks").iterdir()] == ["new.png"]
    assert (out / "notes.txt").read_text() == "mine"


def test_an_out_that_is_a_file_is_refused_naming_the_option(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="--out .*f: a file, not a folder"), \
            staged_folder(tmp_path / "f"):
        pass


def test_an_os_error_becomes_one_input_error_naming_its_file():
    with pytest.raises(InputError, match=r"^run/x.json: No space left on device \(errno 28\)$"), \
            reported_os_errors("run"):
        raise OSError(errno.ENOSPC, "No space left on device", "run/x.json")
    with pytest.raises(InputError, match=r"^run: Permission denied \(errno 13\)$"), \
            reported_os_errors("run"):
        raise PermissionError(errno.EACCES, "Permission denied")
    with pytest.raises(BrokenPipeError), reported_os_errors("run"):
        raise BrokenPipeError
    assert os_problem(OSError("plain")) == "plain"
