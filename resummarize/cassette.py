"""Recorded responses (vcrpy's YAML cassette format) so pipelines can be tested offline, without a key.

Requests are matched on method, endpoint and the parsed JSON body: not on the host or base URL,
headers, timestamps, retry counts or the order in which concurrent requests went out. Secrets never
reach the file: auth and cookie headers are scrubbed both ways, and only successful exchanges are
recorded (a retried 429 or 5xx would otherwise shadow the answer on replay); a refusal a cassette holds
on purpose is replayed as recorded. A request the cassette does
not hold raises `ReplayMissError` from here; this is the only module that knows about vcrpy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import vcr
from vcr.cassette import Cassette
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serialize import serialize

from resummarize.errors import InputError, ReplayMissError
from resummarize.provider.wire import CAP_NAMES, STREAM
from resummarize.writer import write_atomic

SECRET_HEADERS = (
    "authorization", "api-key", "openai-organization", "openai-project", "cookie", "set-cookie",
    "x-api-key",
)
CASSETTE_NAME = "cassette.yaml"


def cassette_file(location: Path) -> Path:
    """`--record DIR` / `--replay DIR` hold `cassette.yaml`; a `.yaml` path names the file itself."""
    return location if location.suffix in (".yaml", ".yml") else location / CASSETTE_NAME


def _json_body(body: Any) -> Any:
    """The parsed body; whether it asked for a streamed answer does not change the question (the run's
    probe streams, and a cassette answers it with either form), nor does the output cap (a bound on
    cost, under either of its names: cassettes recorded before it, or with another one, still answer)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(body) if body else None
    except (TypeError, ValueError):
        return body
    if isinstance(parsed, dict):
        for key in (*STREAM, *CAP_NAMES):  # the keys a streamed probe adds, the output cap
            parsed.pop(key, None)
    return parsed


# vcrpy's matchers signal a mismatch with AssertionError. Raised explicitly, never with `assert`: pytest
# rewrites asserts in a plugin's distribution, and a rewritten one diffs two whole request bodies for
# every recorded request it passes over (minutes for the seed cassette).
def _same_body(r1: Any, r2: Any) -> None:
    if _json_body(r1.body) != _json_body(r2.body):
        raise AssertionError("bodies differ")


def _same_endpoint(r1: Any, r2: Any) -> None:
    """`/v1/chat/completions` and `/chat/completions` are the same call: the base URL is not the point."""
    a, b = r1.path.rstrip("/"), r2.path.rstrip("/")
    if not (a.endswith(b) or b.endswith(a)):
        raise AssertionError("endpoints differ")


def _scrub_request(request: Any) -> Any:
    for name in list(request.headers):
        if name.lower() in SECRET_HEADERS or name.lower().startswith("x-stainless"):
            del request.headers[name]
    return request


def _kept_response(response: dict[str, Any]) -> dict[str, Any] | None:
    """What recording keeps: answers only (a retried 429 or 5xx would shadow the answer on replay)."""
    if not 200 <= int(response["status"]["code"]) < 300:
        return None
    return _scrub_response(response)


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """vcrpy runs this on every interaction it loads too: a cassette that holds a refusal on purpose (a
    server's HTTP 500 refusing a mode, recorded by other means) replays it as recorded."""
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in SECRET_HEADERS or name.lower().startswith("x-ratelimit"):
            del headers[name]
    return response


class _AtomicPersister(FilesystemPersister):  # type: ignore[misc]  # vcrpy ships no types
    """vcrpy's file persister, but a cassette is replaced atomically like every file we write."""

    @staticmethod
    def save_cassette(cassette_path: str | Path, cassette_dict: dict[str, Any], serializer: Any) -> None:
        path = Path(cassette_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, serialize(cassette_dict, serializer).encode("utf-8"))


class _Cassette(Cassette):  # type: ignore[misc]  # vcrpy ships no types
    """vcrpy's cassette, but a request it cannot play in replay mode raises our `ReplayMissError`.

    vcrpy asks `filter_request` only once it knows the request is not recorded and the cassette is
    write-protected (replay): that is a miss, and the SDK carries the error as the connection error's cause.
    """

    def filter_request(self, request: Any) -> Any:
        kept = super().filter_request(request)
        if kept and self.write_protected:
            raise ReplayMissError(None, cassette=str(self._path))
        return kept


def recorder(mode: Literal["record", "replay"]) -> vcr.VCR:
    config = vcr.VCR(
        record_mode="all" if mode == "record" else "none",
        match_on=["method", "endpoint", "json_body"],
        filter_headers=list(SECRET_HEADERS),
        decode_compressed_response=True,
        before_record_request=_scrub_request,
        before_record_response=_kept_response if mode == "record" else _scrub_response,
    )
    config.register_persister(_AtomicPersister)
    config.register_matcher("json_body", _same_body)
    config.register_matcher("endpoint", _same_endpoint)
    return config


@contextmanager
def cassette(location: Path, mode: Literal["record", "replay"]) -> Iterator[Path]:
    """Record every provider exchange to, or replay it from, the cassette at `location`."""
    path = cassette_file(location)
    if mode == "replay" and not path.is_file():
        raise InputError(path, "no cassette here to replay (record one with --record)")
    if mode == "record":
        path.parent.mkdir(parents=True, exist_ok=True)
    config = recorder(mode).get_merged_config(path=str(path), allow_playback_repeats=mode == "replay")
    with _Cassette.use(**config):
        yield path
