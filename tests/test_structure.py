"""tools/structure.py: the layout rules of the project, on the real tree and on small fake trees."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tools" / "structure.py"


@pytest.fixture(scope="module")
def structure():
    spec = importlib.util.spec_from_file_location("structure", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "packages" / "pkg" / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_project_has_no_cycle_no_long_module_and_no_library_import_of_a_cli():
    run = subprocess.run([sys.executable, str(SCRIPT), str(REPO)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout
    assert run.stdout.strip().endswith("0 problems")


def test_a_cycle_hidden_behind_an_import_inside_a_function_is_found(structure, tmp_path):
    root = write_tree(tmp_path, {
        "a/__init__.py": "",
        "a/one.py": "from a.two import x\n",
        "a/two.py": "def x():\n    from a import one\n    return one\n",
    })
    assert structure.problems(root) == ["import cycle: a.one <-> a.two"]


def test_a_package_importing_its_own_children_is_not_a_cycle(structure, tmp_path):
    root = write_tree(tmp_path, {
        "a/__init__.py": "from a.one import y\n",
        "a/one.py": "import a\ny = 1\n",
    })
    assert structure.problems(root) == []


def test_relative_imports_resolve_to_the_modules_they_name(structure, tmp_path):
    root = write_tree(tmp_path, {
        "a/__init__.py": "",
        "a/one.py": "from .two import x\n",
        "a/two.py": "from . import one\nx = 1\n",
    })
    assert structure.problems(root) == ["import cycle: a.one <-> a.two"]


def test_a_module_over_400_lines_is_named_with_its_length(structure, tmp_path):
    root = write_tree(tmp_path, {"a/__init__.py": "", "a/big.py": "x = 1\n" * 401})
    assert structure.problems(root) == [
        "packages/pkg/src/a/big.py: 401 lines (more than 400)"]


def test_a_library_module_importing_a_cli_module_is_found_and_cli_to_cli_is_allowed(structure,
                                                                                     tmp_path):
    root = write_tree(tmp_path, {
        "a/__init__.py": "",
        "a/cli/__init__.py": "",
        "a/cli/conventions.py": "",
        "a/cli/run.py": "from a.cli.conventions import z\nfrom a import lib\n",
        "a/lib.py": "def f():\n    from a.cli import conventions\n",
        "b/cli_x.py": "from a.cli import conventions\n",
    })
    assert structure.problems(root) == [
        "library module a.lib imports the command-line module a.cli.conventions"]
