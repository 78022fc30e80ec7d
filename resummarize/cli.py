"""Command line: parse arguments, build the client, call the library, map errors to exit codes."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
from collections.abc import Coroutine, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resummarize import __version__
from resummarize.config import RepairOptions, Settings
from resummarize.detect import FAIL_REASONS
from resummarize.errors import BatchPending, InputError, ResummarizeError, UsageError
from resummarize.plan import FileScan, diagnostic_lines, fails, scan_paths
from resummarize.report import MISSING_WHY, RESTORE_BYPASSES, ScanReport, scan_summary, totals
from resummarize.usage import base_url, command_typo, numbers_as_paths, unknown_arguments

if TYPE_CHECKING:
    import openai

    from resummarize.report import RepairReport

EXIT_CLEAN, EXIT_NEEDS_REPAIR, EXIT_INTERRUPTED = 0, 1, 130


def _judging(parser: argparse.ArgumentParser) -> None:
    """How entries are judged: the options every command that reads digests shares."""
    parser.add_argument("--language", help="digest language: a name (English, Chinese, ...) or ISO 639-1 code; "
                        "default: the language the file name declares (or the name of the JSONL file beside "
                        "a DATE.md), then $LANGUAGE, then the language of the digest's own good entries, "
                        "then English")
    parser.add_argument("--include", action="append", choices=["refused", "mismatched"], default=[],
                        help="also treat compliance refusals (refused) or summaries that seem to belong to "
                        "another entry (mismatched) as needing repair; repeatable")
    parser.add_argument("--placeholder", action="append", default=[], metavar="TEXT",
                        help="an extra placeholder string your pipeline writes (repeatable; end with * for a prefix)")


def _scan_options(scan: argparse.ArgumentParser) -> None:
    _paths(scan)
    _judging(scan)
    scan.add_argument("--json", action="store_true", help="print one JSON object (the scan contract)")
    scan.add_argument("--html", type=Path, metavar="FILE",
                      help="also write a health page: one self-contained HTML file charting each day's findings "
                      "by reason, the worst days first, and what a repair would cost ($MODEL_NAME's price)")
    scan.add_argument("--fail-on", metavar="REASONS",
                      help="comma list of what makes exit code 1: " + ", ".join(FAIL_REASONS)
                      + " (default: every reason but missing papers; refused with --include refused)")


def _paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="digest (.md), enhanced JSONL file, or a folder holding them")


class _Parser(argparse.ArgumentParser):
    """Knows its commands' parsers, so that a mistyped option can be matched against the right ones."""

    commands: dict[str, argparse.ArgumentParser]


def build_parser() -> _Parser:
    parser = _Parser(
        prog="resummarize",
        description="Find and repair broken LLM summaries (placeholders, wrong language, corrupted LaTeX, "
        "dropped papers) in daily arXiv digests.",
        epilog="examples:\n"
        "  resummarize scan data/\n"
        "  resummarize repair data/ --restore-missing --report report.json\n"
        "  resummarize repair digest.md --language English --dry-run\n"
        "  resummarize render data/2026-05-21_AI_enhanced_Chinese.jsonl -o data/2026-05-21.md\n"
        "environment: OPENAI_API_KEY, OPENAI_BASE_URL, MODEL_NAME, LANGUAGE (flags win)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    scan = sub.add_parser("scan", help="report what needs repair (read-only)",
                          description="Report which entries need repair and why. Exit 0: nothing to "
                          "repair; 1: something does (missing papers only with --fail-on missing); "
                          "2: usage or input error.")
    _scan_options(scan)

    repair = sub.add_parser("repair", help="re-ask an LLM for broken entries and rewrite the digest",
                            description="Repair broken entries in place (atomically). Exit 0: nothing left "
                            "to repair; 1: some entries still need repair; 2: usage or input error (nothing "
                            "written); 3: fatal provider error (what was validated is kept); 4: --replay "
                            "found no recorded response; 5: the journal could not be written (answers received are "
                            "written to the digest); 6: the digests were written but the report could not be.")
    _paths(repair)
    _judging(repair)
    _provider_options(repair)
    _repair_only_options(repair)

    worker = sub.add_parser("worker", help="watch a data folder and repair digests as they appear or change",
                            description="Watch DIR (polling) and repair every digest and enhanced JSONL file "
                            "that appears or changes; re-render the markdown digest beside a repaired JSONL "
                            "file. SIGTERM lets requests in flight finish, writes what was validated, exits 0.")
    worker.add_argument("folder", type=Path, metavar="DIR")
    worker.add_argument("--interval", type=_positive_float, default=60.0, metavar="S",
                        help="seconds between polls (default 60)")
    worker.add_argument("--once", action="store_true", help="one pass, then exit (for cron and CI)")
    _judging(worker)
    _provider_options(worker)

    render = sub.add_parser("render", help="render an enhanced JSONL file as a markdown digest",
                            description="Render an enhanced JSONL file in upstream's markdown layout.")
    render.add_argument("file", type=Path, metavar="FILE.jsonl")
    render.add_argument("-o", "--output", type=Path, help="write here (atomically) instead of stdout")
    render.add_argument("--categories", metavar="LIST",
                        help="categories to put first, comma-separated (default $CATEGORIES or 'cs.CV, cs.CL'); "
                             "a digest that -o would overwrite keeps its own order")
    parser.commands = {"scan": scan, "repair": repair, "worker": worker, "render": render}
    return parser


def _provider_options(p: argparse.ArgumentParser) -> None:
    """Where and how to ask: shared by `repair` and `worker`."""
    env = os.environ.get
    p.add_argument("--model", default=env("MODEL_NAME") or "gpt-4o-mini",
                   help="model name (default: $MODEL_NAME or gpt-4o-mini)")
    p.add_argument("--base-url", default=env("OPENAI_BASE_URL") or None,
                   help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL or OpenAI)")
    p.add_argument("--concurrency", type=_positive_int, default=8,
                   help="most requests in flight (default 8; fewer while the server shows overload)")
    p.add_argument("--rpm", type=_positive_int, help="at most this many requests per minute, evenly spaced")
    p.add_argument("--timeout", type=_positive_float, default=60.0, help="seconds per request (default 60)")
    p.add_argument("--max-wait", type=_positive_float, default=600.0, metavar="S",
                   help="longest wait the provider may ask for (Retry-After, x-ratelimit-reset-*); a longer one "
                        "stops the run with exit 3 (default 600)")
    p.add_argument("--strategy", choices=["regenerate", "translate"], default="regenerate",
                   help="regenerate from the abstract, or translate wrong-language summaries (default regenerate)")
    p.add_argument("--restore-missing", action="store_true",
                   help="also generate papers of the raw crawl file that the enhanced file lacks; "
                   + f"{MISSING_WHY}; {RESTORE_BYPASSES}".replace("%", "%%"))
    p.add_argument("--content-check", metavar="URL", default=env("CONTENT_CHECK_URL") or None, help="the "
                   "pipeline's content check (POST {\"text\": ...} -> {\"sensitive\": bool}) on every answer and "
                   "restored abstract before writing; sensitive or failing: blocked (default: $CONTENT_CHECK_URL)")
    p.add_argument("--backup", action="store_true", help="keep the original as FILE.bak")
    p.add_argument("--dry-run", action="store_true",
                   help="show the plan, its tokens and cost live and with --batch; no network, no key")
    p.add_argument("--price", type=_price, metavar="IN,OUT",
                   help="dollars per million input and output tokens of --model, for the dry-run estimate and "
                   "the money a run spent (default: a dated table of list prices: OpenAI, DeepSeek, Qwen, "
                   "Gemini, Kimi)")
    p.add_argument("--cache", type=Path, metavar="FILE",
                   help="SQLite journal of validated answers (default: in the user cache directory)")
    p.add_argument("--prompts", type=Path, metavar="DIR", help="override the prompt templates")
    p.add_argument("--replay", type=Path, metavar="DIR", help="answer from a recorded cassette; no network")


def _repair_only_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, help="write the repaired digest here (single input only)")
    p.add_argument("--report", type=Path, metavar="FILE", help="write the JSON report here")
    p.add_argument("--no-wait", action="store_true",
                   help="skip a file another resummarize run is repairing, instead of waiting for it")
    p.add_argument("--json", action="store_true", help="print the report JSON on stdout")
    p.add_argument("--record", type=Path, metavar="DIR", help="record every provider exchange (cassette)")
    p.add_argument("--batch", action="store_true",
                   help="use the Batch API (half price, slower); rerunning the same command resumes the batch")
    p.add_argument("--wait", action="store_true", help="with --batch: poll until the batch is done")
    p.add_argument("--finish-live", action="store_true", help="with --batch: ask live, at full price, what the "
                   "batch left unanswered (failed, expired, error lines); without it the run stops (exit 1)")
    p.add_argument("--poll-interval", type=_positive_float, default=30.0, metavar="S",
                   help="with --batch --wait: seconds between polls (default 30)")


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _price(value: str) -> tuple[float, float]:
    try:
        rates = tuple(float(part) for part in value.split(","))
    except ValueError:
        rates = ()
    if len(rates) != 2 or min(rates) < 0:
        raise argparse.ArgumentTypeError("give two non-negative numbers, IN,OUT (dollars per million tokens)")
    return rates[0], rates[1]


def _positive_float(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return number


def run_scan(args: argparse.Namespace) -> int:
    settings = _settings(args)
    files: list[FileScan] = []
    for digest, scan in scan_paths(args.paths, settings):
        for line in diagnostic_lines(digest):
            print(line, file=sys.stderr)
        files.append(scan)
    total = totals(files)
    if args.html is not None:
        from resummarize.health import write_page
        write_page(args.html, args.paths, files, settings)
    if args.json:
        print(ScanReport(files=files, totals=total).model_dump_json(indent=2))
    else:
        print(scan_summary(files, total))
    return EXIT_NEEDS_REPAIR if fails(files, _fail_on(args.fail_on)) else EXIT_CLEAN


def _fail_on(value: str | None) -> frozenset[str] | None:
    """The reasons `--fail-on` names, checked against the known ones."""
    if value is None:
        return None
    reasons = frozenset(part.strip() for part in value.split(",") if part.strip())
    unknown = sorted(reasons - set(FAIL_REASONS))
    if unknown or not reasons:
        raise UsageError(f"--fail-on: unknown reason {', '.join(unknown) or repr(value)} "
                         f"(use a comma list of {', '.join(FAIL_REASONS)})")
    return reasons


def run_render(args: argparse.Namespace) -> int:
    from resummarize.digest import load_digest
    from resummarize.digest.render import category_order, render_markdown
    from resummarize.writer import write_atomic

    digest = load_digest(args.file)
    if digest.format != "jsonl":
        raise InputError(args.file, "render takes an enhanced JSONL file")
    order = category_order(args.categories, args.output, os.environ.get("CATEGORIES"))
    text = render_markdown(digest, order)  # type: ignore[arg-type]
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomic(args.output, text.encode("utf-8"))
    return EXIT_CLEAN


def run_repair(args: argparse.Namespace, settings: Settings) -> int:
    from resummarize.engine import repair
    from resummarize.progress import Progress
    from resummarize.provider.prompts import load_prompts
    from resummarize.report import table
    from resummarize.worker import stop_on_signals

    if args.record and args.replay:
        raise UsageError("--record and --replay cannot be used together")
    options = _options(args, settings)
    prompts = load_prompts(args.prompts)
    key = _api_key(args, args.paths)
    with ExitStack() as stack:
        if args.record or args.replay:
            from resummarize.cassette import cassette

            stack.enter_context(cassette(args.record or args.replay, "record" if args.record else "replay"))
        client = None if args.dry_run else _client(key, args.base_url, args.timeout)
        bar = stack.enter_context(Progress.shown(skip_locked=args.no_wait, timeout=args.timeout))
        interrupted = stack.enter_context(stop_on_signals(stop := threading.Event(), bar.stopping))
        work = repair(args.paths, options, client=client, journal=args.cache, prompts=prompts,
                      on_file=bar.read, on_plan=bar.planned, on_result=bar.result, on_lock=bar.locked,
                      on_wait=bar.say, stop=stop)
        report = asyncio.run(_closing(work, client))
    if args.json:
        print(report.to_json(), end="")
    print(table(report, dry_run=args.dry_run), file=sys.stderr)
    if interrupted:
        print("resummarize: interrupted; every answer received is journaled and written", file=sys.stderr)
        return EXIT_INTERRUPTED
    left = report.totals.needs_repair if args.dry_run else report.totals.failed + report.totals.blocked
    return EXIT_NEEDS_REPAIR if left else EXIT_CLEAN


async def _closing(work: Coroutine[Any, Any, RepairReport], client: openai.AsyncOpenAI | None) -> RepairReport:
    """Run the job, then close the client's connections inside the same event loop."""
    try:
        return await work
    finally:
        if client is not None:
            await client.close()


def _options(args: argparse.Namespace, settings: Settings) -> RepairOptions:
    return RepairOptions(
        settings=settings, model=args.model, strategy=args.strategy, concurrency=args.concurrency,
        rpm=args.rpm, timeout=args.timeout, max_wait=args.max_wait, dry_run=args.dry_run,
        out=getattr(args, "out", None),
        backup=args.backup, restore_missing=args.restore_missing, batch=getattr(args, "batch", False),
        content_check=args.content_check,
        wait=getattr(args, "wait", False), poll_interval=getattr(args, "poll_interval", 30.0),
        finish_live=getattr(args, "finish_live", False),
        report=getattr(args, "report", None), wait_for_lock=not getattr(args, "no_wait", False),
        prices={args.model: args.price} if args.price else {},
    )


def _api_key(args: argparse.Namespace, paths: Sequence[Path] = ()) -> str | None:
    """The key, when one is needed; the inputs are looked at first, so that an empty or mistyped folder
    is what a user without a key hears about."""
    key = os.environ.get("OPENAI_API_KEY")
    from resummarize.provider.wire import split_credentials

    if not (key or args.dry_run or args.replay or split_credentials(args.base_url)[1]):
        from resummarize.digest import iter_digest_paths

        for _ in iter_digest_paths(paths):
            pass
        raise UsageError("OPENAI_API_KEY is not set (use --replay DIR to answer from a cassette, or --dry-run)")
    return key


def run_worker(args: argparse.Namespace, settings: Settings) -> int:
    from resummarize.journal import default_path
    from resummarize.provider.prompts import load_prompts
    from resummarize.worker import run_worker as watch

    options = _options(args, settings)
    if not args.folder.is_dir():
        raise UsageError(f"{args.folder}: not a folder")
    key = _api_key(args)
    with ExitStack() as stack:
        if args.replay:
            from resummarize.cassette import cassette

            stack.enter_context(cassette(args.replay, "replay"))
        return watch(
            args.folder, options, make_client=lambda: _client(key, args.base_url, args.timeout),
            journal_path=args.cache or default_path(), prompts=load_prompts(args.prompts),
            interval=args.interval, once=args.once, log=lambda line: print(line, file=sys.stderr, flush=True),
        )


def _client(key: str | None, base_url: str | None, timeout: float) -> openai.AsyncOpenAI:
    from resummarize.provider.wire import client

    return client(key, base_url, timeout)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        language=args.language or None,
        environment_language=os.environ.get("LANGUAGE"),
        extra_placeholders=list(args.placeholder),
        include_refused="refused" in args.include,
        include_mismatched="mismatched" in args.include,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    typo = command_typo(parser.commands, argv)
    if typo:
        parser.error(typo)
    args, extras = parser.parse_known_args(argv)
    if extras:
        command = getattr(args, "command", None)
        (parser.commands[command] if command else parser).error(unknown_arguments(parser.commands, command, extras))
    try:
        numbers_as_paths(getattr(args, "paths", []))
        base_url(getattr(args, "base_url", None))
        if getattr(args, "language", None):  # `render` has no --language
            from resummarize.language import resolve

            resolve(args.language)
        if args.command == "scan":
            return run_scan(args)
        if args.command == "render":
            return run_render(args)
        if args.command == "worker":
            return run_worker(args, _settings(args))
        return run_repair(args, _settings(args))
    except BatchPending as exc:  # not a failure: the provider is still working
        print(f"resummarize: {exc}", file=sys.stderr)
        return exc.exit_code
    except ResummarizeError as exc:
        print(f"resummarize: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("resummarize: interrupted; validated answers are in the journal", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_CLEAN

