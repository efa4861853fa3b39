"""The project's structure rules, read from the source (nothing is imported).

    python tools/structure.py [REPO]

Checks the modules under packages/*/src for:
- import cycles between modules, counting imports inside functions (a package's __init__ importing
  its own children is not a cycle of concepts and is left out);
- modules over MAX_LINES lines (usually two concepts in one file);
- library modules importing a command-line module (errors and progress live in library modules:
  layersynth.errors and layersynth.report).
Prints one line per problem and a summary; exit status 0 only when there is none.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_LINES = 400


def find_modules(repo: Path) -> dict[str, Path]:
    """{dotted module name: source file} of every module of every package under packages/."""
    found = {}
    for src in sorted(repo.glob("packages/*/src")):
        for path in sorted(src.rglob("*.py")):
            parts = list(path.relative_to(src).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            if parts and not any(p.endswith(".egg-info") for p in path.parts):
                found[".".join(parts)] = path
    return found


def imported_names(module: str, path: Path, known: set[str]) -> set[str]:
    """Every absolute name `path` imports, at any depth of its syntax tree: for `from P import x`,
    P.x where that is a known module, else P (x is an attribute of P)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            names.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                         for a in node.names)
    return names


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join(parts + ([node.module] if node.module else []))


def dependency_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """{module: project modules it imports}, a name resolved to its longest known prefix."""
    graph, known = {}, set(modules)
    for module, path in modules.items():
        targets = {_known_prefix(name, modules) for name in imported_names(module, path, known)}
        graph[module] = {t for t in targets if t and t != module
                         and not t.startswith(module + ".") and not module.startswith(t + ".")}
    return graph


def _known_prefix(name: str, modules: dict[str, Path]) -> str:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    cycles.extend(_pop_component(node, stack, on_stack))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return cycles


def _pop_component(node: str, stack: list[str], on_stack: set[str]) -> list[list[str]]:
    component = []
    while True:
        member = stack.pop()
        on_stack.discard(member)
        component.append(member)
        if member == node:
            break
    return [sorted(component)] if len(component) > 1 else []


def is_cli(module: str) -> bool:
    """Command-line modules: layersynth.cli and below, oclr.cli_*, any __main__."""
    parts = module.split(".")
    return any(p == "cli" or p.startswith("cli_") for p in parts[1:]) or parts[-1] == "__main__"


def problems(repo: Path) -> list[str]:
    modules = find_modules(repo)
    graph = dependency_graph(modules)
    found = [f"import cycle: {' <-> '.join(c)}" for c in import_cycles(graph)]
    for path in modules.values():
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            found.append(f"{path.relative_to(repo)}: {lines} lines (more than {MAX_LINES})")
    found += [f"library module {m} imports the command-line module {t}"
              for m in sorted(graph) if not is_cli(m) for t in sorted(graph[m]) if is_cli(t)]
    return found


def main(argv: list[str]) -> int:
    repo = Path(argv[0] if argv else Path(__file__).resolve().parents[1])
    found = problems(repo)
    for line in found:
        print(line)
    print(f"{len(find_modules(repo))} modules, {len(found)} problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
