"""Help for every flag (issue 18, item 8): ``alpr <command> --help`` explains each option and
positional of every command and nested subcommand, so a user never has to read the code."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from streams.cli import build_parser


def _commands(
    parser: argparse.ArgumentParser, path: str = "alpr"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every parser under ``parser`` (itself included), with the command line that reaches it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _commands(child, f"{path} {name}")


def _undocumented(parser: argparse.ArgumentParser) -> list[str]:
    """The options and positionals of ``parser`` without a help text (``--help`` itself has one)."""
    return [
        "/".join(action.option_strings) or action.dest
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction)
        and action.help is not argparse.SUPPRESS
        and not (action.help or "").strip()
    ]


def test_the_walk_reaches_nested_subcommands() -> None:
    """The walk itself must see the nested commands, or the test below would pass on nothing."""
    paths = {path for path, _ in _commands(build_parser())}
    assert {"alpr user add", "alpr agency add", "alpr alerts", "alpr roles"} <= paths
    assert len(paths) > 40


def test_every_option_and_positional_has_help() -> None:
    missing = {path: names for path, parser in _commands(build_parser()) if (names := _undocumented(parser))}
    assert missing == {}, f"give these a help= text: {missing}"


def test_every_command_has_a_one_line_help() -> None:
    """``alpr --help`` and ``alpr user --help`` list each subcommand with a line that says what it does."""
    missing = [
        f"{path} {choice.dest}"
        for path, parser in _commands(build_parser())
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for choice in action._choices_actions
        if not (choice.help or "").strip()
    ]
    assert missing == []
