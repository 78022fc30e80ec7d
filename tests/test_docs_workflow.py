"""The GitHub Actions recipe in docs/github-actions.md: valid YAML that repairs the branch upstream writes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

DOC = Path(__file__).resolve().parent.parent / "docs" / "github-actions.md"


def workflow() -> dict[str, Any]:
    (block,) = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    loaded: dict[str, Any] = yaml.safe_load(block)
    return loaded


def test_the_recipe_checks_out_and_pushes_the_data_branch() -> None:
    (job,) = workflow()["jobs"].values()
    checkout = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["ref"] == "data"
    push = next(step for step in job["steps"] if step.get("name") == "Commit and push")["run"]
    assert "git push origin data" in push and "main" not in push


def test_the_recipe_keeps_the_file_list_consistent() -> None:
    (job,) = workflow()["jobs"].values()
    names = [step.get("name") for step in job["steps"]]
    assert names.index("Keep assets/file-list.txt consistent") < names.index("Commit and push")
    push = job["steps"][names.index("Commit and push")]["run"]
    assert "assets/file-list.txt" in push


def test_actionlint_finds_nothing_in_the_recipe(tmp_path: Path) -> None:
    """actionlint checks expressions, shell scripts of `run:` steps (with shellcheck when present) and
    action inputs: what YAML parsing alone lets rot."""
    (block,) = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "repair.yml").write_text(block, encoding="utf-8")
    done = actionlint(workflows / "repair.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_would_catch_a_broken_recipe(tmp_path: Path) -> None:
    """The linter really runs: a typo in an expression is reported."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.refx }}\n", encoding="utf-8")
    done = actionlint(broken)
    assert done.returncode == 1 and "refx" in done.stdout


def actionlint(workflow: Path) -> subprocess.CompletedProcess[str]:
    """The actionlint binary the test extra installs beside this Python (or on PATH)."""
    binary = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    assert binary is not None, "actionlint is not installed: pip install -e '.[test]'"
    return subprocess.run([binary, "-no-color", "-oneline", str(workflow)], cwd=workflow.parent,
                          capture_output=True, text=True, timeout=60)


def test_the_recipe_never_restores_dropped_papers_by_default() -> None:
    """A dropped paper is usually the pipeline's decision: the recipe must not undo its filter."""
    (job,) = workflow()["jobs"].values()
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert "resummarize repair" in runs
    assert "--restore-missing" not in runs
    text = DOC.read_text(encoding="utf-8")
    assert "worker data --once --restore-missing" not in text
