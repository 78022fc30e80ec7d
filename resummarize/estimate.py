"""The dry run's estimate, file by file as the plan goes: answers the journal holds, and the requests
and prompt tokens the rest would take, by file and by reason (the cost follows from `cost`); every entry
it would ask for is listed in the report as `planned`, those the journal answers as `in_journal`."""

from __future__ import annotations

from collections.abc import Sequence

from resummarize.config import RepairOptions
from resummarize.cost import Share, estimate_cost
from resummarize.journal import Journal
from resummarize.plan import Job, questions
from resummarize.provider.prompts import PromptSet
from resummarize.report import EntryResult, RepairReport

#: An entry broken in several ways is counted under the first of its reasons in this order: the one
#: that decides how much is rewritten.
MAIN_REASONS = ("missing", "wrong_language", "mismatched", "placeholder", "empty", "corrupted", "refused")


def main_reason(reasons: Sequence[str]) -> str:
    return next((r for r in MAIN_REASONS if r in reasons), reasons[0] if reasons else "unknown")


class Estimate:
    """The dry run, file by file: answers the journal holds, and what asking for the rest would take.
    A question met again (the same paper on two days) is counted once."""

    def __init__(self, journal: Journal, prompts: PromptSet) -> None:
        self.journal, self.prompts, self.report = journal, prompts, RepairReport()
        self._asked: dict[str, bool] = {}  # question digest -> whether it takes a request (not in the journal)
        self.by_reason: dict[str, Share] = {}
        self.by_file: dict[str, Share] = {}

    def __call__(self, jobs: list[Job]) -> None:
        for group in questions(jobs):
            digest = group[0].key.digest()
            first = digest not in self._asked  # met again (an earlier file): the same request serves it
            if first:
                self._asked[digest] = self.journal.get(group[0].key) is None
            fresh = self._asked[digest]
            tokens = estimate_prompt_tokens([group[0]], self.prompts) if fresh and first else 0
            if fresh and first:
                self.report.estimated_requests += 1
                self.report.estimated_prompt_tokens += tokens
            elif first:
                self.report.cached += len(group)
            for number, job in enumerate(group):
                asked = fresh and first and number == 0
                for share in (self._share(self.by_reason, main_reason(job.reasons)),
                              self._share(self.by_file, job.path)):
                    share.entries += 1
                    share.requests += asked
                    share.prompt_tokens += tokens if asked else 0
                self.report.entries.append(EntryResult(id=job.entry.id, path=job.path, attempts=0,
                                                       status="planned" if fresh else "in_journal",
                                                       reasons=list(job.reasons)))

    def settle(self, report: RepairReport, options: RepairOptions) -> None:
        """Every input planned: the figures, the entries and the cost go into the run's report."""
        report.cached, report.estimated_requests = self.report.cached, self.report.estimated_requests
        report.estimated_prompt_tokens = self.report.estimated_prompt_tokens
        report.entries += self.report.entries
        report.estimate = estimate_cost(options.model, self.report.estimated_requests,
                                        self.report.estimated_prompt_tokens, options.prices,
                                        by_reason=self.by_reason, by_file=self.by_file)

    @staticmethod
    def _share(shares: dict[str, Share], name: str) -> Share:
        return shares.setdefault(name, Share())


def estimate_prompt_tokens(jobs: Sequence[Job], prompts: PromptSet) -> int:
    """About four characters a token: good enough to tell a user what a run will cost."""
    chars = 0
    for job in jobs:
        r = job.request
        messages = prompts.render(r.strategy, paper_id=r.paper_id, title=r.title, abstract=r.abstract,
                                  language=r.language, existing=r.existing, schema_hint=None, keys=r.keys)
        chars += sum(len(str(m["content"])) for m in messages)
    return chars // 4
