"""Honest cost: known prices for the common OpenAI-compatible models (dated, overridable), the model
named in every estimate, a dry run broken down by reason and file with its entries listed, the money a
live run spent, and restored papers reported as restored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from resummarize.cli import main
from resummarize.cost import PRICES_AS_OF, price
from resummarize.testing.server import FakeProvider

BURST_DAY = "2026-05-21_AI_enhanced_Chinese.jsonl"


@pytest.mark.parametrize("model", ["deepseek-chat", "deepseek-reasoner", "qwen-plus", "gemini-2.5-flash",
                                   "gpt-5-mini", "deepseek/deepseek-chat"])
def test_common_openai_compatible_models_have_a_price(model: str) -> None:
    assert price(model) is not None


def _burst_folder(corpus_dir: Path, tmp_path: Path) -> Path:
    """Upstream's burst day: its JSONL (48 placeholders, 60 dropped papers), raw crawl and markdown."""
    folder = tmp_path / "data"
    folder.mkdir()
    for name in (BURST_DAY, "2026-05-21.jsonl", "2026-05-21.md"):
        shutil.copyfile(corpus_dir / name, folder / name)
    return folder


def test_a_deepseek_dry_run_names_the_model_and_breaks_the_cost_down_by_reason_and_file(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _burst_folder(corpus_dir, tmp_path)
    args = ["repair", str(folder), "--dry-run", "--restore-missing", "--model", "deepseek-chat",
            "--cache", str(tmp_path / "none.db")]
    main([*args, "--json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    estimate = report["estimate"]
    assert estimate["model"] == "deepseek-chat" and estimate["live_usd"] > 0
    assert estimate["rates"] == f"deepseek-chat at list prices of {PRICES_AS_OF}"
    by_reason, by_file = estimate["by_reason"], estimate["by_file"]
    assert by_reason["missing"]["entries"] == 60 and by_reason["placeholder"]["entries"] >= 48
    for shares in (by_reason, by_file):  # every request and dollar belongs to one reason and one file
        assert sum(s["requests"] for s in shares.values()) == estimate["requests"]
        assert sum(s["live_usd"] for s in shares.values()) == pytest.approx(estimate["live_usd"])
    assert set(by_file) == {str(folder / BURST_DAY), str(folder / "2026-05-21.md")}
    entries = report["entries"]  # the dry run lists what it would ask for
    assert len(entries) == report["totals"]["needs_repair"]
    assert {e["status"] for e in entries} == {"planned"}
    assert sum("missing" in e["reasons"] for e in entries) == 60
    assert all(e["reasons"] for e in entries)
    table = captured.err
    assert "unknown price" not in table and f"deepseek-chat at list prices of {PRICES_AS_OF}" in table
    assert "by reason:" in table and "missing: 60 entries, 60 requests" in table and "by file" in table

    main([*args, "--price", "1,2"])
    assert "deepseek-chat at --price" in capsys.readouterr().err


def test_a_live_run_reports_money_spent_and_restored_papers_as_restored(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    for name in (BURST_DAY, "2026-05-21.jsonl"):
        shutil.copyfile(corpus_dir / name, folder / name)
    report_file = tmp_path / "report.json"
    with FakeProvider(models=["deepseek-chat"]) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        code = main(["repair", str(folder), "--restore-missing", "--model", "deepseek-chat", "--price", "1,2",
                     "--base-url", fake.base_url, "--cache", str(tmp_path / "j.db"), "--report", str(report_file)])
        sent = fake.requests
    err = capsys.readouterr().err
    assert code == 0, err
    report = json.loads(report_file.read_text())
    totals = report["totals"]
    assert totals["prompt_tokens"] > 0 and totals["completion_tokens"] > 0
    assert totals["cost_usd"] == pytest.approx((totals["prompt_tokens"] * 1 + totals["completion_tokens"] * 2) / 1e6)
    assert totals["rates"] == "deepseek-chat at --price" and totals["requests"] == len(sent)
    statuses = {e["id"]: e["status"] for e in report["entries"]}
    restored = {e["id"] for e in report["entries"] if "missing" in e["reasons"]}
    assert len(restored) == 60 == totals["restored"]
    assert {statuses[i] for i in restored} == {"restored"}
    assert set(statuses.values()) == {"restored", "repaired"} and totals["repaired"] == 108
    assert "60 restored" in err and "(deepseek-chat at --price)" in err
    cost_row = next(line for line in err.splitlines() if line.strip().startswith("cost "))
    assert "$" in cost_row


def test_an_unknown_price_is_worded_once_wherever_it_is_shown() -> None:
    """The dry run's line, its closing table, the rates caption and the health page all name the model and
    the way to price it, in the same words; the page, shown by `scan`, names the command that takes it."""
    from resummarize.cost import estimate_cost, rates_source, unknown_price
    from resummarize.health import _cost
    from resummarize.report import RepairReport, table

    estimate = estimate_cost("local-llama", 3, 1_200)
    said = "unknown price for local-llama (set one with --price IN,OUT)"
    assert unknown_price("local-llama") == said == rates_source("local-llama") == estimate.rates
    assert estimate.describe().endswith(f": {said}")
    closing = table(RepairReport(estimate=estimate), dry_run=True)
    assert closing.count(said) == 1 and closing.count("unknown") == 3  # said in full once, below two "unknown"
    page = _cost(estimate)
    assert "unknown price for local-llama (set one with repair --dry-run --price IN,OUT)" in page
    assert page.count("unknown price") == 1
