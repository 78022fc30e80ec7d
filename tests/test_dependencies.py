"""Every import is provided by a distribution that pyproject.toml declares.

A module that is only installed on the developer's machine passes every other test and breaks on a
newcomer's first command: this reads the source instead of trusting the environment.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
#: What each tree may import: the product only its dependencies; tests, benchmarks and scripts the test extra too.
TREES = {"resummarize": ("dependencies",), "tests": ("dependencies", "test"), "bench": ("dependencies", "test"),
         "cassettes": ("dependencies", "test")}
GUARDS = {"ImportError", "ModuleNotFoundError"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(project: dict[str, object], groups: Iterable[str]) -> set[str]:
    requirements: list[str] = []
    for group in groups:
        if group == "dependencies":
            requirements += project["dependencies"]  # type: ignore[operator]
        else:
            requirements += project["optional-dependencies"][group]  # type: ignore[index]
    return {canonical(re.match(r"[A-Za-z0-9._-]+", r).group()) for r in requirements}  # type: ignore[union-attr]


def _guarded(node: ast.Try) -> bool:
    names: list[str] = []
    for handler in node.handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        names += [k.id for k in kinds if isinstance(k, ast.Name)]
    return bool(GUARDS & set(names))


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(node: ast.AST) -> Iterator[tuple[str, int]]:
    """Top-level names imported anywhere in `node` (lazy imports too: they fail at run time all the same),
    except under `if TYPE_CHECKING:` and inside a `try` that handles ImportError."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import):
            yield from ((alias.name.split(".")[0], child.lineno) for alias in child.names)
        elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
            yield child.module.split(".")[0], child.lineno
        elif isinstance(child, ast.If) and _type_checking(child):
            for orelse in child.orelse:
                yield from imported(ast.Module(body=[orelse], type_ignores=[]))
        elif isinstance(child, ast.Try) and _guarded(child):
            for part in (*child.handlers, *child.orelse, *child.finalbody):
                yield from imported(part)
        else:
            yield from imported(child)


def local_names() -> set[str]:
    """The project and the helper modules its scripts import from each other (tests/engine.py, bench/common.py)."""
    return {"resummarize"} | {p.stem for tree in TREES for p in (REPO / tree).rglob("*.py")}


@cache
def _imports(tree: str) -> tuple[tuple[Path, str, int], ...]:
    """Each file of the tree with the names it imports: read once, asked of by every test below."""
    return tuple((path, name, line) for path in sorted((REPO / tree).rglob("*.py"))
                 for name, line in imported(ast.parse(path.read_text(), str(path))))


def undeclared(tree: str, allowed: set[str]) -> list[str]:
    """`file:line: module` for every import no allowed distribution provides."""
    providers = metadata.packages_distributions()
    own = local_names()
    problems = []
    for path, name, line in _imports(tree):
        if name in sys.stdlib_module_names or name in own or name == "__future__":
            continue
        if not {canonical(d) for d in providers.get(name, [])} & allowed:
            problems.append(f"{path.relative_to(REPO)}:{line}: {name}")
    return problems


@pytest.mark.parametrize("tree", sorted(TREES))
def test_every_import_is_declared(tree: str) -> None:
    assert undeclared(tree, declared(PYPROJECT["project"], TREES[tree])) == []


@pytest.mark.parametrize("requirement", PYPROJECT["project"]["dependencies"])
def test_removing_any_dependency_is_caught(requirement: str) -> None:
    """Each runtime dependency is imported by the product, so dropping it from pyproject.toml fails above."""
    project = dict(PYPROJECT["project"])
    project["dependencies"] = [r for r in project["dependencies"] if r != requirement]
    assert undeclared("resummarize", declared(project, ["dependencies"]))


def test_guarded_imports_are_exempt_and_lazy_ones_are_not() -> None:
    source = "import json\nif TYPE_CHECKING:\n    import nothere_a\ntry:\n    import nothere_b\nexcept ImportError:\n" \
             "    pass\ndef later():\n    import nothere_c\n"
    names = [name for name, _ in imported(ast.parse(source))]
    assert names == ["json", "nothere_c"]
