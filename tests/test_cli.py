"""The command line as users and scripts meet it: exit codes, the `scan --json` contract, one clean line
per input error, and stdout that stays pure JSON. Everything runs in-process except one test of
`python -m resummarize`; nothing touches the network (the one repair that talks, talks to 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from resummarize import load
from resummarize.cli import main
from resummarize.detect import REFUSAL
from resummarize.testing.server import FakeProvider

ARXIV_ID = re.compile(r"^\d{4}\.\d{4,5}(v\d+)?$")
REASONS = {"placeholder", "empty", "wrong_language", "corrupted"}
CLEAN_DAY = "2026-05-02_AI_enhanced_Chinese.jsonl"
BURST_DAY = "2026-05-21_AI_enhanced_Chinese.jsonl"
#: file -> (entries, needing repair, missing) on the real corpus, judged as Chinese digests.
CORPUS_COUNTS = {
    "2025-03-20_AI_enhanced_Chinese.jsonl": (657, 8, 0),
    "2025-04-11_AI_enhanced_Chinese.jsonl": (163, 5, 0),
    "2025-05-19_AI_enhanced_Chinese.jsonl": (191, 3, 0),  # 2505.10836 is in Traditional Chinese
    "2025-06-23_AI_enhanced_Chinese.jsonl": (245, 3, 0),
    "2025-10-13_AI_enhanced_Chinese.jsonl": (196, 2, 0),
    "2025-10-23_AI_enhanced_Chinese.jsonl": (141, 3, 0),
    CLEAN_DAY: (200, 0, 0),
    BURST_DAY: (231, 48, 60),
    "2026-06-02_AI_enhanced_Chinese.jsonl": (532, 1, 0),
    "2026-05-21.md": (231, 48, 0),  # upstream's own markdown digests of two of the days
    "2026-06-02.md": (532, 1, 0),
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's provider settings must not leak into what these tests see."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MODEL_NAME", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network use: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return code, out, err


def scan_json(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, dict[str, Any], str]:
    code, out, err = cli(capsys, "scan", "--json", *args)
    return code, json.loads(out), err


def corpus_lines(corpus_dir: Path, name: str, count: int) -> list[dict[str, Any]]:
    with (corpus_dir / name).open(encoding="utf-8") as handle:
        return [json.loads(next(handle)) for _ in range(count)]


def write_jsonl(path: Path, objects: list[dict[str, Any]], *extra_lines: str) -> Path:
    lines = [json.dumps(obj) for obj in objects] + list(extra_lines)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def one_error_line(err: str, *names: str) -> None:
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("resummarize: error: ")
    assert "Traceback" not in err
    for name in names:
        assert name in err


@pytest.fixture
def seed_copy(tmp_path: Path, seed_path: Path) -> Path:
    return Path(shutil.copyfile(seed_path, tmp_path / "2026-01-28-cs.LG.md"))


# --- scan: the seed -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "needs", "reasons"),
    [("English", 96, "placeholder 72, wrong_language 24"), ("zh", 75, "placeholder 72, wrong_language 3")],
)
def test_scan_seed_table(
    capsys: pytest.CaptureFixture[str], seed_path: Path, language: str, needs: int, reasons: str
) -> None:
    code, out, err = cli(capsys, "scan", seed_path, "--language", language)
    assert code == 1
    assert f"total: 99 entries, {needs} need repair, 0 refused, 0 missing" in out
    assert reasons in out
    assert err == ""


def test_scan_json_follows_the_contract(capsys: pytest.CaptureFixture[str], seed_path: Path) -> None:
    code, out, err = cli(capsys, "scan", seed_path, "--language", "English", "--json")
    assert code == 1
    assert err == ""
    report = json.loads(out)  # stdout is one JSON object and nothing else
    assert set(report) == {"files", "totals"}
    assert report["totals"] == {"entries": 99, "needs_repair": 96, "refused": 0, "missing": 0, "mismatched": 0}
    (file,) = report["files"]
    assert set(file) == {"path", "format", "entries", "language", "language_source", "needs_repair", "refused",
                         "missing", "mismatched", "unrendered"}
    assert (file["path"], file["format"], file["entries"]) == (str(seed_path), "markdown", 99)
    assert (file["language"], file["language_source"]) == ("English", "flag")
    assert file["refused"] == [] and file["missing"] == []
    ids = [item["id"] for item in file["needs_repair"]]
    assert len(ids) == len(set(ids)) == 96
    assert all(ARXIV_ID.match(paper) for paper in ids)
    assert {"2601.18800", "2601.19085", "2601.19179"}.isdisjoint(ids)  # the three good entries
    reasons = Counter(frozenset(item["fields"].values()) for item in file["needs_repair"])
    assert reasons == {frozenset({"placeholder"}): 72, frozenset({"wrong_language"}): 24}
    for item in file["needs_repair"]:
        assert set(item) == {"id", "fields"}
        assert set(item["fields"]) <= {"tldr", "motivation", "method", "result", "conclusion"}
        assert set(item["fields"].values()) <= REASONS


def test_scan_language_from_the_environment(
    capsys: pytest.CaptureFixture[str], seed_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGUAGE", "zh_CN.UTF-8")
    assert scan_json(capsys, seed_path)[1]["totals"]["needs_repair"] == 75
    assert scan_json(capsys, seed_path, "--language", "English")[1]["totals"]["needs_repair"] == 96  # flag wins
    monkeypatch.delenv("LANGUAGE")
    # No flag, name, sibling or environment: the content decides. The seed's good entries are mostly
    # Chinese (24 against 3), so it is judged as Chinese.
    _, report, _ = scan_json(capsys, seed_path)
    assert report["totals"]["needs_repair"] == 75
    assert (report["files"][0]["language"], report["files"][0]["language_source"]) == ("Chinese", "content")


def test_file_name_language_wins_over_the_environment(
    capsys: pytest.CaptureFixture[str], corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGUAGE", "en_US.UTF-8")
    code, report, _ = scan_json(capsys, corpus_dir / CLEAN_DAY)
    assert code == 0
    assert report["totals"]["needs_repair"] == 0


def test_unknown_language_is_a_usage_error(capsys: pytest.CaptureFixture[str], seed_path: Path) -> None:
    code, out, err = cli(capsys, "scan", seed_path, "--language", "xx")
    assert code == 2
    assert out == ""
    one_error_line(err, "'xx'")


# --- scan: the real corpus ------------------------------------------------------------------------


def test_scan_corpus_folder(capsys: pytest.CaptureFixture[str], corpus_dir: Path, tmp_path: Path) -> None:
    data = Path(shutil.copytree(corpus_dir, tmp_path / "data"))
    before = {path.name: path.read_bytes() for path in data.iterdir()}
    code, report, err = scan_json(capsys, data)
    assert code == 1
    assert err == ""
    counts = {
        Path(f["path"]).name: (f["entries"], len(f["needs_repair"]), len(f["missing"])) for f in report["files"]
    }
    assert counts == CORPUS_COUNTS  # the raw crawl and the README are not digests
    assert all(f["format"] == ("markdown" if f["path"].endswith(".md") else "jsonl") for f in report["files"])
    assert all(f["refused"] == [] for f in report["files"])
    # Papers, not entries (122): the burst day's 48 are broken in its JSONL and in its markdown, the other
    # day with a markdown digest has 1 such paper, 2025-03-20 lists 4 broken papers twice, and 2025-05-19
    # holds one in Traditional Chinese.
    assert report["totals"] == {"entries": 3319, "needs_repair": 69, "refused": 0, "missing": 60,
                                "mismatched": 0}
    burst = next(f for f in report["files"] if f["path"].endswith(BURST_DAY))
    assert {r for item in burst["needs_repair"] for r in item["fields"].values()} == {"placeholder"}
    raw_ids = {json.loads(line)["id"] for line in (data / "2026-05-21.jsonl").read_text("utf-8").splitlines()}
    enhanced_ids = {entry.id for entry in load(data / BURST_DAY).entries}
    assert set(burst["missing"]) <= raw_ids - enhanced_ids
    assert len(set(burst["missing"])) == 60
    assert {path.name: path.read_bytes() for path in data.iterdir()} == before  # scan is read-only


def test_scan_clean_day_exits_0(capsys: pytest.CaptureFixture[str], corpus_dir: Path) -> None:
    code, out, err = cli(capsys, "scan", corpus_dir / CLEAN_DAY)
    assert code == 0
    assert "total: 200 entries, 0 need repair, 0 refused, 0 missing" in out
    assert err == ""


def test_missing_papers_alone_are_listed_but_scan_exits_0(
    capsys: pytest.CaptureFixture[str], corpus_dir: Path, tmp_path: Path
) -> None:
    """A day whose enhanced file is clean but dropped papers of its raw crawl: listed, not a failure."""
    papers = corpus_lines(corpus_dir, CLEAN_DAY, 3)
    write_jsonl(tmp_path / "2026-05-02_AI_enhanced_Chinese.jsonl", papers[:2])
    raw = [{key: value for key, value in paper.items() if key != "AI"} for paper in papers]
    write_jsonl(tmp_path / "2026-05-02.jsonl", raw)
    code, report, _ = scan_json(capsys, tmp_path)
    assert code == 0
    (file,) = report["files"]
    assert (file["needs_repair"], file["missing"]) == ([], [papers[2]["id"]])


# --- scan: options --------------------------------------------------------------------------------


def refusal_day(corpus_dir: Path, tmp_path: Path) -> tuple[Path, str]:
    papers = corpus_lines(corpus_dir, CLEAN_DAY, 3)
    papers[1]["AI"] = dict.fromkeys(papers[1]["AI"], REFUSAL)
    return write_jsonl(tmp_path / CLEAN_DAY, papers), papers[1]["id"]


def test_refusals_are_listed_apart(capsys: pytest.CaptureFixture[str], corpus_dir: Path, tmp_path: Path) -> None:
    path, refused = refusal_day(corpus_dir, tmp_path)
    code, report, _ = scan_json(capsys, path)
    (file,) = report["files"]
    assert file["refused"] == [refused]
    assert file["needs_repair"] == []
    assert report["totals"]["refused"] == 1
    assert code == 0  # reported, not repaired unless asked


def test_include_refused_puts_them_in_needs_repair(
    capsys: pytest.CaptureFixture[str], corpus_dir: Path, tmp_path: Path
) -> None:
    path, refused = refusal_day(corpus_dir, tmp_path)
    code, report, _ = scan_json(capsys, path, "--include", "refused")
    (file,) = report["files"]
    assert file["refused"] == [refused]
    assert [item["id"] for item in file["needs_repair"]] == [refused]
    assert set(file["needs_repair"][0]["fields"]) == {"tldr", "motivation", "method", "result", "conclusion"}
    assert code == 1


def test_placeholder_option_adds_a_placeholder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    paper = {
        "id": "2601.00001", "title": "A paper", "summary": "An abstract.", "authors": ["A. Author"],
        "categories": ["cs.LG"],
        "AI": {"tldr": "Budget exhausted, see log", "motivation": "Motivation.", "method": "A method.",
               "result": "A result.", "conclusion": "A conclusion."},
    }
    path = write_jsonl(tmp_path / "2026-01-01_AI_enhanced_English.jsonl", [paper])
    assert scan_json(capsys, path)[0] == 0
    code, report, _ = scan_json(capsys, path, "--placeholder", "Budget exhausted, see log", "--placeholder", "Other")
    assert code == 1
    assert report["files"][0]["needs_repair"] == [{"id": "2601.00001", "fields": {"tldr": "placeholder"}}]


# --- bad input ------------------------------------------------------------------------------------


def _truncated(seed: Path) -> bytes:
    data = seed.read_bytes()
    return data[: data.index(b"</details>", len(data) // 2)]


@pytest.mark.parametrize(
    ("name", "make", "words"),
    [
        ("empty.md", lambda seed: b"", "empty file"),
        ("image.jsonl", lambda seed: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("truncated.md", _truncated, "truncated"),
        ("notes.txt", lambda seed: b"Some prose about papers.\nNothing else.\n", "not a digest"),
    ],
)
def test_bad_files_are_one_line_exit_2_and_untouched(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seed_path: Path, name: str, make: Any, words: str
) -> None:
    path = tmp_path / name
    data = make(seed_path)
    path.write_bytes(data)
    for extra in ((), ("--json",)):
        code, out, err = cli(capsys, "scan", path, *extra)
        assert code == 2
        assert out == ""
        one_error_line(err, str(path), words)
    assert path.read_bytes() == data
    assert list(tmp_path.iterdir()) == [path]


def test_a_bad_file_among_good_ones_stops_the_scan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, corpus_dir: Path
) -> None:
    bad = tmp_path / "bad.md"
    bad.write_bytes(b"")
    code, out, err = cli(capsys, "scan", "--json", corpus_dir / CLEAN_DAY, bad)
    assert code == 2
    assert out == ""  # no half report
    one_error_line(err, str(bad))


@pytest.mark.parametrize(
    ("where", "words"),
    [
        ("nope.md", "no such file"),
        ("file.md/inside.md", "cannot read"),
    ],
)
def test_unreadable_paths(capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str, words: str) -> None:
    (tmp_path / "file.md").write_bytes(b"x")
    code, out, err = cli(capsys, "scan", tmp_path / where)
    assert code == 2
    assert out == ""
    one_error_line(err, str(tmp_path / where), words)


def test_permission_denied(
    capsys: pytest.CaptureFixture[str], seed_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests may run as root, where chmod 000 does not stop a read: make the read itself fail."""
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == seed_copy:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    code, out, err = cli(capsys, "scan", seed_copy)
    assert code == 2 and out == ""
    one_error_line(err, str(seed_copy), "permission denied")


def test_folder_without_digests_is_an_input_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, corpus_dir: Path
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    code, out, err = cli(capsys, "scan", folder)
    assert (code, out) == (2, "")
    one_error_line(err, str(folder), "no digests found")
    # a raw crawl and a README are no digests either
    shutil.copyfile(corpus_dir / "2026-05-21.jsonl", folder / "2026-05-21.jsonl")
    (folder / "README.md").write_text("# Data\n\nDaily files.\n", encoding="utf-8")
    code, out, err = cli(capsys, "scan", "--json", folder)
    assert (code, out) == (2, "")
    one_error_line(err, "no digests found")
    code, _, err = cli(capsys, "repair", folder, "--dry-run", "--cache", tmp_path / "j.sqlite3")
    assert code == 2
    one_error_line(err, "no digests found")
    assert not (tmp_path / "j.sqlite3").exists()


@pytest.mark.parametrize(("rest", "exit_code"), [(CLEAN_DAY, 0), (BURST_DAY, 1)])
def test_a_line_that_is_not_json_is_a_diagnostic(
    capsys: pytest.CaptureFixture[str], corpus_dir: Path, tmp_path: Path, rest: str, exit_code: int
) -> None:
    path = write_jsonl(tmp_path / rest, corpus_lines(corpus_dir, rest, 3), '{"id": "2605.99999", "AI": {')
    code, out, err = cli(capsys, "scan", "--json", path)
    assert code == exit_code
    report = json.loads(out)
    assert report["files"][0]["entries"] == 3
    assert err.count("\n") == 1
    assert err.startswith(f"{path}:4: not JSON")
    assert "Traceback" not in err


# --- repair ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_network")
def test_repair_dry_run_needs_no_key_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], seed_copy: Path, tmp_path: Path
) -> None:
    before = seed_copy.read_bytes()
    code, out, err = cli(capsys, "repair", seed_copy, "--language", "English", "--dry-run",
                         "--cache", tmp_path / "j.sqlite3")
    assert code == 1
    assert out == ""
    assert re.search(r"needs repair\s+96\n", err)
    tokens = re.search(r"estimated prompt tokens\s+([\d,]+)", err)
    assert tokens is not None and int(tokens.group(1).replace(",", "")) > 96 * 100
    assert seed_copy.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [seed_copy.name]  # not even a journal


@pytest.mark.usefixtures("no_network")
def test_repair_dry_run_json_is_pure_json(
    capsys: pytest.CaptureFixture[str], seed_copy: Path, tmp_path: Path
) -> None:
    code, out, err = cli(capsys, "repair", seed_copy, "--language", "English", "--dry-run", "--json",
                         "--cache", tmp_path / "j.sqlite3")
    assert code == 1
    report = json.loads(out)
    assert report["totals"]["needs_repair"] == 96
    assert report["totals"]["requests"] == 0
    assert "needs repair" in err and "\r" not in err  # the table, and no progress bar


def test_repair_without_a_key_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], seed_copy: Path, tmp_path: Path
) -> None:
    before = seed_copy.read_bytes()
    code, out, err = cli(capsys, "repair", seed_copy, "--cache", tmp_path / "j.sqlite3")
    assert (code, out) == (2, "")
    one_error_line(err, "OPENAI_API_KEY")
    assert seed_copy.read_bytes() == before
    assert not (tmp_path / "j.sqlite3").exists()


def test_repair_json_against_a_local_provider(
    capsys: pytest.CaptureFixture[str], corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_jsonl(tmp_path / BURST_DAY, corpus_lines(corpus_dir, BURST_DAY, 4))
    before = source.read_bytes()
    out_file, report_file = tmp_path / "repaired.jsonl", tmp_path / "report.json"
    with FakeProvider() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        code, out, err = cli(capsys, "repair", source, "--json", "--out", out_file, "--report", report_file,
                             "--cache", tmp_path / "j.sqlite3")
        sent = len(fake.requests)
    assert code == 0, err
    report = json.loads(out)
    assert report == json.loads(report_file.read_text("utf-8"))
    assert (report["totals"]["needs_repair"], report["totals"]["repaired"], report["totals"]["failed"]) == (2, 2, 0)
    assert report["totals"]["requests"] == sent == 2
    assert "repaired" in err and "\r" not in err
    assert source.read_bytes() == before  # --out leaves the input alone
    assert cli(capsys, "scan", out_file, "--language", "Chinese")[0] == 0


# --- render ---------------------------------------------------------------------------------------


def test_render_round_trips_through_load(capsys: pytest.CaptureFixture[str], corpus_dir: Path, tmp_path: Path) -> None:
    source = corpus_dir / "2025-03-20_AI_enhanced_Chinese.jsonl"  # old schema: `task` for `tldr`
    target = tmp_path / "2025-03-20.md"
    code, out, err = cli(capsys, "render", source, "-o", target)
    assert (code, out, err) == (0, "", "")
    rendered = load(target)
    assert rendered.format == "markdown" and rendered.diagnostics == []

    def view(digest: Any) -> list[tuple[Any, ...]]:
        return sorted(
            (e.id, e.title, e.abstract, tuple(e.authors), tuple(e.fields.values())) for e in digest.entries
        )

    assert view(rendered) == view(load(source))
    assert len(rendered.entries) == 657
    code, out, _ = cli(capsys, "render", source)
    assert code == 0
    assert out.encode("utf-8") == target.read_bytes()


def test_render_refuses_a_markdown_digest(capsys: pytest.CaptureFixture[str], seed_path: Path, tmp_path: Path) -> None:
    code, out, err = cli(capsys, "render", seed_path, "-o", tmp_path / "out.md")
    assert (code, out) == (2, "")
    one_error_line(err, str(seed_path), "JSONL")
    assert list(tmp_path.iterdir()) == []


def test_render_to_a_missing_folder_is_an_input_error(
    capsys: pytest.CaptureFixture[str], corpus_dir: Path, tmp_path: Path
) -> None:
    target = tmp_path / "no" / "out.md"
    code, out, err = cli(capsys, "render", corpus_dir / CLEAN_DAY, "-o", target)
    assert (code, out) == (2, "")
    one_error_line(err, str(target), "cannot write")


# --- help and usage -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ([], ["scan", "repair", "worker", "render", "--version"]),
        (["scan"], ["--language", "--json", "--include", "--placeholder", "PATH"]),
        (["repair"], ["--language", "--model", "--base-url", "--concurrency", "--rpm", "--timeout", "--out",
                      "--dry-run", "--report", "--cache", "--record", "--replay", "--strategy", "--include",
                      "--restore-missing", "--json"]),
        (["worker"], ["DIR", "--interval", "--once", "--model", "--cache", "--replay"]),
        (["render"], ["FILE.jsonl", "--output"]),
    ],
)
def test_help(capsys: pytest.CaptureFixture[str], command: list[str], options: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in options:
        assert option in out


@pytest.mark.parametrize(
    "args",
    [["scan"], ["frobnicate", "x"], ["repair", "x.md", "--concurrency", "0"], ["scan", "x.md", "--include", "all"],
     ["worker", "d", "--out", "x.md"]],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "usage:" in err


# --- the console entry ----------------------------------------------------------------------------


@pytest.mark.slow
def test_python_m_resummarize(seed_path: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "LANGUAGE", "OPENAI_BASE_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "resummarize", "scan", str(seed_path), "--language", "English", "--json"],
        capture_output=True, cwd=tmp_path, env=env, timeout=60, check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr == b""
    assert json.loads(done.stdout)["totals"] == {"entries": 99, "needs_repair": 96, "refused": 0, "missing": 0,
                                                         "mismatched": 0}


def test_record_and_replay_together_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], seed_path: Path, tmp_path: Path
) -> None:
    code = main(["repair", str(seed_path), "--record", str(tmp_path / "a"), "--replay", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == "resummarize: error: --record and --replay cannot be used together"
    assert not (tmp_path / "a").exists()


def test_markdown_beside_an_enhanced_file_takes_its_language(
    capsys: pytest.CaptureFixture[str],
    seed_path: Path,
    corpus_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LANGUAGE", raising=False)
    shutil.copyfile(seed_path, tmp_path / "2026-01-28.md")
    sibling = tmp_path / "2026-01-28_AI_enhanced_Chinese.jsonl"
    shutil.copyfile(corpus_dir / "2026-05-02_AI_enhanced_Chinese.jsonl", sibling)
    assert main(["scan", str(tmp_path / "2026-01-28.md"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["needs_repair"] == 75  # judged as a Chinese digest, like its sibling
