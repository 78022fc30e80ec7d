"""The Files and Batch endpoints of the fake provider.

A batch answers each input line with the provider's own chat logic (faults included), after a delay
and with an outcome chosen by the test, so batch-mode clients can be tested for every ending.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Answers one batch line body: (HTTP status, response body).
Answer = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]
#: (status, body bytes, content type) of one HTTP reply.
Reply = tuple[int, bytes, str]
OUTCOMES = frozenset({"completed", "failed", "expired"})
_FILE_RE = re.compile(r"/v1/files/([\w-]+)(/content)?")
_BATCH_RE = re.compile(r"/v1/batches/([\w-]+)")


def _json(status: int, obj: Any) -> Reply:
    return status, json.dumps(obj).encode(), "application/json"


def _error(status: int, message: str, code: str | None = None, param: str | None = None) -> Reply:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return _json(status, {"error": error})


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
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }


@dataclass
class Batch:
    """One batch: its wire object plus when it started (monotonic) for the simulated delay."""

    fields: dict[str, Any]
    started: float = field(default_factory=time.monotonic)
    done: bool = False


class BatchStore:
    """Files and batches of one fake provider; thread-safe."""

    def __init__(self, answer: Answer, *, delay: float = 0.0, outcome: str = "completed") -> None:
        self._answer = answer
        self._delay = delay
        self._outcome = outcome
        self._lock = threading.RLock()
        self._files: dict[str, StoredFile] = {}
        self._batches: dict[str, Batch] = {}

    @property
    def created(self) -> int:
        """How many batches were created."""
        return len(self._batches)

    def handle(self, method: str, route: str, content_type: str, raw: bytes) -> Reply | None:
        """Serve a files/batches route, or `None` when the route is not ours."""
        with self._lock:
            if (method, route) == ("POST", "/v1/files"):
                return self._upload(content_type, raw)
            if (method, route) == ("POST", "/v1/batches"):
                return self._create(raw)
            if method == "GET" and (found := _FILE_RE.fullmatch(route)):
                stored = self._files.get(found.group(1))
                if stored is None:
                    return _error(404, f"No such File object: {found.group(1)}", None, "id")
                if found.group(2):
                    return 200, stored.data, "application/octet-stream"
                return _json(200, stored.obj())
            if method == "GET" and (found := _BATCH_RE.fullmatch(route)):
                batch = self._batches.get(found.group(1))
                if batch is None:
                    return _error(404, f"No such batch: {found.group(1)}", None, "batch_id")
                self._advance(batch)
                return _json(200, batch.fields)
        return None

    def _store(self, filename: str, purpose: str, data: bytes) -> StoredFile:
        stored = StoredFile(_new_id("file-"), filename, purpose, data)
        self._files[stored.id] = stored
        return stored

    def _upload(self, content_type: str, raw: bytes) -> Reply:
        parts = multipart(content_type, raw)
        if "file" not in parts or "purpose" not in parts:
            return _error(400, "A multipart body with 'file' and 'purpose' is required.", None, "file")
        filename, data = parts["file"]
        stored = self._store(filename or "upload.jsonl", parts["purpose"][1].decode(), data)
        return _json(200, stored.obj())

    def _create(self, raw: bytes) -> Reply:
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "The body is not valid JSON.")
        if not isinstance(body, dict):
            return _error(400, "The body must be a JSON object.")
        stored = self._files.get(str(body.get("input_file_id")))
        if stored is None:
            return _error(404, f"No such File object: {body.get('input_file_id')}", None, "input_file_id")
        if body.get("endpoint") != "/v1/chat/completions":
            return _error(400, "The fake only batches /v1/chat/completions.", None, "endpoint")
        if body.get("completion_window") != "24h":
            return _error(400, "completion_window must be '24h'.", None, "completion_window")
        now = int(time.time())
        total = sum(1 for line in stored.data.splitlines() if line.strip())
        fields = {
            "id": _new_id("batch_"),
            "object": "batch",
            "endpoint": body["endpoint"],
            "errors": None,
            "input_file_id": stored.id,
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86400,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "request_counts": {"total": total, "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }
        self._batches[fields["id"]] = Batch(fields)
        return _json(200, fields)

    def _advance(self, batch: Batch) -> None:
        """Move a batch along: in progress until `delay` has passed, then finished once and for all."""
        if batch.done:
            return
        fields = batch.fields
        if fields["in_progress_at"] is None:
            fields.update(status="in_progress", in_progress_at=int(time.time()))
        if time.monotonic() - batch.started >= self._delay:
            batch.done = True
            self._finish(fields)

    def _finish(self, fields: dict[str, Any]) -> None:
        lines = [line for line in self._files[fields["input_file_id"]].data.splitlines() if line.strip()]
        requests: list[tuple[Any, dict[str, Any]]] = []
        errors: list[dict[str, Any]] = []
        for number, line in enumerate(lines, 1):
            try:
                item = json.loads(line)
                requests.append((item["custom_id"], dict(item["body"])))
            except (ValueError, KeyError, TypeError):
                message = "Each line must be a JSON object with custom_id and body."
                errors.append({"code": "invalid_line", "message": message, "param": None, "line": number})
        now = int(time.time())
        if self._outcome == "failed" or errors:
            errors = errors or [
                {
                    "code": "batch_failed",
                    "message": "The batch failed (simulated).",
                    "param": None,
                    "line": None,
                }
            ]
            fields.update(status="failed", failed_at=now, errors={"object": "list", "data": errors})
            return
        expired = self._outcome == "expired"
        output, failed = self._run(requests, len(requests) // 2 if expired else len(requests))
        fields.update(
            status="expired" if expired else "completed",
            request_counts={"total": len(requests), "completed": len(output), "failed": len(failed)},
            output_file_id=self._jsonl(output),
            error_file_id=self._jsonl(failed),
        )
        fields["expired_at" if expired else "completed_at"] = now

    def _run(self, requests: list[tuple[Any, dict[str, Any]]], cut: int) -> tuple[list[Any], list[Any]]:
        """Answer the first `cut` lines (the rest expired): successful lines, then error lines."""
        output: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for index, (custom_id, body) in enumerate(requests):
            line: dict[str, Any] = {"id": _new_id("batch_req_"), "custom_id": custom_id}
            if index >= cut:
                message = "This request could not be executed before the completion window expired."
                error = {"code": "batch_expired", "message": message}
                failed.append({**line, "response": None, "error": error})
                continue
            status, answer = self._answer(body)
            response = {"status_code": status, "request_id": _new_id("req_"), "body": answer}
            (output if status == 200 else failed).append({**line, "response": response, "error": None})
        return output, failed

    def _jsonl(self, lines: list[dict[str, Any]]) -> str | None:
        if not lines:
            return None
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        return self._store("batch_output.jsonl", "batch_output", data).id
