"""No import cycles inside the package: module-level and function-level imports, relative and absolute."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pcapdiag"


def modules(package: Path) -> dict:
    """Dotted module name -> file, for every module of the package."""
    found = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imported(name: str, path: Path, node, known: dict):
    """The package's modules an import statement of module `name` (file `path`) names."""
    if isinstance(node, ast.ImportFrom):
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        if node.level:
            base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
    else:
        candidates = [alias.name for alias in node.names]
    for candidate in candidates:
        while candidate and candidate not in known:      # `from .x import a_function`: the module x
            candidate = candidate.rpartition(".")[0]
        # a package importing its own submodules runs after its own body: no cycle through it
        if candidate and candidate != name and not (path.name == "__init__.py" and candidate.startswith(name + ".")):
            yield candidate


def import_graph(package: Path) -> dict:
    known = modules(package)
    return {name: {target for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, (ast.Import, ast.ImportFrom)) for target in _imported(name, path, node, known)}
            for name, path in known.items()}


def cycles(graph: dict) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles():
    found = cycles(import_graph(PACKAGE))
    assert not found, "import cycles: " + "; ".join(" <-> ".join(cycle) for cycle in found)


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .a import run\n")
    (package / "a.py").write_text("from .sub.b import helper\n\ndef run():\n    pass\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("def helper():\n    from .. import a\n")
    (package / "c.py").write_text("import pkg.a\n")
    assert cycles(import_graph(package)) == [["pkg.a", "pkg.sub.b"]]
