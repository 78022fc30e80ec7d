"""Usage errors found in the arguments before any work, each named with what was meant: a mistyped
command or option, a number where a path goes (a mistyped option's value), a base URL the client could
not use."""

from __future__ import annotations

import argparse
import difflib
import re
import urllib.parse
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from resummarize.errors import UsageError


def unknown_arguments(commands: Mapping[str, argparse.ArgumentParser], command: str | None, extras: list[str]) -> str:
    """The error for arguments no option took: each option-like one named, with the option meant."""
    known = [o for a in commands[command]._actions for o in a.option_strings] if command else []
    named = []
    for token in extras:
        if not token.startswith("-"):
            continue
        guess = difflib.get_close_matches(token.split("=", 1)[0], known, n=1, cutoff=0.6)
        named.append(f"{token} (did you mean {guess[0]}?)" if guess else token)
    if not named:
        return f"unrecognized arguments: {' '.join(extras)}"
    return f"unknown option{'s' if len(named) > 1 else ''} {', '.join(named)}"


def numbers_as_paths(paths: Sequence[Path]) -> None:
    """A number where a path is expected is a mistyped option's value (`--concurency 4`), not a file."""
    for path in paths:
        if re.fullmatch(r"[0-9]+(\.[0-9]+)?", str(path)) and not path.exists():
            raise UsageError(f"{path}: a number where a path is expected (is the option before it mistyped?)")


def base_url(url: str | None) -> None:
    """A base URL the client could not use fails before any request, named: without a scheme the SDK
    would only say, after its retries, that a connection failed."""
    if url is None:
        return
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--base-url (or OPENAI_BASE_URL) {url}: not an http:// or https:// URL "
                         f"(did you mean https://{url.split('://', 1)[-1]}?)")


def command_typo(commands: Collection[str], argv: Sequence[str]) -> str | None:
    """The error for a mistyped command (`repiar`), naming the one meant as a mistyped option is."""
    if not argv or argv[0].startswith("-") or argv[0] in commands:
        return None
    guess = difflib.get_close_matches(argv[0], list(commands), n=1, cutoff=0.6)
    return f"unknown command {argv[0]} (did you mean {guess[0]}?)" if guess else None
