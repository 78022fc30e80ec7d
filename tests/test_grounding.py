"""Grounding on real text: corpus summaries swapped between papers and rotated within a digest."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from resummarize import evidence, grounding
from resummarize.cli import main
from resummarize.config import Settings
from resummarize.digest import load
from resummarize.plan import plan_digest, scan_file

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(CORPUS.glob("*_AI_enhanced_*.jsonl"))
DAY = CORPUS / "2026-05-02_AI_enhanced_Chinese.jsonl"
UNSEEN = Path(__file__).parent / "data"


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _summary(obj: dict[str, object]) -> str:
    ai = obj["AI"]
    assert isinstance(ai, dict)
    return " ".join(str(v) for v in ai.values())


def _source(obj: dict[str, object]) -> str:
    return f"{obj['title']} {obj['summary']}"


def test_terms_keep_names_acronyms_and_figures_not_function_words() -> None:
    found = grounding.terms("提出 HaKAN：基于 Hahn-KAN 的模型，在 RL 任务上提升 12.5%，the method of 2024")
    assert {"hakan", "hahn", "kan", "rl", "12.5", "2024"} <= found
    assert not {"the", "of", "method"} & found


def test_figures_and_acronyms_match_whole_not_inside_longer_ones() -> None:
    words = frozenset({"rl", "12"})
    assert grounding.overlap(words, "a world model from 2012 with 12.5 points") == 0.0
    assert grounding.overlap(words, "RL agents gain 12x") == 1.0


def test_a_real_evidence_phrase_passes_and_one_of_another_abstract_does_not() -> None:
    first, second = _lines(DAY)[:2]
    own = str(first["summary"])
    phrase = " ".join(own.split()[5:17])
    assert evidence.evidence_problem(f"  {phrase}\n", str(first["title"]), own) is None
    other = " ".join(str(second["summary"]).split()[5:17])
    problem = evidence.evidence_problem(other, str(first["title"]), own, [str(second["summary"])])
    assert problem is not None and "another paper" in problem
    problem = evidence.evidence_problem(other, str(first["title"]), own)  # found in no abstract given
    assert problem is not None and "another paper" not in problem and "exactly" in problem
    assert "words" in (evidence.evidence_problem("too short", "", own) or "")
    assert "missing" in (evidence.evidence_problem(None, "", own) or "")


def test_swapped_corpus_summaries_mostly_fail_the_term_overlap_of_their_new_paper() -> None:
    objs = [o for o in _lines(DAY) if grounding.terms(_summary(o))]
    own = [grounding.overlap(grounding.terms(_summary(o)), _source(o)) or 0.0 for o in objs]
    swapped = [grounding.overlap(grounding.terms(_summary(a)), _source(b)) or 0.0
               for a, b in zip(objs, objs[1:] + objs[:1], strict=True)]
    assert sum(share < 0.3 for share in own) <= len(objs) // 100
    assert sum(share >= 0.3 for share in swapped) <= len(objs) // 10


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name[:10])
def test_no_corpus_entry_is_mismatched_as_published(path: Path) -> None:
    _, scan = scan_file(path, Settings())
    assert scan.mismatched == []


@pytest.mark.parametrize("path", sorted(UNSEEN.glob("*.jsonl")), ids=lambda p: p.name[:10])
def test_faithful_summaries_of_unseen_days_are_not_mismatched(path: Path) -> None:
    """Days the thresholds were not set on, where an earlier screen listed faithful summaries: an acronym
    the abstract spells out (`RAG`, `LoRA`), figures written another way (`2,000` as `2000`)."""
    _, scan = scan_file(path, Settings())
    assert scan.mismatched == []


def _rotated_copy(path: Path, tmp_path: Path, seed: int = 0) -> tuple[Path, set[str]]:
    """The file with the AI fields of 10 random good entries rotated among themselves."""
    objs = _lines(path)
    _, before = scan_file(path, Settings())
    broken = {n.id for n in before.needs_repair}
    good = [i for i, o in enumerate(objs) if o["id"] not in broken]
    chosen = random.Random(seed).sample(good, 10)
    moved = [objs[i]["AI"] for i in chosen]
    for i, ai in zip(chosen, moved[1:] + moved[:1], strict=True):
        objs[i] = {**objs[i], "AI": ai}
    target = tmp_path / path.name
    target.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs), encoding="utf-8")
    return target, {str(objs[i]["id"]) for i in chosen}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name[:10])
def test_rotated_summaries_are_listed_apart_and_repaired_only_when_asked(path: Path, tmp_path: Path) -> None:
    """A rotation is listed as mismatched (nothing outside it), kept out of `needs_repair` and the exit
    code, and becomes whole-entry repairs with `--include mismatched`."""
    target, rotated = _rotated_copy(path, tmp_path)
    _, after = scan_file(target, Settings())
    assert set(after.mismatched) <= rotated
    # Most of one rotation; the rate (>= 90 % over ten rotations per file) is checked on `shifted` below.
    assert len(after.mismatched) >= 7, sorted(rotated - set(after.mismatched))
    assert not any("mismatched" in n.fields.values() for n in after.needs_repair)
    _, asked = scan_file(target, Settings(include_mismatched=True))
    listed = {n.id: n.fields for n in asked.needs_repair if "mismatched" in n.fields.values()}
    assert set(listed) == set(after.mismatched)
    assert all(set(fields.values()) == {"mismatched"} and len(fields) == 5 for fields in listed.values())


def test_a_summary_without_terms_swapped_with_a_named_one_flags_both_entries() -> None:
    """Entry a gets b's summary (names b's abstract holds: found directly); entry b gets a's, which
    has no Latin-script term to judge by: b is flagged because its own summary was found at a."""
    objs = _lines(DAY)
    a = next(i for i, o in enumerate(objs) if not grounding.terms(_summary(o)))
    b = next(i for i, o in enumerate(objs) if len(grounding.terms(_summary(o))) >= 8)
    summaries = [_summary(o) for o in objs]
    summaries[a], summaries[b] = summaries[b], summaries[a]
    shifts = grounding.shifted(summaries, [_source(o) for o in objs])
    assert sorted((s.index, s.neighbour) for s in shifts if s.neighbour is not None) == [(a, b)]
    assert [s.index for s in shifts if s.neighbour is None] == [b]


def _rotation(objs: list[dict[str, object]], good: list[int], seed: int) -> tuple[list[int], list[str]]:
    chosen = random.Random(seed).sample(good, 10)
    texts = [_summary(o) for o in objs]
    moved = [texts[i] for i in chosen]
    for i, text in zip(chosen, moved[1:] + moved[:1], strict=True):
        texts[i] = text
    return chosen, texts


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name[:10])
def test_ten_rotations_per_file_catch_nine_in_ten_and_nothing_else(path: Path) -> None:
    """Judged directly on `shifted`, ten rotations per file: at least 90 % of the rotated summaries
    found (bench: 97 % over the 49 enhanced files of upstream's sample), never an entry outside."""
    objs = _lines(path)
    _, scan = scan_file(path, Settings())
    broken = {n.id for n in scan.needs_repair}
    good = [i for i, o in enumerate(objs) if o["id"] not in broken]
    sources = [_source(o) for o in objs]
    caught = 0
    for seed in range(10):
        chosen, texts = _rotation(objs, good, seed)
        judged = [text if objs[i]["id"] not in broken else None for i, text in enumerate(texts)]
        flagged = {s.index for s in grounding.shifted(judged, sources)}
        assert flagged <= set(chosen), (seed, sorted(flagged - set(chosen)))
        caught += len(flagged)
    assert caught >= 90


@pytest.mark.parametrize("day", ["2026-05-21", "2026-06-02"])
def test_a_day_gets_the_same_verdicts_as_jsonl_and_as_markdown(day: str) -> None:
    """The same rotation (by id) in a day's JSONL file and in its markdown digest, whose entries come in
    another order: the same entries flagged."""
    forms = [load(CORPUS / f"{day}_AI_enhanced_Chinese.jsonl"), load(CORPUS / f"{day}.md")]
    settings = Settings()
    flagged = []
    for digest in forms:
        _, scan = scan_file(digest.path, settings)  # type: ignore[arg-type]
        broken = {n.id for n in scan.needs_repair}
        flagged.append([])
        ids = [e.id for e in digest.entries]
        good = sorted(i for i in ids if i not in broken)
        for seed in range(5):
            chosen = random.Random(seed).sample(good, 10)
            texts = [None if e.id in broken else " ".join(e.fields.values()) for e in digest.entries]
            at = {paper: i for i, paper in enumerate(ids)}
            moved = [texts[at[p]] for p in chosen]
            for paper, text in zip(chosen, moved[1:] + moved[:1], strict=True):
                texts[at[paper]] = text
            shifts = grounding.shifted(texts, [f"{e.title} {e.abstract}" for e in digest.entries])
            flagged[-1].append(sorted(ids[s.index] for s in shifts))
    assert flagged[0] == flagged[1]
    assert all(len(found) >= 8 for found in flagged[0])


def test_the_digest_is_read_a_bounded_number_of_times_whatever_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Linear cost: the terms of the few candidate summaries are looked up in passes over the whole
    digest, and the number of passes does not grow with the digest (the old screen searched the digest
    once per term, and the terms grow with it)."""
    passes: list[int] = []
    search, split = grounding._Index._search, grounding._Index._split
    monkeypatch.setattr(grounding._Index, "_search", lambda self, term: passes.append(1) or search(self, term))
    monkeypatch.setattr(grounding._Index, "_split", lambda self, terms: passes.append(1) or split(self, terms))
    objs = [o for path in FILES for o in _lines(path)]
    counts = []
    for size in (1_000, 3_000):
        passes.clear()
        grounding.shifted([_summary(o) for o in objs[:size]], [_source(o) for o in objs[:size]])
        counts.append(len(passes))
    assert counts[1] <= 2 * (grounding.SEARCHED_MAX + 1)
    assert counts[0] > 0


def test_scan_json_reports_mismatched_for_every_field_of_a_swapped_pair(tmp_path: Path) -> None:
    target = tmp_path / DAY.name
    shutil.copyfile(DAY, target)
    objs = _lines(target)
    pair = [i for i, o in enumerate(objs) if len(grounding.terms(_summary(o))) >= 6][:2]
    a, b = pair
    objs[a]["AI"], objs[b]["AI"] = objs[b]["AI"], objs[a]["AI"]
    target.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs), encoding="utf-8")
    _, scan = scan_file(target, Settings(include_mismatched=True))
    mismatched = {n.id: n.fields for n in scan.needs_repair if "mismatched" in n.fields.values()}
    assert set(mismatched) == {objs[a]["id"], objs[b]["id"]}
    assert all(fields == dict.fromkeys(fields, "mismatched") and len(fields) == 5 for fields in mismatched.values())


def test_mismatched_entries_fail_a_scan_and_are_asked_about_only_when_asked(tmp_path: Path) -> None:
    target, rotated = _rotated_copy(DAY, tmp_path)
    assert main(["scan", str(target)]) == 0
    assert main(["scan", str(target), "--include", "mismatched"]) == 1
    assert main(["scan", str(target), "--fail-on", "mismatched"]) == 1
    digest = load(target)
    planned = plan_digest(digest, Settings())
    assert planned.repairable(Settings()) == {}
    asked = planned.repairable(Settings(include_mismatched=True))
    assert {digest.entries[i].id for i in asked} <= rotated and len(asked) >= 7
