"""The package's shape: rooms that depend one way, a thin CLI, test helpers kept out of the product."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "resummarize"
MAX_MODULE_LINES = 400
#: Modules allowed past MAX_MODULE_LINES because splitting them would split one idea, each with its own
#: ceiling so that growth is still noticed.
LARGER = {
    "resummarize.engine": 440,  # one question's lifecycle, the content check between its steps included
}
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """The resummarize modules `name` imports at run time (imports under TYPE_CHECKING do not count)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found |= {t for t in targets if t in MODULES and t != name}
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def test_no_import_cycles() -> None:
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            pytest.fail("import cycle: " + " -> ".join([*path[path.index(name):], name]))
        if name in done:
            return
        for target in sorted(GRAPH[name]):
            if target != "resummarize" and not name.startswith(target + "."):  # a package's own __init__
                visit(target, [*path, name])
        done.add(name)

    for name in MODULES:
        visit(name, [])


def test_nothing_imports_the_cli() -> None:
    users = [name for name, targets in GRAPH.items() if "resummarize.cli" in targets and name != "resummarize.__main__"]
    assert users == []


def test_the_product_does_not_import_the_test_helpers() -> None:
    product = [name for name in MODULES if not name.startswith("resummarize.testing")]
    users = [name for name in product if any(t.startswith("resummarize.testing") for t in GRAPH[name])]
    assert users == []


def test_modules_and_functions_stay_small() -> None:
    too_long = []
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > LARGER.get(name, MAX_MODULE_LINES):
            too_long.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {length} lines")
    assert too_long == []


def test_the_engine_does_not_load_what_only_some_runs_need() -> None:
    """Only `--record` / `--replay` need the cassette module (vcrpy, yaml), only Chinese numerals need
    cn2an (~160 ms): a plain repair's start does not pay for them."""
    code = ("import sys, resummarize, resummarize.engine, resummarize.worker\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'vcr', 'yaml', 'cn2an'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_product_raises_instead_of_asserting() -> None:
    """pytest rewrites `assert` in every module of a plugin's distribution (ours registers one), and a
    rewritten assert that fails builds a diff of both sides: vcrpy matchers fail by design for every
    recorded request they pass over, which made one seed replay take minutes. Raise explicitly instead."""
    asserting = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for path in MODULES.values()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Assert) and not _narrows_a_type(node)
    ]
    assert asserting == []


def _narrows_a_type(node: ast.Assert) -> bool:
    """`assert x is not None` / `assert isinstance(...)` only tell the type checker what holds."""
    test = node.test
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.IsNot):
        return isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value is None
    return isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "isinstance"
