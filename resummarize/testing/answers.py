"""What the fake provider answers: pure functions from a request (and its planned fault) to a reply.

Kept apart from the HTTP server (`resummarize.testing.server`) so the same logic answers chat requests and batch
lines alike.
"""


from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from resummarize.cassette import SECRET_HEADERS
from resummarize.digest.model import FIELDS, canonical
from resummarize.testing.faults import ERRORS, Fault, FaultPlan, error_body

# --- what to answer -------------------------------------------------------------------------------

_ENGLISH = {
    "tldr": "{subject} introduces a simple method that improves accuracy while reducing compute.",
    "motivation": "Existing approaches to this problem are expensive to train and fail to generalise.",
    "method": "The authors design a lightweight model and train it with a new objective on public data.",
    "result": "Experiments on several benchmarks show consistent gains over strong baselines.",
    "conclusion": "The approach is simple, effective and practical, and the code is released.",
}
_CHINESE = {
    "tldr": "该论文提出了一种新方法，在降低计算成本的同时提升了准确率。",
    "motivation": "现有方法的训练代价很高，而且在新场景中的泛化能力不足。",
    "method": "作者设计了一个轻量级模型，并使用新的训练目标在公开数据集上进行训练。",
    "result": "在多个基准上的实验表明，该方法稳定优于强基线模型。",
    "conclusion": "该方法简单有效，具有实际应用价值，代码已经公开。",
}
_OTHER = {
    "German": "Diese Arbeit stellt eine neue Methode vor, die genauer ist und Kosten senkt.",
    "French": "Cet article présente une nouvelle méthode, plus précise et moins coûteuse.",
    "Japanese": "本論文は、計算コストを抑えながら精度を向上させる新しい手法を提案する。",
    "Spanish": "Este artículo presenta un método nuevo que mejora la precisión y reduce el coste.",
    "Russian": "В этой работе предложен новый метод, который повышает точность и снижает затраты.",
    "Korean": "이 논문은 계산 비용을 줄이면서 정확도를 높이는 새로운 방법을 제안한다.",
}
_CODES = {
    "en": "English",
    "zh": "Chinese",
    "de": "German",
    "fr": "French",
    "ja": "Japanese",
    "es": "Spanish",
    "ru": "Russian",
    "ko": "Korean",
}
_LATEX = r" We tune $\beta$ and $\tau$ with a $\frac{1}{2}$ schedule."
_ID_RE = re.compile(r"^\s*arXiv ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
_LANGUAGE_RE = re.compile(r"^\s*Target language:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_ABSTRACT_RE = re.compile(r"<<<ABSTRACT\n(.*?)\nABSTRACT>>>", re.DOTALL)
#: A phrase of another paper's abstract (arXiv 2605.20209), for the swapped faults.
OTHER_EVIDENCE = "Recent diffusion-based policies generate rich and expressive motions but typically rely on"
_OTHER_PAPER = {
    "tldr": "NaP-Control steers a diffusion policy prior with reinforcement learning for fast character control.",
    "motivation": "Gradient-based test-time guidance of diffusion policies is slow and can reduce robustness.",
    "method": "Reinforcement learning manipulates the latent noise of a task-agnostic diffusion policy prior.",
    "result": "NaP attains higher success rates and faster inference while preserving natural motion.",
    "conclusion": "Predicting task-optimized diffusion noise removes iterative guidance during denoising.",
}
_TITLE_RE = re.compile(r"^\s*Title:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)


def language_name(raw: str | None) -> str:
    """`zh`, `zh-CN`, `simplified chinese` -> `Chinese`; no language at all means English."""
    name = (raw or "English").strip()
    code = re.split(r"[-_]", name.lower())[0]
    if code in _CODES:
        return _CODES[code]
    return next((known for known in _CODES.values() if known.lower() in name.lower()), name.title())


def default_fields(paper_id: str | None, title: str, language: str, names: Iterable[str]) -> dict[str, str]:
    """Deterministic, plausible answers in `language` (English for languages without a sentence)."""
    pid = paper_id or "unknown"
    if language in _OTHER:
        return {name: _OTHER[language].format(id=pid) for name in names}
    table = _CHINESE if language == "Chinese" else _ENGLISH
    subject = f'The paper "{title}"' if title else "This paper"
    return {name: table.get(canonical(name), table["tldr"]).format(id=pid, subject=subject) for name in names}


def quote(abstract: str) -> str:
    """A verbatim phrase of the abstract, as the prompt asks for: its first twelve words."""
    return " ".join(abstract.split()[:12])


@dataclass(frozen=True)
class Ask:
    """What one chat request asks for, read from its body by our prompt conventions."""

    paper_id: str | None
    language: str
    title: str
    mode: str  # json_schema | json_object | tools | text
    names: tuple[str, ...]
    tool: str
    prompt_chars: int
    abstract: str = ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(message: Any) -> str:
    content = _dict(message).get("content")
    if isinstance(content, list):
        return "\n".join(str(_dict(part).get("text", "")) for part in content)
    return content if isinstance(content, str) else ""


def _properties(schema: Any) -> tuple[str, ...]:
    return tuple(_dict(_dict(schema).get("properties"))) or FIELDS


def _structure(body: Mapping[str, Any]) -> tuple[str, tuple[str, ...], str]:
    """The structured-output mode a request uses, the field names it wants and the tool to call."""
    fmt = _dict(body.get("response_format"))
    if fmt.get("type") == "json_schema":
        return "json_schema", _properties(_dict(fmt.get("json_schema")).get("schema")), ""
    if fmt.get("type") == "json_object":
        return "json_object", FIELDS, ""
    tools = [_dict(_dict(t).get("function")) for t in body.get("tools") or []]
    if tools and body.get("tool_choice") != "none":
        wanted = _dict(_dict(body.get("tool_choice")).get("function")).get("name")
        chosen = next((t for t in tools if t.get("name") == wanted), tools[0])
        return "tools", _properties(chosen.get("parameters")), str(chosen.get("name", "summary"))
    return "text", FIELDS, ""


def read_ask(body: Mapping[str, Any]) -> Ask:
    """Read the paper id, language and wanted fields (`arXiv ID:`/`Target language:` lines)."""
    messages = body.get("messages")
    messages = messages if isinstance(messages, list) else []
    texts = [_text(m) for m in messages]
    user = "\n".join(t for m, t in zip(messages, texts, strict=True) if _dict(m).get("role") == "user")
    everything = "\n".join(texts)

    def find(pattern: re.Pattern[str]) -> str | None:
        match = pattern.search(user) or pattern.search(everything)
        return match.group(1) if match else None

    mode, names, tool = _structure(body)
    language = language_name(find(_LANGUAGE_RE))
    abstract = _ABSTRACT_RE.search(user)
    return Ask(find(_ID_RE), language, find(_TITLE_RE) or "", mode, names, tool, len(everything),
               abstract.group(1).strip() if abstract else "")


#: What a hostile answer appends to its first field (`MIXED_LANGUAGE`: a sentence in the other language).
HOSTILE: Mapping[Fault, str] = {
    Fault.HOSTILE_IMG: " <img src=x onerror=alert(1)//",
    Fault.HOSTILE_SVG: " <svg onload=alert(1)//",
    Fault.HOSTILE_IFRAME: " <iframe src=javascript:alert(1)//",
    Fault.HOSTILE_COMMENT: " <!--",
    Fault.HUGE_WORD: " " + "A" * 50_000,
    Fault.BIDI: " It works \u202ewell\u202c.",
    Fault.INVENTED_NUMBERS: " It beats 4711 baselines by 93 percent.",
    Fault.LINK_NESTED: " See [a [b] c](https://evil.example/nested).",
    Fault.LINK_ESCAPED: " See [a\\]b](https://evil.example/escaped).",
    Fault.LINK_CODE: " See [`]`](https://evil.example/code).",
    Fault.LINK_IN_PARENS: " \\( [x](https://evil.example/parens) \\)",
    Fault.IMAGE_IN_DOLLARS: " $ ![x](https://evil.example/pixel.png?$)",
    Fault.BARE_URL: " More at https://evil.example/bare now.",
    Fault.WWW_NAME: " More at www.evil-example.com now.",
    Fault.SPELLED_NUMBERS: " It beats the baselines by ninety-seven percent.",
    Fault.REFERENCE_NO_SEMICOLON: " &ltimg src=x onerror=alert(1)&gt",
}
_MIXED = (" 该方法在所有基准上都优于现有方法。", " This method clearly beats every baseline on all of the benchmarks.")


def render_answer(fields: Mapping[str, str], fault: Fault | None, mode: str) -> str:
    """The answer text (content, or tool arguments) with the fault's damage applied."""
    first = next(iter(fields), "tldr")
    if fault is Fault.PLACEHOLDER:
        fields = dict.fromkeys(fields, "Summary generation failed")
    elif fault is Fault.HTML:
        fields = {**fields, first: fields[first] + " <script>alert(1)</script>"}
    elif fault is not None and fault in HOSTILE:
        fields = {**fields, first: fields[first] + HOSTILE[fault]}
    elif fault is Fault.MIXED_LANGUAGE:
        fields = {**fields, first: fields[first] + _MIXED[not fields[first].isascii()]}
    text = json.dumps(fields, ensure_ascii=False, indent=2)
    if fault is Fault.LATEX_BACKSLASHES:  # single backslashes: `\b`eta and `\t`au parse as escapes
        raw = json.dumps(fields[first], ensure_ascii=False)[:-1] + _LATEX + '"'
        text = json.dumps({**fields, first: "\0"}, ensure_ascii=False, indent=2).replace('"\\u0000"', raw)
    elif fault is Fault.MALFORMED_JSON:
        text = text.removesuffix("}").rstrip() + ","
    if fault is Fault.FENCED:
        text = f"Here is the summary you asked for:\n\n```json\n{text}\n```\n\nLet me know if you need more."
    elif mode == "text":
        text = f"```json\n{text}\n```"
    if fault is Fault.LENGTH:
        text = text[: len(text) // 2]
    return "" if fault is Fault.EMPTY else text


def completion(number: int, model: str, ask: Ask, answer: str, fault: Fault | None) -> dict[str, Any]:
    """A chat completion object around `answer`, as the mode asks (content, tool call or refusal)."""
    message: dict[str, Any] = {"role": "assistant", "content": answer, "refusal": None}
    finish = "stop"
    if fault is Fault.REFUSAL:
        message.update(content=None, refusal="I can't help with that")
        answer = message["refusal"]
    elif ask.mode == "tools":
        call = {
            "id": f"call_fake{number:06d}",
            "type": "function",
            "function": {"name": ask.tool, "arguments": answer},
        }
        message.update(content=None, tool_calls=[call])
        finish = "tool_calls"
    if fault is Fault.LENGTH:
        finish = "length"
    prompt, output = max(1, ask.prompt_chars // 4), max(1, len(answer) // 4)
    return {
        "id": f"chatcmpl-fake{number:06d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output},
    }


@dataclass(frozen=True)
class FakeOutcome:
    """The answer to one chat request: an HTTP status and JSON body, plus what led to it."""

    status: int
    body: dict[str, Any]
    ask: Ask
    fault: Fault | None = None


@dataclass(frozen=True)
class Answerer:
    """The configuration of a fake provider that decides answers (no HTTP, no limits)."""

    models: frozenset[str]
    answers: Mapping[str, Mapping[str, str]]
    reject_modes: frozenset[str]
    faults: FaultPlan | None

    def fields(self, ask: Ask, fault: Fault | None) -> dict[str, str]:
        """Hand-written answers verbatim where given, else the defaults (in the wrong language on demand)."""
        names = tuple(n for n in ask.names if n != "evidence")
        if fault is Fault.SWAPPED:
            return {**{name: _OTHER_PAPER.get(canonical(name), _OTHER_PAPER["tldr"]) for name in names},
                    "evidence": OTHER_EVIDENCE}
        if fault is Fault.WRONG_LANGUAGE:
            wrong = "Chinese" if ask.language == "English" else "English"
            fields = default_fields(ask.paper_id, ask.title, wrong, names)
        else:
            given = self.answers.get(ask.paper_id or "", {})
            defaults = default_fields(ask.paper_id, ask.title, ask.language, names)
            fields = {name: given.get(name, defaults[name]) for name in names}
            if "evidence" in given:
                return {**fields, "evidence": given["evidence"]}
        if fault is Fault.FOREIGN_EVIDENCE:
            return {**fields, "evidence": OTHER_EVIDENCE}
        return {**fields, "evidence": quote(ask.abstract)} if ask.abstract else fields

    def answer(self, body: Mapping[str, Any], ask: Ask, number: int) -> FakeOutcome:
        """Validate like a provider would, then consult the fault plan (only for acceptable requests)."""
        model = body.get("model")
        if not isinstance(model, str) or model not in self.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return FakeOutcome(404, error_body(message, "invalid_request_error", "model_not_found"), ask)
        if ask.mode in self.reject_modes:
            return FakeOutcome(400, rejection(ask.mode), ask)
        fault = self.faults.next(ask.paper_id) if self.faults is not None else None
        if fault is not None and fault in ERRORS:
            status, message, type_, code = ERRORS[fault]
            return FakeOutcome(status, error_body(message, type_, code), ask, fault)
        text = render_answer(self.fields(ask, fault), fault, ask.mode)
        return FakeOutcome(200, completion(number, model, ask, text, fault), ask, fault)


def rejection(mode: str) -> dict[str, Any]:
    """What DeepSeek-like providers say to a structured-output mode they do not support."""
    if mode == "tools":
        message = "This tool_choice type is unavailable now"
        return error_body(message, "invalid_request_error", "invalid_request_error", "tool_choice")
    message = "This response_format type is unavailable now"
    return error_body(message, "invalid_request_error", "invalid_request_error", "response_format")


def retry_headers(seconds: float) -> dict[str, str]:
    """`Retry-After` in whole seconds and `retry-after-ms`, as OpenAI sends them."""
    ms = max(1, math.ceil(seconds * 1000))
    return {"retry-after": str(max(1, math.ceil(ms / 1000))), "retry-after-ms": str(ms)}


def duration(seconds: float) -> str:
    """OpenAI's (Go-style) duration for `x-ratelimit-reset-*`: `350ms`, `1s`, `6m0s`, `1h2m3.5s`."""
    ms = max(0, math.ceil(seconds * 1000))
    if ms < 1000:
        return f"{ms}ms"
    minutes, rest = divmod(ms, 60_000)
    hours, minutes = divmod(minutes, 60)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "") + secs


class RequestRecord(BaseModel):
    """One request as the fake saw it; the key is never stored, only whether it matched."""

    time: float
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None
    auth_ok: bool
    paper_id: str | None = None
    mode: str | None = None
    #: 0 when no HTTP response was sent (`timeout`, `reset`).
    status: int
    fault: Fault | None = None


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The request headers as the log keeps them: the headers cassettes scrub are masked, keeping the
    scheme (`Bearer ***`) so a test can still see how the key was sent."""
    def masked(value: str) -> str:
        scheme, _, secret = value.partition(" ")
        return f"{scheme} ***" if secret else "***"

    return {key: masked(value) if key.lower() in SECRET_HEADERS else value for key, value in headers.items()}


def sse(completion: dict[str, Any], request: Mapping[str, Any]) -> bytes:
    """A chat completion as the server-sent events of a streamed one: the message as one delta, then
    the finish reason, then the usage when `stream_options.include_usage` asks for it."""
    base = {key: completion.get(key) for key in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    events = []
    for choice in completion.get("choices") or []:
        message = dict(choice.get("message") or {})
        tool_calls = [{**call, "index": n} for n, call in enumerate(message.pop("tool_calls", None) or [])]
        delta = {k: v for k, v in message.items() if v is not None} | ({"tool_calls": tool_calls} if tool_calls else {})
        events.append(base | {"choices": [{"index": choice.get("index", 0), "delta": delta, "finish_reason": None}]})
        events.append(base | {"choices": [{"index": choice.get("index", 0), "delta": {},
                                           "finish_reason": choice.get("finish_reason")}]})
    options = request.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        events.append(base | {"choices": [], "usage": completion.get("usage")})
    lines = [b"data: " + json.dumps(event, ensure_ascii=False).encode() + b"\n\n" for event in events]
    return b"".join(lines) + b"data: [DONE]\n\n"


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: str = "send"  # send | hold | reset
    #: Seconds between the headers and the body (a streamed answer: the headers come at once), and the
    #: gate the body waits for.
    delay: float = 0.0
    gate: threading.Event | None = None


def json_reply(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> Reply:
    body = json.dumps(obj, ensure_ascii=False).encode()
    return Reply(status, body, {"content-type": "application/json", **(headers or {})})
