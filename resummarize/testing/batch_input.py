"""What makes a batch request invalid, as OpenAI documents it: the create call's metadata and the input
file's lines. Sources are named as in `batches`: [guide] the Batch API guide, [batch-ref] the API
reference, [undocumented] where the documents leave the detail open.
"""

from __future__ import annotations

import json
from typing import Any

#: [guide] "A single batch may include up to 50,000 requests".
MAX_LINES = 50_000
#: [batch-ref] metadata: "up to 16 key-value pairs", keys up to 64 characters, values up to 512.
METADATA_PAIRS, METADATA_KEY, METADATA_VALUE = 16, 64, 512


def metadata_problem(metadata: Any) -> str | None:
    """[batch-ref] metadata: at most 16 pairs, string keys up to 64 characters, string values up to 512."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or len(metadata) > METADATA_PAIRS:
        return f"metadata must be an object of at most {METADATA_PAIRS} pairs."
    for key, value in metadata.items():
        if not isinstance(value, str) or len(key) > METADATA_KEY or len(value) > METADATA_VALUE:
            return f"metadata keys are strings up to {METADATA_KEY} characters, values up to {METADATA_VALUE}."
    return None


def read_input(data: bytes, endpoint: str) -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, Any]]]:
    """The input lines, and what makes the file invalid ([guide] "The file's format"): each line a JSON
    object with `custom_id`, `method`, `url` and `body`; `custom_id` unique in the file ("each request
    must include a unique custom_id"); `url` the batch's endpoint; "Each input file can only include
    requests to a single model"; at most 50,000 requests. The problem codes are the fake's own
    ([undocumented]: the guide lists the rules, not the codes)."""
    requests: list[tuple[str, dict[str, Any]]] = []
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    model: object = None  # the first line's

    def problem(code: str, message: str, number: int, param: str | None = None) -> None:
        problems.append({"code": code, "message": message, "param": param, "line": number})

    lines = [line for line in data.splitlines() if line.strip()]
    if len(lines) > MAX_LINES:
        problem("too_many_requests", f"A batch holds at most {MAX_LINES} requests.", len(lines))
    for number, line in enumerate(lines, 1):
        try:
            item = json.loads(line)
        except ValueError:
            problem("invalid_json_line", "This line is not parseable as valid JSON.", number)
            continue
        if not isinstance(item, dict) or not {"custom_id", "method", "url", "body"} <= item.keys():
            problem("missing_required_parameter", "Each line needs custom_id, method, url and body.", number)
            continue
        custom_id, body = str(item["custom_id"]), item["body"]
        if custom_id in seen:
            problem("duplicate_custom_id", f"The custom_id '{custom_id}' is used more than once.", number,
                    "custom_id")
        if item["url"] != endpoint:
            problem("mismatched_endpoint", f"The url '{item['url']}' is not the batch's endpoint {endpoint}.",
                    number, "url")
        if item["method"] != "POST":
            problem("invalid_method", "Only POST is supported.", number, "method")
        if not isinstance(body, dict):
            problem("invalid_request", "body must be a JSON object.", number, "body")
            continue
        model = body.get("model") if not requests and not seen else model
        if body.get("model") != model:
            problem("mismatched_model", "Each input file can only include requests to a single model.", number,
                    "body.model")
        seen.add(custom_id)
        requests.append((custom_id, dict(body)))
    return requests, problems
