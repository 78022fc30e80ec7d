"""`--content-check URL`: the pipeline's own check (upstream's contract) before anything is written."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from engine import run
from serving import LocalServer

from resummarize.cli import build_parser
from resummarize.config import RepairOptions, Settings
from resummarize.contentcheck import ContentCheck
from resummarize.digest import load
from resummarize.errors import UsageError
from resummarize.plan import scan_file
from resummarize.testing.server import FakeProvider

NAME = "2026-05-21_AI_enhanced_Chinese.jsonl"
BROKEN = 48

#: How the fake service answers one text: (status, body bytes, seconds to wait first).
Rule = Callable[[str], tuple[int, bytes, float]]


def verdict(sensitive: bool) -> tuple[int, bytes, float]:
    return 200, json.dumps({"sensitive": sensitive}).encode(), 0.0


class CheckService:
    """A local stand-in for the pipeline's check service, on 127.0.0.1; it keeps every text it was sent."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.sent: list[Any] = []
        self.connections: set[int] = set()  # the client ports seen: one per connection
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # a connection may carry several checks, as a real service's does

            def do_POST(self) -> None:
                service.connections.add(self.client_address[1])
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                service.sent.append(body)
                status, payload, delay = service.rule(body.get("text", ""))
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = LocalServer(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/check"

    def __enter__(self) -> CheckService:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__()


@pytest.mark.parametrize(("rule", "expected"), [
    (lambda text: verdict(False), None),
    (lambda text: verdict("bomb" in text), "the content check calls it sensitive"),
    (lambda text: (500, b"{}", 0.0), "the content check failed (HTTP 500)"),
    (lambda text: (200, b"<html>", 0.0), "the content check answered with something that is not JSON"),
    (lambda text: (200, b'{"sensitive": "no"}', 0.0), 'the content check answered without a true or false "sensitive"'),
    (lambda text: (200, b'{"sensitive": false}', 2.0), "the content check did not answer in time"),
])
async def test_the_check_follows_upstreams_contract(rule: Rule, expected: str | None) -> None:
    with CheckService(rule) as running:
        check = ContentCheck(running.url, timeout=0.5)
        assert await check.problem(["a fine text", "a bomb recipe", "  "]) == expected
        assert sorted(body["text"] for body in running.sent) == ["a bomb recipe", "a fine text"]
        assert all(set(body) == {"text"} for body in running.sent)


async def test_an_unreachable_check_blocks(tmp_path: Path) -> None:
    check = ContentCheck("http://127.0.0.1:9/check", timeout=0.5)
    assert "could not be reached" in (await check.problem(["text"]) or "")


async def test_sensitive_answers_are_not_written_then_written_from_the_journal_once_the_check_passes(
        data: Path, tmp_path: Path) -> None:
    before = data.read_bytes()
    with CheckService(lambda text: verdict(True)) as service, FakeProvider() as fake:
        report = await run([data], fake, tmp_path / "j.db", content_check=service.url)
        asked = fake.count(path="/v1/chat/completions")
    assert data.read_bytes() == before  # nothing written for any entry
    assert report.totals.blocked == BROKEN and report.totals.repaired == 0
    assert {e.status for e in report.entries} == {"blocked"}
    assert all(e.error == "the content check calls it sensitive" for e in report.entries)
    with pytest.raises(UsageError, match="--batch"):
        RepairOptions(content_check=service.url, batch=True)
    assert asked == BROKEN and len(service.sent) == 5 * BROKEN
    assert len(service.connections) < len(service.sent) / 2  # one client a run: connections carry many checks
    with CheckService(lambda text: verdict(False)) as service, FakeProvider() as fake:
        report = await run([data], fake, tmp_path / "j.db", content_check=service.url)
        assert fake.count(path="/v1/chat/completions") == 0  # paid for once: the journal answers
    assert report.totals.repaired == BROKEN and report.totals.blocked == 0
    _, scan = scan_file(data, Settings())
    assert scan.needs_repair == []
    assert len(service.sent) == 5 * BROKEN  # every field of every answer, checked before it was written


async def test_every_field_is_checked_and_one_sensitive_field_blocks_its_entry(data: Path, tmp_path: Path) -> None:
    seen: list[str] = []

    def rule(text: str) -> tuple[int, bytes, float]:
        seen.append(text)
        return verdict(len(seen) == 1)  # the very first text the check sees

    with CheckService(rule) as service, FakeProvider() as fake:
        report = await run([data], fake, tmp_path / "j.db", content_check=service.url, concurrency=1)
    blocked = [e for e in report.entries if e.status == "blocked"]
    assert len(blocked) == 1 and report.totals.repaired == BROKEN - 1
    _, scan = scan_file(data, Settings())
    assert [n.id for n in scan.needs_repair] == [blocked[0].id]  # left as it was, asked again next run


@pytest.mark.parametrize(("rule", "timeout", "reason"), [
    (lambda text: (503, b"", 0.0), 20.0, "the content check failed (HTTP 503)"),
    (lambda text: (200, b'{"sensitive": false}', 1.6), 1.0, "the content check did not answer in time"),
], ids=["failing", "slow"])
async def test_a_failing_or_slow_check_blocks_like_upstream(
        data: Path, tmp_path: Path, rule: Rule, timeout: float, reason: str) -> None:
    before = data.read_bytes()
    with CheckService(rule) as service, FakeProvider() as fake:
        report = await run([data], fake, tmp_path / "j.db", content_check=service.url, timeout=timeout,
                           concurrency=BROKEN)  # one round of waits, not six
    assert data.read_bytes() == before
    assert report.totals.blocked == BROKEN and report.totals.failed == 0
    assert {e.error for e in report.entries} == {reason}


async def test_a_restored_papers_abstract_is_checked_before_the_model_is_asked(data: Path, tmp_path: Path) -> None:
    missing = [json.loads(line) for line in (data.parent / "2026-05-21.jsonl").read_text().splitlines()]
    enhanced = {entry.id for entry in load(data).entries}
    hidden = next(paper for paper in missing if paper["id"] not in enhanced)
    with CheckService(lambda text: verdict(text == hidden["summary"])) as service, FakeProvider() as fake:
        report = await run([data], fake, tmp_path / "j.db", content_check=service.url, restore_missing=True)
        asked = {record.paper_id for record in fake.requests}
    assert hidden["id"] not in asked
    (entry,) = [e for e in report.entries if e.id == hidden["id"]]
    assert entry.status == "blocked" and entry.attempts == 0
    assert hidden["id"] not in {e.id for e in load(data).entries}
    assert {"text": hidden["summary"]} in service.sent


def test_the_url_comes_from_the_flag_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTENT_CHECK_URL", "http://127.0.0.1:1/env")
    assert build_parser().parse_args(["repair", "x.md"]).content_check == "http://127.0.0.1:1/env"
    args = build_parser().parse_args(["repair", "x.md", "--content-check", "http://127.0.0.1:1/flag"])
    assert args.content_check == "http://127.0.0.1:1/flag"
