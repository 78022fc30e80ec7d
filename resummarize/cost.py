"""What a run would cost: a small table of list prices, overridable, and the dry run's estimate.

Prices change and endpoints vary, so the table is a dated convenience, not a source of truth: `--price`
sets the rates for the model at hand, and a model the table does not know is reported as "unknown price".
Every figure names the model and where its rates came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pydantic import BaseModel

#: The day the table below was last checked against the providers' price pages. Prices change: the table
#: is a dated convenience, `--price IN,OUT` is the truth for your model and endpoint.
PRICES_AS_OF = "2025-10-01"
#: List prices in dollars per million (input, output) tokens, input at the cache-miss rate; dated
#: snapshots and `provider/model` names match by prefix (`openai/gpt-4o-2024-08-06` finds gpt-4o).
PRICES: dict[str, tuple[float, float]] = {
    # OpenAI
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o4-mini": (1.10, 4.40),
    # DeepSeek (upstream's default model is deepseek-chat); both names serve DeepSeek-V3.2
    "deepseek-chat": (0.28, 0.42),
    "deepseek-reasoner": (0.28, 0.42),
    # Alibaba Cloud Model Studio (international), OpenAI-compatible mode
    "qwen-turbo": (0.05, 0.20),
    "qwen-plus": (0.40, 1.20),
    "qwen-max": (1.60, 6.40),
    # Google Gemini through its OpenAI-compatible endpoint
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-pro": (1.25, 10.00),
    # Moonshot
    "kimi-k2": (0.60, 2.50),
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


def unknown_price(model: str, command: str = "") -> str:
    """What every figure says of a model the price table does not know: one wording, and the way out
    (`command` names where `--price` is given, when the figure is shown by another command)."""
    return f"unknown price for {model} (set one with {command + ' ' if command else ''}--price IN,OUT)"


def rates_source(model: str, prices: Mapping[str, tuple[float, float]] | None = None) -> str:
    """Where the rates of `model` come from, as a figure's caption says it."""
    if prices and (model in prices or price(model, prices) != price(model)):
        return f"{model} at --price"
    if price(model) is None:
        return unknown_price(model)
    return f"{model} at list prices of {PRICES_AS_OF}"


def spent(model: str, prompt_tokens: int, completion_tokens: int,
          prices: Mapping[str, tuple[float, float]] | None = None, *, discount: float = 1.0) -> float | None:
    """Dollars for tokens used (None for an unknown price); `discount` for the Batch API's half."""
    rates = price(model, prices)
    if rates is None:
        return None
    return (prompt_tokens * rates[0] + completion_tokens * rates[1]) / 1_000_000 * discount


def run_cost(totals: TokenCounts, batch: TokenCounts, model: str,
             prices: Mapping[str, tuple[float, float]] | None = None) -> tuple[float | None, str]:
    """The money a run's requests cost and where the rates came from: the Batch API's tokens (`batch`,
    part of `totals`) at its discount, the rest at live rates; None for an unknown price."""
    live = spent(model, totals.prompt_tokens - batch.prompt_tokens,
                 totals.completion_tokens - batch.completion_tokens, prices)
    by_batch = spent(model, batch.prompt_tokens, batch.completion_tokens, prices, discount=BATCH_DISCOUNT)
    usd = None if live is None or by_batch is None else round(live + by_batch, 6)
    return usd, rates_source(model, prices)


class TokenCounts(Protocol):
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...


class Share(BaseModel):
    """One reason's or one file's part of a dry run: entries, the requests and prompt tokens they would
    take, and what those cost live (None for an unknown price)."""

    entries: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    live_usd: float | None = None


class CostEstimate(BaseModel):
    """The dry run's figures: tokens it would take and, for a known price, dollars live and by batch,
    broken down by the main reason of each entry and by file."""

    model: str
    #: Where the rates came from: the built-in table (with its date), --price, or unknown.
    rates: str = ""
    requests: int
    prompt_tokens: int
    completion_tokens: int
    live_usd: float | None
    batch_usd: float | None
    by_reason: dict[str, Share] = {}
    by_file: dict[str, Share] = {}

    def describe(self) -> str:
        tokens = f"~{self.prompt_tokens:,} prompt + ~{self.completion_tokens:,} completion tokens"
        if self.live_usd is None or self.batch_usd is None:
            return f"{tokens}: {unknown_price(self.model)}"
        return (f"{tokens}: about {dollars(self.live_usd)} live, {dollars(self.batch_usd)} with the Batch API "
                f"({self.rates})")


def estimate_cost(model: str, requests: int, prompt_tokens: int,
                  prices: Mapping[str, tuple[float, float]] | None = None, *,
                  by_reason: Mapping[str, Share] | None = None, by_file: Mapping[str, Share] | None = None,
                  ) -> CostEstimate:
    completion = COMPLETION_ESTIMATE * requests
    live = spent(model, prompt_tokens, completion, prices)

    def priced(shares: Mapping[str, Share] | None) -> dict[str, Share]:
        return {name: share.model_copy(update={"live_usd": spent(
            model, share.prompt_tokens, COMPLETION_ESTIMATE * share.requests, prices)})
            for name, share in (shares or {}).items()}

    return CostEstimate(model=model, rates=rates_source(model, prices), requests=requests,
                        prompt_tokens=prompt_tokens, completion_tokens=completion,
                        live_usd=live, batch_usd=None if live is None else live * BATCH_DISCOUNT,
                        by_reason=priced(by_reason), by_file=priced(by_file))


def dollars(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 0.1 else f"${amount:.4f}"
