"""The README stays true: its set-up commands exist, and every option the CLI has is documented."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from resummarize.cli import build_parser

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings if flag.startswith("--")} - {
        "--help", "--version"
    }


def test_every_option_of_every_command_is_in_the_readme() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    missing = {f"{name} {flag}" for name, sub in commands.items() for flag in _options(sub) if flag not in README}
    assert missing == set()


def test_exactly_two_setup_commands_that_name_real_files() -> None:
    setup = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", setup, re.S)
    assert len(commands) == 2
    first = commands[0]
    assert "pip install" in first and "--replay cassettes/seed" in first
    for path in re.findall(r"(seeds/\S+|cassettes/\S+)", first):
        assert (Path(__file__).resolve().parent.parent / path).exists(), path
    assert commands[1] == "python -m pip install -e '.[test]' && python -m pytest"


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return dict(next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices)


def test_the_options_table_names_the_commands_that_take_each_option() -> None:
    """Rows whose second column is a plain list of commands: exactly the commands whose parser has it."""
    commands = _commands()
    checked = 0
    for flags, where in re.findall(r"^\| (`-[^|]*) \| ([a-z, ]+) \|", README, re.M):
        listed = {name.strip() for name in where.split(",")}
        for flag in re.findall(r"`(--?[a-z-]+)", flags):
            having = {name for name, sub in commands.items() if flag in sub._option_string_actions}
            assert having == listed, flag
            checked += 1
    assert checked >= 15


def test_the_language_help_names_every_source_the_readme_lists() -> None:
    """README: --language, else the file name, else the JSONL beside a DATE.md, else $LANGUAGE, else the
    digest's own good entries, else English."""
    for name, sub in _commands().items():
        if name == "render":
            continue
        text = " ".join(next(a for a in sub._actions if "--language" in a.option_strings).help.split())
        for source in ("file name", "beside a DATE.md", "$LANGUAGE", "good entries", "English"):
            assert source in text, (name, source)
