"""The Files and Batch endpoints of the fake provider, as OpenAI documents them.

A batch answers each input line with the provider's own chat logic (faults included), after a delay and
with an ending chosen by the test, so batch-mode clients can be tested for every ending. Each rule below
names where it comes from:

- [guide]: OpenAI's Batch API guide, platform.openai.com/docs/guides/batch;
- [batch-ref], [files-ref]: the API reference, platform.openai.com/docs/api-reference/batch and /files;
- [sdk]: the types of the official openai-python SDK (`openai.types.Batch`, `BatchError`, ...);
- [undocumented]: behaviour the documents leave open; the fake picks what the real service was seen to
  do, or the stricter reading, and says so.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from resummarize.errors import UsageError
from resummarize.testing.answers import Reply, json_reply
from resummarize.testing.batch_input import metadata_problem, read_input

#: Answers one batch line body: (HTTP status, response body).
Answer = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]
#: How a test ends its batches: run every line, or fail validation, expire or be cancelled part way.
OUTCOMES = frozenset({"completed", "failed", "expired", "cancelled"})
#: [files-ref] the purposes a file may be uploaded with; a batch's input must be "batch".
PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})
#: [batch-ref] list: `limit` "can range between 1 and 100, and the default is 20".
LIST_DEFAULT, LIST_MAX = 20, 100
_FILE_RE = re.compile(r"/v1/files/([\w-]+)(/content)?")
_BATCH_RE = re.compile(r"/v1/batches/([\w-]+)(/cancel)?")


def _error(status: int, message: str, code: str | None = None, param: str | None = None) -> Reply:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return json_reply(status, {"error": error})


def _new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The parts of a multipart/form-data body: name -> (filename, exact bytes)."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if found is None:
        return {}
    parts: dict[str, tuple[str | None, bytes]] = {}
    for chunk in raw.split(b"--" + found.group(1).encode("latin-1"))[1:-1]:
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        text = head.decode("utf-8", "replace")
        name = re.search(r'\bname="([^"]*)"', text)
        filename = re.search(r'\bfilename="([^"]*)"', text)
        if name is not None:
            parts[name.group(1)] = (filename.group(1) if filename else None, data.removesuffix(b"\r\n"))
    return parts


@dataclass
class StoredFile:
    """An uploaded (or batch-produced) file."""

    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int = field(default_factory=lambda: int(time.time()))

    def obj(self) -> dict[str, Any]:
        return {"id": self.id, "object": "file", "bytes": len(self.data), "created_at": self.created_at,
                "filename": self.filename, "purpose": self.purpose, "status": "processed"}


@dataclass
class Batch:
    """One batch: its wire object, when it started (monotonic), and the input lines it will run."""

    fields: dict[str, Any]
    requests: list[tuple[str, dict[str, Any]]]
    started: float = field(default_factory=time.monotonic)
    problems: list[dict[str, Any]] = field(default_factory=list)
    order: list[int] = field(default_factory=list)  # the order lines run in (shuffled)

    @property
    def status(self) -> str:
        return str(self.fields["status"])


@dataclass
class BatchSettings:
    """How the fake's batches behave: `delay` seconds from create to the end, the `outcome`, the share of
    lines that fail with a server error (`error_rate`), how long a create reply takes (`create_delay`: the
    batch exists at once, its reply may outlive the client's timeout), and whether an `Idempotency-Key`
    header is honoured on create ([undocumented]: OpenAI's references do not list it, so by default the
    fake ignores it, as a strict reading of the contract must)."""

    delay: float = 0.0
    outcome: str = "completed"
    error_rate: float = 0.0
    create_delay: float = 0.0
    idempotency: bool = False
    #: [guide] the "failed" ending: the code a validation failure carries, e.g. the enqueued token limit.
    failure: str = "token_limit_exceeded"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise UsageError(f"batch_outcome must be one of {sorted(OUTCOMES)}, not {self.outcome!r}")


class BatchStore:
    """Files and batches of one fake provider; thread-safe."""

    def __init__(self, answer: Answer, settings: BatchSettings | None = None) -> None:
        self._answer = answer
        self.settings = settings or BatchSettings()
        self._random = random.Random(self.settings.seed)
        self._lock = threading.RLock()
        self._files: dict[str, StoredFile] = {}
        self._batches: dict[str, Batch] = {}
        self._keys: dict[str, str] = {}  # Idempotency-Key -> batch id

    @property
    def created(self) -> int:
        """How many batches were created."""
        return len(self._batches)

    @property
    def uploads(self) -> int:
        """How many input files were uploaded (purpose "batch")."""
        return sum(1 for stored in self._files.values() if stored.purpose == "batch")

    def handle(self, method: str, path: str, headers: Mapping[str, str], raw: bytes) -> Reply | None:
        """Serve a files/batches route, or `None` when the route is not ours."""
        route = path.split("?", 1)[0].rstrip("/")
        query = {name: values[-1] for name, values in parse_qs(urlsplit(path).query).items()}
        with self._lock:
            if (method, route) == ("POST", "/v1/files"):
                return self._upload(headers.get("content-type", ""), raw)
            if (method, route) == ("GET", "/v1/files"):
                return self._list_files(query)
            if (method, route) == ("POST", "/v1/batches"):
                return self._create(raw, headers.get("idempotency-key"))
            if (method, route) == ("GET", "/v1/batches"):
                return self._list_batches(query)
            if method == "GET" and (found := _FILE_RE.fullmatch(route)):
                return self._file(found.group(1), content=bool(found.group(2)))
            if (found := _BATCH_RE.fullmatch(route)) and (method, bool(found.group(2))) in {("GET", False),
                                                                                            ("POST", True)}:
                batch = self._batches.get(found.group(1))
                if batch is None:
                    return _error(404, f"No batch found with id '{found.group(1)}'.", None, "batch_id")
                return self._cancel(batch) if found.group(2) else self._retrieve(batch)
        return None

    # --- files ------------------------------------------------------------------------------------

    def _store(self, filename: str, purpose: str, data: bytes) -> StoredFile:
        stored = StoredFile(_new_id("file-"), filename, purpose, data)
        self._files[stored.id] = stored
        return stored

    def _upload(self, content_type: str, raw: bytes) -> Reply:
        parts = multipart(content_type, raw)
        if "file" not in parts or "purpose" not in parts:
            return _error(400, "A multipart body with 'file' and 'purpose' is required.", None, "file")
        purpose = parts["purpose"][1].decode()
        if purpose not in PURPOSES:  # [files-ref] purpose is one of the listed values
            return _error(400, f"'{purpose}' is not one of {sorted(PURPOSES)} - 'purpose'", None, "purpose")
        filename, data = parts["file"]
        if purpose == "batch" and not (filename or "").endswith(".jsonl"):  # [files-ref] batch input is .jsonl
            return _error(400, "Batch input files must be .jsonl files.", None, "file")
        return json_reply(200, self._store(filename or "upload.jsonl", purpose, data).obj())

    def _file(self, file_id: str, *, content: bool) -> Reply:
        stored = self._files.get(file_id)
        if stored is None:
            return _error(404, f"No such File object: {file_id}", None, "id")
        if content:
            return Reply(200, stored.data, {"content-type": "application/octet-stream"})
        return json_reply(200, stored.obj())

    def _list_files(self, query: Mapping[str, str]) -> Reply:
        """[files-ref] list files, optionally of one `purpose`, newest first."""
        found = [f.obj() for f in reversed(self._files.values()) if query.get("purpose") in (None, f.purpose)]
        return json_reply(200, {"object": "list", "data": found, "has_more": False,
                                "first_id": found[0]["id"] if found else None,
                                "last_id": found[-1]["id"] if found else None})

    # --- batches ----------------------------------------------------------------------------------

    def _create(self, raw: bytes, key: str | None) -> Reply:
        if self.settings.idempotency and key is not None and key in self._keys:
            return self._reply(json_reply(200, self._batches[self._keys[key]].fields))
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "The body is not valid JSON.")
        if not isinstance(body, dict):
            return _error(400, "The body must be a JSON object.")
        stored = self._files.get(str(body.get("input_file_id")))
        if stored is None:
            return _error(404, f"No such File object: {body.get('input_file_id')}", None, "input_file_id")
        # [batch-ref] the input file "must be uploaded with the purpose batch" (refused with a 400: [undocumented])
        if stored.purpose != "batch":
            return _error(400, f"File {stored.id} has purpose '{stored.purpose}', not 'batch'.", None, "input_file_id")
        if body.get("endpoint") not in ("/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions"):
            return _error(400, f"Invalid endpoint: {body.get('endpoint')!r}.", None, "endpoint")  # [batch-ref]
        if body.get("completion_window") != "24h":  # [batch-ref] "Currently only 24h is supported."
            return _error(400, "completion_window must be '24h'.", None, "completion_window")
        problem = metadata_problem(body.get("metadata"))
        if problem is not None:
            return _error(400, problem, None, "metadata")
        now = int(time.time())
        requests, problems = read_input(stored.data, str(body["endpoint"]))
        fields: dict[str, Any] = {
            "id": _new_id("batch_"), "object": "batch", "endpoint": body["endpoint"], "errors": None,
            "input_file_id": stored.id, "completion_window": "24h",
            "status": "validating",  # [guide] every batch starts in "validating"
            "output_file_id": None, "error_file_id": None, "created_at": now, "in_progress_at": None,
            "expires_at": now + 86400, "finalizing_at": None, "completed_at": None, "failed_at": None,
            "expired_at": None, "cancelling_at": None, "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }
        batch = Batch(fields, requests, problems=problems)
        batch.order = list(range(len(requests)))
        self._random.shuffle(batch.order)  # [guide] output "may not match the input line order"
        self._batches[fields["id"]] = batch
        if key is not None:
            self._keys[key] = fields["id"]
        return self._reply(json_reply(200, fields))

    def _reply(self, reply: Reply) -> Reply:
        """A create reply, as slow as the test asked: the batch exists whether or not the client waits."""
        reply.delay = self.settings.create_delay
        return reply

    def _list_batches(self, query: Mapping[str, str]) -> Reply:
        """[batch-ref] "List your organization's batches": newest first, `after` a batch id, `limit` 1-100."""
        try:
            limit = int(query.get("limit", LIST_DEFAULT))
        except ValueError:
            limit = 0
        if not 1 <= limit <= LIST_MAX:
            return _error(400, f"limit must be between 1 and {LIST_MAX}.", None, "limit")
        newest = list(reversed(self._batches.values()))
        after = query.get("after")
        if after is not None:
            ids = [batch.fields["id"] for batch in newest]
            newest = newest[ids.index(after) + 1:] if after in ids else []
        for batch in newest[:limit]:
            self._advance(batch)
        page = [batch.fields for batch in newest[:limit]]
        return json_reply(200, {"object": "list", "data": page, "has_more": len(newest) > limit,
                                "first_id": page[0]["id"] if page else None,
                                "last_id": page[-1]["id"] if page else None})

    def _retrieve(self, batch: Batch) -> Reply:
        self._advance(batch)
        return json_reply(200, batch.fields)

    def _cancel(self, batch: Batch) -> Reply:
        """[batch-ref] "Cancels an in-progress batch. The batch will be in status cancelling for up to 10
        minutes, before changing to cancelled, where it will have partial results (if any) available in
        the output file." A batch already ended cannot be cancelled ([undocumented]: a 409, as for a
        conflicting state elsewhere in the API)."""
        self._advance(batch)
        if batch.status not in ("validating", "in_progress", "finalizing"):
            return _error(409, f"Cannot cancel a batch with status '{batch.status}'.", None, "batch_id")
        batch.fields.update(status="cancelling", cancelling_at=int(time.time()))
        return json_reply(200, batch.fields)

    def _advance(self, batch: Batch) -> None:
        """Move a batch along its documented statuses as time passes ([guide] the status table):
        validating -> failed (the input is invalid) | in_progress -> finalizing -> completed | expired,
        and cancelling -> cancelled. `request_counts` grow while it runs ([sdk] BatchRequestCounts)."""
        fields, status = batch.fields, batch.status
        if status in ("completed", "failed", "expired", "cancelled"):
            return
        elapsed = time.monotonic() - batch.started
        delay = self.settings.delay
        if status == "validating" and elapsed >= delay * 0.1:
            problems = batch.problems or self._refusal(batch)
            if problems:  # [guide] "failed: the input file has failed the validation process"
                fields.update(status="failed", failed_at=int(time.time()), errors={"object": "list", "data": problems})
                return
            fields.update(status="in_progress", in_progress_at=int(time.time()),
                          request_counts={"total": len(batch.requests), "completed": 0, "failed": 0})
            status = "in_progress"
        if status == "cancelling":
            self._finish(batch, "cancelled", self._ran(batch, elapsed))
            return
        if status == "in_progress":
            ran = self._ran(batch, elapsed)
            counts = fields["request_counts"]
            failed = sum(1 for index in batch.order[:ran] if self._fails(index))
            counts.update(completed=ran - failed, failed=failed)
            if self.settings.outcome == "expired" and elapsed >= delay:
                # [guide] expired: unfinished requests are cancelled; finished ones are in the output file
                self._finish(batch, "expired", self._random.randint(0, max(0, len(batch.requests) - 1)))
            elif self.settings.outcome == "cancelled" and elapsed >= delay * 0.5:
                fields.update(status="cancelling", cancelling_at=int(time.time()))
            elif elapsed >= delay * 0.9:
                fields.update(status="finalizing", finalizing_at=int(time.time()))  # [guide] results being prepared
                status = "finalizing"
        if status == "finalizing" and elapsed >= delay:
            self._finish(batch, "completed", len(batch.requests))

    def _ran(self, batch: Batch, elapsed: float) -> int:
        """How many lines have run by now: in proportion to the time between validation and finalizing."""
        delay = self.settings.delay
        share = 1.0 if delay <= 0 else min(1.0, max(0.0, (elapsed - delay * 0.1) / (delay * 0.8)))
        return int(len(batch.requests) * share)

    def _fails(self, index: int) -> bool:
        """Whether line `index` meets a server error: the same lines every time for one store."""
        return random.Random(f"{self.settings.seed}:{index}").random() < self.settings.error_rate

    def _refusal(self, batch: Batch) -> list[dict[str, Any]]:
        """The batch-wide failure a test asked for ([guide]: e.g. the organisation's enqueued token limit)."""
        if self.settings.outcome != "failed":
            return []
        message = "Enqueued token limit reached for gpt-4o-mini in organization org-fake. Limit: 90,000 tokens."
        return [{"code": self.settings.failure, "message": message, "param": None, "line": None}]

    def _finish(self, batch: Batch, status: str, ran: int) -> None:
        """Write the output and error files: [guide] "one response line for every successful request
        line", failed requests in the error file; lines never run (expired, cancelled) are in the error
        file with code `batch_expired` / `batch_cancelled`. Both files in no particular order."""
        output: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for position, index in enumerate(batch.order):
            custom_id, body = batch.requests[index]
            line: dict[str, Any] = {"id": _new_id("batch_req_"), "custom_id": custom_id}
            if position >= ran:
                code = "batch_expired" if status == "expired" else "batch_cancelled"
                message = ("This request could not be executed before the completion window expired."
                           if status == "expired" else "This request was cancelled before it ran.")
                failed.append({**line, "response": None, "error": {"code": code, "message": message}})
                continue
            if self._fails(index):
                answer = {"error": {"message": "The server had an error while processing your request.",
                                    "type": "server_error", "param": None, "code": None}}
                reply_status = 500
            else:
                reply_status, answer = self._answer(body)
            # [undocumented] an error line carries the HTTP error in `response`, with `error` null, as
            # the service was seen to do (openai/openai-openapi issue 302)
            response = {"status_code": reply_status, "request_id": _new_id("req_"), "body": answer}
            (output if reply_status == 200 else failed).append({**line, "response": response, "error": None})
        self._random.shuffle(failed)
        now = int(time.time())
        batch.fields.update(
            status=status,
            request_counts={"total": len(batch.requests), "completed": len(output), "failed": len(failed)},
            output_file_id=self._jsonl(output), error_file_id=self._jsonl(failed),
        )
        batch.fields[f"{status}_at"] = now
        if status == "completed":
            batch.fields["finalizing_at"] = batch.fields["finalizing_at"] or now

    def _jsonl(self, lines: list[dict[str, Any]]) -> str | None:
        if not lines:
            return None
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        return self._store("batch_output.jsonl", "batch_output", data).id
