"""The evidence phrase as models copy it: ordinary copying noise passes, a phrase of another paper is
named as such, anything else is asked for again as an exact copy. Real abstracts of the corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resummarize import load
from resummarize.detect import Placeholders
from resummarize.errors import ValidationFailure
from resummarize.evidence import evidence_problem
from resummarize.language import resolve
from resummarize.provider.prompts import load_prompts
from resummarize.provider.request import SummaryRequest
from resummarize.provider.summarize import Summarizer
from resummarize.provider.throttle import Throttle

DAY = "2025-03-20_AI_enhanced_Chinese.jsonl"


def abstract_of(corpus_dir: Path, name: str, paper_id: str) -> str:
    return next(e.abstract for e in load(corpus_dir / name).entries if e.id == paper_id)


#: (paper, the phrase as a model wrote it): each altered as models alter what they copy.
VARIANTS = {
    "curly quotes": ("2503.15272", "We consolidate these insights into a final “recipe” called Multi-Agent"),
    "capitalised first letter": ("2503.14524", "Crucial to learn the temporal interactions between objects"),
    "en dash for em dash": ("2503.15465", "the large computational cost and model footprint of DMs – hinders"),
    "α for $\\alpha$": ("2503.15465", "convincing visual content on PixArt-α, PixArt-Σ and Hunyuan"),
    "multi-agent for multi-\\nagent": ("2503.15272", "We extend multi-agent multi-model reasoning to generation"),
    "fragments joined by …": ("2503.14524", "Representing a dynamic scene … a novel and particularly challenging task"),
    "one letter slipped": ("2503.14524", "most of the existing spatial-temporal scene graph generaton methods"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_ordinary_copying_noise_passes(corpus_dir: Path, variant: str) -> None:
    paper, phrase = VARIANTS[variant]
    abstract = abstract_of(corpus_dir, DAY, paper)
    if variant == "en dash for em dash":  # the abstract as a typeset source gives it, with LaTeX's em dash
        abstract = abstract.replace("DMs\nhinders", "DMs --- hinders")
    if variant == "multi-agent for multi-\\nagent":  # hard-wrapped after the hyphen, as arXiv wraps
        abstract = abstract.replace("multi-agent multi-model", "multi-\nagent multi-model")
        assert "multi-\nagent" in abstract
    assert evidence_problem(phrase, "", abstract) is None


def test_a_percentage_in_latex_matches_its_unicode_copy(corpus_dir: Path) -> None:
    abstract = abstract_of(corpus_dir, DAY, "2503.14524")
    assert "$4.4\\%$" in abstract
    assert evidence_problem("baselines by up to 4.4% in Scene Graph Detection", "", abstract) is None


def test_a_chinese_abstract_can_pass_and_is_counted_in_characters() -> None:
    abstract = ("本文提出了一种基于注意力机制的图神经网络模型，在多个公开数据集上取得了最好的结果，"
                "并显著降低了计算开销。")
    assert evidence_problem("一种基于注意力机制的图神经网络模型", "", abstract) is None
    half_width_comma = "在多个公开数据集上取得了最好的结果,并显著降低了计算开销"
    assert evidence_problem(half_width_comma, "", abstract) is None
    problem = evidence_problem("图神经网络", "", abstract) or ""
    assert "5 characters" in problem and "10 to 80 characters" in problem


def test_a_phrase_near_this_abstract_is_asked_again_as_an_exact_copy(corpus_dir: Path) -> None:
    abstract = abstract_of(corpus_dir, DAY, "2503.14524")
    problem = evidence_problem("we put forward a new spatial-temporal scene graph method that builds connections",
                               "", abstract, others=[abstract_of(corpus_dir, DAY, "2503.15272")]) or ""
    assert "exactly" in problem and "another paper" not in problem


def test_only_a_phrase_of_another_entrys_abstract_is_about_another_paper(corpus_dir: Path) -> None:
    own, other = abstract_of(corpus_dir, DAY, "2503.14524"), abstract_of(corpus_dir, DAY, "2503.15272")
    phrase = "We extend multi-agent multi-model reasoning to generation"
    assert "another paper" in (evidence_problem(phrase, "", own, others=[other]) or "")
    assert "another paper" not in (evidence_problem(phrase, "", own, others=[]) or "another paper")


def test_a_swapped_answer_is_named_about_another_paper_by_the_summarizer(corpus_dir: Path) -> None:
    """The Summarizer remembers the questions of its run: an answer carrying another question's phrase
    is re-asked as being about another paper; the same phrase with no such question is just miscopied."""
    entries = {e.id: e for e in load(corpus_dir / DAY).entries}
    summarizer = Summarizer(None, model="m", prompts=load_prompts(), placeholders=Placeholders(),  # type: ignore[arg-type]
                            throttle=Throttle(1))

    def request(paper: str) -> SummaryRequest:
        entry = entries[paper]
        return SummaryRequest(paper_id=paper, title=entry.title, abstract=entry.abstract,
                              language=resolve("Chinese"), keys=tuple(entry.fields))

    mine = request("2503.14524")
    fields = dict.fromkeys(mine.keys, "x") | {"evidence": "We extend multi-agent multi-model reasoning to generation"}
    answer = json.dumps(fields)
    summarizer.messages(mine, summarizer.negotiator.mode)
    with pytest.raises(ValidationFailure) as alone:
        summarizer.accept(mine, answer)
    assert not any("another paper" in p for p in alone.value.problems)
    summarizer.messages(request("2503.15272"), summarizer.negotiator.mode)  # the paper the phrase is from
    with pytest.raises(ValidationFailure) as swapped:
        summarizer.accept(mine, answer)
    assert any("another paper's abstract" in p for p in swapped.value.problems)
