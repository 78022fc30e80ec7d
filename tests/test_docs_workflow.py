"""The GitHub Actions recipe in docs/github-actions.md: valid YAML that repairs the branch upstream writes."""

from __future__ import annotations

import re
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
