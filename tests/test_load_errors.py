"""`load` refuses what is not a digest with one clear InputError; folders expand to their digests."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from resummarize.digest import iter_digest_paths, load, load_digest, raw_sibling, read_raw_ids, read_raw_objects
from resummarize.digest.jsonl import JsonlDigest, entry_from
from resummarize.digest.markdown import MarkdownDigest
from resummarize.errors import InputError

ENHANCED = "2026-05-21_AI_enhanced_Chinese.jsonl"
RAW = "2026-05-21.jsonl"


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.md", b"", "empty file"),
        ("blank.jsonl", b"\xef\xbb\xbf \n\r\n", "empty file"),
        ("image.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("latin1.md", "### [1] [Caf\xe9](https://arxiv.org/abs/1)\n".encode("latin-1"), "not UTF-8"),
        (
            "notes.txt",
            b"Some prose about papers.\nNothing else here.\n",
            "not a digest: no '### [n] [title](url)'",
        ),
        ("table.csv", b"id,title\n2601.1,A paper\n", "and not JSON lines"),
        ("README.md", b"# Digest tools\n\nSee ### [1] in the docs.\n", "not a digest"),
        ("pretty.json", b'{\n  "id": "1"\n}\n', "no line is a paper object"),
    ],
)
def test_unusable_files_are_input_errors(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    path = write(tmp_path / name, data)
    with pytest.raises(InputError, match=re.escape(message)) as info:
        load(path)
    assert info.value.path == str(path)
    assert str(info.value).startswith(str(path))


def test_missing_path_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load(tmp_path / "absent.md")
    with pytest.raises(InputError, match="is a directory"):
        load(tmp_path)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "locked.md", b"x")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(InputError, match="permission denied") as info:
        load(path)
    assert isinstance(info.value.__cause__, PermissionError)


def test_truncated_markdown_names_file_and_line(seed_path: Path, tmp_path: Path) -> None:
    data = seed_path.read_bytes()
    path = write(tmp_path / "cut.md", data[: data.index(b"### [3]") + 300])
    with pytest.raises(InputError, match="truncated") as info:
        load(path)
    assert info.value.line == data[: data.index(b"### [3]")].count(b"\n") + 1
    assert f"{path}:{info.value.line}:" in str(info.value)


def test_raw_crawl_file_round_trips_but_is_not_a_digest(corpus_dir: Path) -> None:
    assert load(corpus_dir / RAW).to_bytes() == (corpus_dir / RAW).read_bytes()
    with pytest.raises(InputError, match="raw crawl file"):
        load_digest(corpus_dir / RAW)


def test_every_corpus_file_round_trips(corpus_dir: Path) -> None:
    files = sorted(corpus_dir.glob("*.jsonl"))
    assert len(files) == 10
    for path in files:
        assert load(path).to_bytes() == path.read_bytes(), path.name


def test_format_is_sniffed_by_content_without_a_known_suffix(
    seed_path: Path, corpus_dir: Path, tmp_path: Path
) -> None:
    markdown = write(tmp_path / "digest.txt", seed_path.read_bytes())
    lines = write(tmp_path / "digest.data", (corpus_dir / ENHANCED).read_bytes())
    assert isinstance(load(markdown), MarkdownDigest)
    assert isinstance(load(str(lines)), JsonlDigest)
    assert load(lines).to_bytes() == lines.read_bytes()


def test_iter_digest_paths_finds_digests_and_skips_raw_files(
    seed_path: Path, corpus_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copy(corpus_dir / ENHANCED, write(data / ENHANCED, b""))
    shutil.copy(corpus_dir / RAW, write(data / RAW, b""))
    shutil.copy(seed_path, write(data / "2026" / "2026-01-28.md", b""))
    write(data / "fork.jsonl", (corpus_dir / ENHANCED).read_bytes()[:5000].rsplit(b"\n", 1)[0])
    write(data / "README.md", b"# About this data\n")
    write(data / ".git" / "x_AI_enhanced_English.jsonl", b"{}")
    explicit = write(tmp_path / "other.md", b"not yet checked")
    found = list(iter_digest_paths([data, explicit, data / ENHANCED]))
    assert found == [data / "2026" / "2026-01-28.md", data / ENHANCED, data / "fork.jsonl", explicit]


def test_raw_sibling_and_raw_papers(corpus_dir: Path, tmp_path: Path) -> None:
    assert raw_sibling(corpus_dir / ENHANCED) == corpus_dir / RAW
    assert raw_sibling(corpus_dir / "2026-06-02_AI_enhanced_Chinese.jsonl") is None
    assert raw_sibling(corpus_dir / RAW) is None
    markdown = write(tmp_path / "2026-05-21.md", b"")
    shutil.copy(corpus_dir / RAW, tmp_path / RAW)
    assert raw_sibling(markdown) == tmp_path / RAW
    papers = [entry_from(obj, 0, enhanced=False)[0] for obj in read_raw_objects(corpus_dir / RAW)]
    assert len(papers) == 291
    assert len({p.id for p in papers}) == 291
    assert papers[0].id == "2605.20209"
    assert papers[0].fields == {}
    assert papers[0].abstract.startswith("Achieving precise, versatile whole-body character control")
    objects = read_raw_objects(corpus_dir / RAW)
    assert [o["id"] for o in objects] == [p.id for p in papers]
    assert list(objects[0]) == ["id", "categories", "pdf", "abs", "authors", "title", "comment", "summary"]
    enhanced_ids = {e.id for e in load(corpus_dir / ENHANCED).entries}
    assert len({p.id for p in papers} - enhanced_ids) == 60


def test_read_raw_objects_refuses_a_file_without_papers(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a raw crawl file"):
        read_raw_objects(write(tmp_path / "x.jsonl", b"[1]\n"))


def test_raw_ids_read_without_the_parser_equal_the_parsed_ones(corpus_dir: Path, tmp_path: Path) -> None:
    """Upstream's lines are read by a regex over the whole file; any other line makes every line be read
    one by one. Both give the first occurrence of each id, in file order."""
    raw = (corpus_dir / "2026-05-21.jsonl").read_bytes()
    parsed = list(dict.fromkeys(str(obj["id"]) for obj in read_raw_objects(corpus_dir / "2026-05-21.jsonl")))
    lines = raw.rstrip(b"\n").split(b"\n")
    variants = {
        "as is": raw,
        "no final newline": raw.rstrip(b"\n"),
        "a repeated line": b"\n".join([*lines, lines[0]]) + b"\n",
        "a blank line and another style":
            b"\n".join([lines[0], b"", b'{"title": "t", "id": "9901.00001"}', *lines[1:]]),
    }
    for name, data in variants.items():
        path = tmp_path / f"{len(data)}.jsonl"
        path.write_bytes(data)
        expected = [parsed[0], "9901.00001", *parsed[1:]] if "another" in name else parsed
        assert read_raw_ids(path) == expected, name
