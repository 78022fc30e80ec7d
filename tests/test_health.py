"""The health page (`scan DIR --html FILE`): one self-contained page, checked as a real browser renders it
(headless Chromium: the DOM after rendering, and a screenshot read back pixel by pixel)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from PIL import Image

from resummarize.cli import main
from resummarize.config import Settings
from resummarize.health import CHART_HEIGHT, SERIES, days_of, page
from resummarize.plan import scan

BURST = "2026-05-21"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def chromium() -> str:
    """The browser; .ci/run installs Debian's `chromium` when it is missing, so in CI its absence fails."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def browse(page_file: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page_file.as_uri()],
                          capture_output=True, text=True, timeout=120, check=True)


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_days_count_papers_once_and_the_worst_day_leads(corpus_dir: Path) -> None:
    files = scan([corpus_dir], Settings()).files
    days = {day.name: day for day in days_of(files)}
    burst = days[BURST]  # its JSONL and its markdown: 48 placeholders in both, 60 papers dropped
    assert len(burst.files) == 2 and burst.count("placeholder") == 48 and burst.count("missing") == 60
    assert burst.broken == 48
    soup = BeautifulSoup(page("data", files, None), "html.parser")
    first_row = soup.select("table#worst tbody tr")[0]
    assert first_row.find("td").get_text() == BURST


def test_the_page_renders_in_a_real_browser_with_nothing_fetched(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = Path(shutil.copytree(corpus_dir, tmp_path / "data"))
    page_file = tmp_path / "health.html"
    assert main(["scan", str(data), "--html", str(page_file)]) == 1
    capsys.readouterr()
    html = page_file.read_text(encoding="utf-8")
    source = BeautifulSoup(html, "html.parser")
    # Self-contained: no script, no stylesheet, image or font from elsewhere.
    assert not source.find_all("script") and not source.find_all("link") and "url(" not in html
    assert all(not tag.get("src") and not str(tag.get("href", "")).startswith("http") for tag in source.find_all())

    rendered = BeautifulSoup(browse(page_file, tmp_path / "profile-dom", "--dump-dom").stdout, "html.parser")
    days = days_of(scan([data], Settings()).files)
    found = {reason for day in days for reason in SERIES if day.count(reason)}
    bars = rendered.select("svg#chart rect.bar")
    assert len(bars) == sum(1 for day in days for reason in SERIES if day.count(reason))
    assert {bar["data-reason"] for bar in bars} == found and {"placeholder", "missing"} <= found
    assert rendered.select_one("table#worst tbody tr td").get_text() == BURST
    assert "requests" in rendered.select_one("#cost").get_text()

    shot = tmp_path / "health.png"
    browse(page_file, tmp_path / "profile-shot", "--window-size=1100,900", f"--screenshot={shot}")
    image = Image.open(shot).convert("RGB")
    width, height = image.size
    pixels = image.load()
    columns: dict[str, dict[int, int]] = {reason: {} for reason in SERIES}
    colours = {_rgb(colour): reason for reason, colour in SERIES.items()}
    for x in range(width):
        for y in range(height):
            reason = colours.get(pixels[x, y])
            if reason is not None:
                columns[reason][x] = columns[reason].get(x, 0) + 1
    # The burst day is drawn as the browser laid it out: 48 placeholder papers under 60 missing ones, the
    # chart scaled to its 108 findings (legend swatches are 12 px high, far shorter than these bars).
    tallest = {reason: max(by_x.values(), default=0) for reason, by_x in columns.items()}
    assert abs(tallest["placeholder"] - 48 / 108 * CHART_HEIGHT) <= 3
    assert abs(tallest["missing"] - 60 / 108 * CHART_HEIGHT) <= 3
    red_x = max(columns["placeholder"], key=lambda x: columns["placeholder"][x])
    grey_x = max(columns["missing"], key=lambda x: columns["missing"][x])
    assert abs(red_x - grey_x) <= 3  # one bar, stacked
    assert {reason for reason, tall in tallest.items() if tall >= 2} == found  # every reason drawn, no other
