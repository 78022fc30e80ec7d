"""What a run would cost: a small table of list prices, overridable, and the dry run's estimate.

Prices change and endpoints vary, so the table is a convenience, not a source of truth: `--price` sets
the rates for the model at hand, and a model the table does not know is reported as "unknown price".
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

#: List prices in dollars per million (input, output) tokens; dated snapshots match by prefix.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}
BATCH_DISCOUNT = 0.5
#: Rough completion size of a five-field answer, for the dry-run estimate.
COMPLETION_ESTIMATE = 300


def price(model: str, prices: Mapping[str, tuple[float, float]] | None = None) -> tuple[float, float] | None:
    """Live (input, output) dollars per million tokens; `openai/gpt-4o-2024-08-06` finds gpt-4o."""
    table = {**PRICES, **(prices or {})}
    name = model.rsplit("/", 1)[-1]
    if model in table:
        return table[model]
    known = [m for m in table if name == m or name.startswith(m + "-")]
    return table[max(known, key=len)] if known else None


class CostEstimate(BaseModel):
    """The dry run's figures: tokens it would take and, for a known price, dollars live and by batch."""

    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    live_usd: float | None
    batch_usd: float | None

    def describe(self) -> str:
        tokens = f"~{self.prompt_tokens:,} prompt + ~{self.completion_tokens:,} completion tokens"
        if self.live_usd is None or self.batch_usd is None:
            return f"{tokens}: unknown price for {self.model} (set one with --price IN,OUT)"
        return f"{tokens}: about {dollars(self.live_usd)} live, {dollars(self.batch_usd)} with the Batch API"


def estimate_cost(model: str, requests: int, prompt_tokens: int,
                  prices: Mapping[str, tuple[float, float]] | None = None) -> CostEstimate:
    completion = COMPLETION_ESTIMATE * requests
    rates = price(model, prices)
    live = None if rates is None else (prompt_tokens * rates[0] + completion * rates[1]) / 1_000_000
    return CostEstimate(model=model, requests=requests, prompt_tokens=prompt_tokens, completion_tokens=completion,
                        live_usd=live, batch_usd=None if live is None else live * BATCH_DISCOUNT)


def dollars(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 0.1 else f"${amount:.4f}"
