"""Recorded responses end to end: the seed cassette, replay without network, recording without secrets."""

from __future__ import annotations

import re
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from resummarize import load
from resummarize.cli import main
from resummarize.config import Settings
from resummarize.plan import scan_file
from resummarize.testing.server import FakeProvider, Fault, FaultPlan

REPO = Path(__file__).resolve().parent.parent
SEED_CASSETTE = REPO / "cassettes" / "seed"
GOOD = ("2601.18800", "2601.19085", "2601.19179")


def _refuse_connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Any attempt to open a connection fails loudly and is recorded."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise AssertionError(f"network call to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    return _refuse_connections(monkeypatch)


@dataclass(frozen=True)
class SeedRun:
    code: int
    out: Path
    attempts: list[Any]


@pytest.fixture(scope="module")
def seed_replayed(seed_path: Path, tmp_path_factory: pytest.TempPathFactory) -> SeedRun:
    """README's first command, replayed once for every test that reads its result: no key, no network."""
    folder = tmp_path_factory.mktemp("readme")
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MODEL_NAME", "LANGUAGE"):
            monkeypatch.delenv(name, raising=False)
        attempts = _refuse_connections(monkeypatch)
        out = folder / "out" / "seed.md"
        code = main(["repair", str(seed_path), "--language", "English", "--replay", str(SEED_CASSETTE),
                     "--out", str(out), "--cache", str(folder / "j.db")])
    return SeedRun(code, out, attempts)


@pytest.fixture
def offline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MODEL_NAME", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)


def _blocks(text: str) -> dict[str, str]:
    """Each entry's markdown block, by arXiv id."""
    parts = re.split(r"(?m)^(?=### \[)", text)
    return {re.search(r"arxiv\.org/abs/([^)\s]+)", p).group(1): p for p in parts[1:]}  # type: ignore[union-attr]


def test_readme_command_repairs_the_seed_offline(seed_replayed: SeedRun, seed_path: Path) -> None:
    assert seed_replayed.code == 0 and seed_replayed.attempts == []
    _, scan = scan_file(seed_replayed.out, Settings(language="English"))
    assert scan.needs_repair == [] and scan.entries == 99


def test_readme_command_changes_only_the_broken_entries(seed_replayed: SeedRun, seed_path: Path) -> None:
    before, after = _blocks(seed_path.read_text()), _blocks(seed_replayed.out.read_text())
    assert all(before[i] == after[i] for i in GOOD)  # the good entries, byte for byte
    assert sum(before[i] != after[i] for i in before) == 96


def test_replay_with_a_changed_prompt_fails_clearly(
    tmp_path: Path, seed_path: Path, no_network: list[Any], offline_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "prompts"
    shutil.copytree(REPO / "prompts", prompts)
    system = prompts / "system.j2"
    system.write_text(system.read_text().replace("faithful", "very faithful", 1))
    digest = tmp_path / "seed.md"
    shutil.copyfile(seed_path, digest)
    code = main(["repair", str(digest), "--language", "English", "--replay", str(SEED_CASSETTE),
                 "--cache", str(tmp_path / "j.db"), "--prompts", str(prompts)])
    err = capsys.readouterr().err
    assert code == 4 and no_network == []
    first = load(seed_path).entries[1].id
    assert f"no recorded response for paper {first}" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert digest.read_bytes() == seed_path.read_bytes()


def test_seed_cassette_holds_no_secret() -> None:
    text = (SEED_CASSETTE / "cassette.yaml").read_text()
    assert not re.search(r"authorization|set-cookie|api-key|openai-organization|openai-project", text, re.I)
    assert not re.search(r"\bsk-[A-Za-z0-9]", text)


def test_recording_scrubs_secrets_and_replays_in_any_order(
    tmp_path: Path, seed_subset: Callable[[int], Path], monkeypatch: pytest.MonkeyPatch, offline_env: None
) -> None:
    key = "sk-proj-REALLOOKINGKEY0123456789"
    subset = seed_subset(12)
    entries = load(subset).entries
    plan = FaultPlan.per_paper({entries[4].id: [Fault.HTTP_500], entries[5].id: [Fault.HTTP_429]})
    digest = tmp_path / "seed.md"
    shutil.copyfile(subset, digest)
    with FakeProvider(api_key=key, faults=plan) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", key)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        code = main(["repair", str(digest), "--language", "English", "--record", str(tmp_path / "tape"),
                     "--cache", str(tmp_path / "j1.db"), "--concurrency", "8"])
        assert code == 0 and fake.count(status=500) == 1
    recorded = (tmp_path / "tape" / "cassette.yaml").read_text()
    assert key not in recorded and "REALLOOKINGKEY" not in recorded
    assert not re.search(r"authorization|set-cookie", recorded, re.I)
    _, scan = scan_file(subset, Settings(language="English"))
    assert recorded.count("status:\n      code: 200") == len(scan.needs_repair) == 11  # failed attempts are not kept

    # Replay with one worker (a different order from the recording), no key, no network.
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9")
    again = tmp_path / "again.md"
    shutil.copyfile(subset, again)
    code = main(["repair", str(again), "--language", "English", "--replay", str(tmp_path / "tape"),
                 "--cache", str(tmp_path / "j2.db"), "--concurrency", "1"])
    assert code == 0 and again.read_bytes() == digest.read_bytes()


async def test_replay_helper_serves_library_calls(
    tmp_path: Path, seed_subset: Callable[[int], Path], no_network: list[Any]
) -> None:
    import openai

    from resummarize.config import RepairOptions
    from resummarize.engine import repair
    from resummarize.journal import Journal
    from resummarize.provider.prompts import load_prompts
    from resummarize.testing import replay

    digest = tmp_path / "seed.md"
    shutil.copyfile(seed_subset(20), digest)
    client = openai.AsyncOpenAI(api_key="not-needed-for-replay", max_retries=0)
    with replay(SEED_CASSETTE), Journal(tmp_path / "j.db") as journal:
        options = RepairOptions(settings=Settings(language="English"))
        report = await repair([digest], options, client=client, journal=journal, prompts=load_prompts())
    await client.close()
    _, scan = scan_file(digest, Settings(language="English"))
    assert report.totals.repaired == 19 and no_network == [] and scan.needs_repair == []
