"""The reusable GitHub Action (action.yml): what it installs and runs, the lines README tells a fork to add to
upstream's run.yml (checked by actionlint against the action's own inputs), and its repair step run for
real against the fake provider."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from test_content_check import CheckService, verdict
from test_docs_workflow import actionlint

from resummarize.config import Settings
from resummarize.digest import load
from resummarize.digest.jsonl import JsonlDigest
from resummarize.digest.render import category_order, render_markdown
from resummarize.plan import scan
from resummarize.testing.server import FakeProvider

REPO = Path(__file__).resolve().parent.parent
ACTION = REPO / "action.yml"
README = (REPO / "README.md").read_text(encoding="utf-8")
DAY = "2026-05-21"
ENHANCED = f"{DAY}_AI_enhanced_Chinese.jsonl"

#: Upstream's run.yml as a fork has it, reduced to the steps around the place the README's lines go.
UPSTREAM_RUN_YML = """\
name: arXiv-daily-ai-enhanced
on:
  schedule:
    - cron: "30 1 * * *"
  workflow_dispatch:
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
    - uses: actions/checkout@v4
    - name: Crawl arXiv papers
      id: crawl_step
      run: |
        today=$(date -u "+%Y-%m-%d")
        echo "crawl_date=$today" >> "$GITHUB_OUTPUT"
    - name: AI Enhancement Processing
      run: echo enhance
{added}
    - name: Convert to Markdown
      run: echo convert
"""


def action() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return loaded


def readme_lines() -> str:
    """The step the README tells a fork to add to run.yml."""
    section = README.split("## GitHub Action", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    return block


def test_the_action_installs_into_its_own_environment_from_its_own_checkout() -> None:
    spec = action()
    assert spec["runs"]["using"] == "composite"
    assert {"OPENAI_API_KEY", "OPENAI_BASE_URL", "MODEL_NAME", "LANGUAGE", "CATEGORIES", "CONTENT_CHECK_URL",
            "paths"} <= set(spec["inputs"])
    assert spec["inputs"]["OPENAI_API_KEY"]["required"] is True
    install, repair = spec["runs"]["steps"]
    assert "python3 -m venv" in install["run"] and 'pip install' in install["run"]
    assert '"$GITHUB_ACTION_PATH"' in install["run"]  # this checkout, not a package index
    assert "action/repair.sh" in repair["run"] and (REPO / "action" / "repair.sh").stat().st_mode & 0o111
    assert repair["env"]["OPENAI_API_KEY"] == "${{ inputs.OPENAI_API_KEY }}"  # the key reaches only this step


def _fork_workflow(tmp_path: Path, step: str) -> Path:
    """A fork's run.yml with `step` added after the enhancement, the action taken from this checkout."""
    (tmp_path / ".git").mkdir()  # the repository root, where actionlint resolves `uses: ./...`
    (tmp_path / "resummarize").mkdir()
    shutil.copyfile(ACTION, tmp_path / "resummarize" / "action.yml")
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    local = re.sub(r"uses: \S+/resummarize@\S+", "uses: ./resummarize", step)
    indented = "\n".join("    " + line if line else line for line in local.rstrip("\n").splitlines())
    target = workflows / "run.yml"
    target.write_text(UPSTREAM_RUN_YML.format(added=indented), encoding="utf-8")
    return target


def test_the_readme_lines_for_upstreams_run_yml_pass_actionlint(tmp_path: Path) -> None:
    step = readme_lines()
    assert re.search(r"uses: OWNER/resummarize@v1", step) and "secrets.OPENAI_API_KEY" in step
    done = actionlint(_fork_workflow(tmp_path, step))
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_checks_the_inputs_against_action_yml(tmp_path: Path) -> None:
    """The lint is real: an input the action does not declare is reported."""
    step = readme_lines().replace("LANGUAGE:", "LANGUAGES:")
    done = actionlint(_fork_workflow(tmp_path, step))
    assert done.returncode == 1 and "LANGUAGES" in done.stdout


def _run_repair_step(corpus_dir: Path, tmp_path: Path, fake: FakeProvider, check_url: str = "") -> tuple[
        subprocess.CompletedProcess[str], Path]:
    """action/repair.sh on a copy of the burst day, as the action runs it; the data folder."""
    data = tmp_path / "data"
    data.mkdir()
    for name in (ENHANCED, f"{DAY}.jsonl", f"{DAY}.md"):
        shutil.copyfile(corpus_dir / name, data / name)
    env = {**os.environ, "RESUMMARIZE": str(Path(sys.executable).parent / "resummarize"),
           "OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.base_url, "MODEL_NAME": "",
           "LANGUAGE": "Chinese", "CATEGORIES": "", "PATHS": "", "CONTENT_CHECK_URL": check_url,
           "CACHE": str(tmp_path / "journal.db"), "REPORT": str(tmp_path / "report.json"),
           "GITHUB_OUTPUT": str(tmp_path / "github_output")}
    done = subprocess.run(["bash", str(REPO / "action" / "repair.sh")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    return done, data


def test_the_repair_step_puts_every_answer_through_the_content_check(corpus_dir: Path, tmp_path: Path) -> None:
    """CONTENT_CHECK_URL reaches the run: a service that calls everything sensitive lets nothing be written."""
    before = (corpus_dir / ENHANCED).read_bytes()
    with FakeProvider() as fake, CheckService(lambda _text: verdict(True)) as service:
        done, data = _run_repair_step(corpus_dir, tmp_path, fake, service.url)
    assert done.returncode == 0, done.stderr  # exit 1 of the run is a warning of the step, not a failure
    assert (tmp_path / "github_output").read_text() == "code=1\n"
    assert service.sent and (data / ENHANCED).read_bytes() == before


def test_the_repair_step_repairs_the_day_renders_its_markdown_and_restores_nothing(
    corpus_dir: Path, tmp_path: Path
) -> None:
    with FakeProvider() as fake:
        done, data = _run_repair_step(corpus_dir, tmp_path, fake)
        asked = {r.paper_id for r in fake.requests if r.paper_id}
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "github_output").read_text() == "code=0\n"
    assert len(asked) == 48  # the day's placeholders; its 60 dropped papers are left dropped
    enhanced = load(data / ENHANCED)
    assert isinstance(enhanced, JsonlDigest) and len(enhanced.entries) == 231
    markdown = data / f"{DAY}.md"
    assert markdown.read_text(encoding="utf-8") == render_markdown(enhanced, category_order(None, markdown, None))
    report = scan([data], Settings())
    assert report.totals.needs_repair == 0 and report.totals.missing == 60
    assert fake.api_key not in done.stdout + done.stderr
