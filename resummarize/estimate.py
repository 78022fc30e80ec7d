"""The dry run's estimate, file by file as the plan goes: answers the journal holds, and the requests
and prompt tokens the rest would take (the cost follows from `cost`)."""

from __future__ import annotations

from collections.abc import Sequence

from resummarize.journal import Journal
from resummarize.plan import Job, questions
from resummarize.provider.prompts import PromptSet
from resummarize.report import RepairReport


class Estimate:
    """The dry run, file by file: answers the journal holds, and what asking for the rest would take.
    A question met again (the same paper on two days) is counted once."""

    def __init__(self, journal: Journal, prompts: PromptSet, report: RepairReport) -> None:
        self.journal, self.prompts, self.report = journal, prompts, report
        self._seen: set[str] = set()

    def __call__(self, jobs: list[Job]) -> None:
        fresh = []
        for group in questions(jobs):
            digest = group[0].key.digest()
            if digest in self._seen:
                continue  # asked already for an earlier file: the same request serves this one
            self._seen.add(digest)
            if self.journal.get(group[0].key) is None:
                fresh.append(group)
            else:
                self.report.cached += len(group)
        self.report.estimated_requests += len(fresh)
        self.report.estimated_prompt_tokens += estimate_prompt_tokens([g[0] for g in fresh], self.prompts)


def estimate_prompt_tokens(jobs: Sequence[Job], prompts: PromptSet) -> int:
    """About four characters a token: good enough to tell a user what a run will cost."""
    chars = 0
    for job in jobs:
        r = job.request
        messages = prompts.render(r.strategy, paper_id=r.paper_id, title=r.title, abstract=r.abstract,
                                  language=r.language, existing=r.existing, schema_hint=None, keys=r.keys)
        chars += sum(len(str(m["content"])) for m in messages)
    return chars // 4
