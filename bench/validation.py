"""False rejections of answer validation on real model-written summaries.

    python bench/validation.py [--examples N]

Every good entry of the corpus (upstream's own Chinese summaries: no placeholder, damage or wrong
language) is fed back as the model's answer for its own title and abstract, through the same parsing and
validation a live answer meets. The share accepted first time is the figure; the reasons for the rest are
listed, most common first. `--examples N` prints N rejected fields per reason, to tune the rules by.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

from common import REPO, record

from resummarize import load
from resummarize.detect import Placeholders, check_entry
from resummarize.digest.model import FIELDS, canonical
from resummarize.errors import ValidationFailure
from resummarize.language import resolve
from resummarize.provider.answer import parse_answer, validate_fields

CORPUS = REPO / "tests" / "corpus"
GOAL = 0.99


def reason(problem: str) -> str:
    """A problem without its quoted pieces and figures: `Field "x" has numbers ... (...)` -> a reason."""
    return re.sub(r"\s*\([^()]*\)", "", problem.split(":")[0]).replace('Field "', "").replace('" ', ": ", 1)


def measure(files: list[Path], examples: int) -> tuple[int, int, Counter[str], dict[str, list[str]]]:
    language, placeholders = resolve("Chinese"), Placeholders()
    total = accepted = 0
    reasons: Counter[str] = Counter()
    shown: dict[str, list[str]] = defaultdict(list)
    for path in files:
        for entry in load(path).entries:
            if check_entry(entry, language, placeholders).needs_repair:
                continue
            fields = {canonical(k): v for k, v in entry.fields.items() if canonical(k) in FIELDS}
            if set(fields) != set(FIELDS):
                continue
            total += 1
            answer = json.dumps(fields, ensure_ascii=False)
            try:
                validate_fields(parse_answer(answer), language=language, placeholders=placeholders,
                                abstract=entry.abstract, title=entry.title)
                accepted += 1
            except ValidationFailure as failure:
                for problem in failure.problems:
                    key = reason(problem)
                    reasons[key] += 1
                    if len(shown[key]) < examples:
                        shown[key].append(f"{entry.id}: {problem}")
    return total, accepted, reasons, shown


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=0, help="rejected fields to print per reason")
    args = parser.parse_args()
    files = sorted(CORPUS.glob("*_AI_enhanced_*.jsonl"))
    total, accepted, reasons, shown = measure(files, args.examples)
    share = accepted / total
    rows = "\n".join(f"| {key} | {count} |" for key, count in reasons.most_common(10))
    body = (
        f"Upstream's good summaries ({total:,} entries of {len(files)} files) fed back as answers for their "
        "own title and abstract.\n\n"
        f"| figure | value |\n|---|---|\n| accepted first time | {accepted:,} of {total:,} "
        f"(**{share:.2%}**; goal ≥ {GOAL:.0%}) |\n\n"
        f"| rejection reason (field: rule) | fields |\n|---|---|\n{rows}"
    )
    record("Validation: false rejections of real summaries", "python bench/validation.py", body)
    for key, lines in shown.items():
        print(f"\n{key}:", *lines, sep="\n  ", file=sys.stderr)
    return 0 if share >= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
