"""Helpers the ``alpr`` command modules share: times and dates from the command line, the signed-in
user (P18) and the justification of a search (P15-P22)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias

from streams.access.principal import Principal
from streams.errors import AccessDenied, ConfigError, NotSignedIn
from streams.settings import Settings

SAMPLES = Path(__file__).resolve().parent.parent.parent / "samples"

#: The ``sub`` each command module's ``register`` adds its commands to.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _when(text: str, name: str) -> datetime:
    """An RFC 3339 time (a naive one is UTC), or ``now``, or ``now-2h`` style."""
    from streams.errors import ConfigError
    from streams.hotlists.feeder import parse_duration

    if text.startswith("now"):
        rest = text[3:]
        return _now() - parse_duration(rest[1:]) if rest.startswith("-") else _now()
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(
            f"{name} {text!r}: use an RFC 3339 time such as 2026-11-23T08:00:00Z, or now-2h"
        ) from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def session_path(settings: Settings) -> Path:
    """Where ``alpr login`` keeps the session token: owner-only (0600 in a 0700 directory)."""
    return settings.session_file or settings.state_dir / "session"


def save_session(settings: Settings, token: str, name: str, expires_at: datetime) -> Path:
    """Write the session token owner-only from the moment the file exists (0600 in 0700, P18)."""
    import orjson

    from streams.access.secretbox import private_file

    path = session_path(settings)
    private_file(path, orjson.dumps({"token": token, "user": name, "expires_at": expires_at.isoformat()}))
    return path


def load_token(settings: Settings) -> str | None:
    """The saved session token, or None (not signed in); a file others may read is refused."""
    import orjson

    path = session_path(settings)
    try:
        stat = path.stat()
        mode = stat.st_mode & 0o777
        if mode & 0o077:
            raise AccessDenied(
                f"{path} is open to others (mode {mode:o}), so its session may have been copied: "
                "run 'alpr logout', then 'alpr login' again"
            )
        if stat.st_uid != os.getuid():
            raise AccessDenied(f"{path} belongs to another account: run 'alpr login' as yourself")
        return str(orjson.loads(path.read_bytes())["token"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise AccessDenied(f"{path} is not a session file: run 'alpr login' again") from exc


async def resolve_principal(settings: Settings, token: str | None, action: str | None) -> Principal:
    """The principal ``token`` stands for, checked against the directory and the sign-in state as
    they are now (a disabled user's session ends at once, P18), allowed ``action`` (P21) when one is
    given; a person's session is noted as used (the idle lock)."""
    from streams.access.audit import record_access
    from streams.access.authn import Authenticator, service_principal
    from streams.access.permissions import require

    if token is None:
        raise NotSignedIn("sign in first: alpr login (or ALPR_SERVICE_TOKEN for a service account)")
    if token.startswith("alpr-svc-"):
        service = await service_principal(settings, token)
        if action is not None:
            require(service, action)
        return service
    async with Authenticator(settings) as auth:
        await auth.caught_up()
        now = _now()
        principal = auth.principal(token, now)
        if action is not None:
            try:
                require(principal, action)
            except AccessDenied as exc:
                # P15: a signed-in person refused by role is on the audit trail too
                await record_access(
                    settings,
                    principal.audit(now, action, {"channel": "cli"}, 0, decision="refused", reason=str(exc)),
                )
                raise
        if principal.kind == "user":
            await auth.touch(token, now)
        return principal


def _sign_in(settings: Settings, args: argparse.Namespace, action: str) -> Principal:
    """P18, P21: the principal of the saved session (``alpr login``), or of the service token in
    ALPR_SERVICE_TOKEN (automation), if it may do ``action``; the session's use is noted (idle lock).
    Refused (exit 2) before the command reads or changes anything."""
    token = settings.service_token or load_token(settings)
    return asyncio.run(resolve_principal(settings, token, action))


def can_ask(*questions: tuple[str, str]) -> None:
    """Refuse (exit 2, nothing changed) when an answer would have to be typed but no one can type it:
    a ``(variable, what)`` question's variable is unset and standard input is not a terminal (a
    script, a pipe, cron, CI). Said plainly, naming every variable to set, instead of an EOFError
    traceback from ``input``/``getpass``."""
    unset = [(variable, what) for variable, what in questions if not os.environ.get(variable)]
    if unset and (sys.stdin is None or not sys.stdin.isatty()):
        whats, variables = [f"the {what}" for _, what in unset], [variable for variable, _ in unset]
        raise ConfigError(
            f"no terminal to ask for {_listed(whats)}: set {_listed(variables)} "
            "(or run the command in a terminal); nothing was changed"
        )


def _listed(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join(filter(None, [", ".join(items[:-1]), items[-1]]))


def ask(variable: str, what: str, prompt: str, *, secret: bool = False) -> str:
    """``variable``'s value, else typed at the terminal (without echo when ``secret``, P18); refused
    with what to set when there is no terminal or the input ends (Ctrl-D) before an answer."""
    import getpass

    given = os.environ.get(variable)
    if given:
        return given
    can_ask((variable, what))
    try:
        return getpass.getpass(prompt) if secret else input(prompt)
    except EOFError as exc:
        raise ConfigError(
            f"no {what} given (the input ended): type it, or set {variable}; nothing was changed"
        ) from exc


def asks(parser: argparse.ArgumentParser, *questions: tuple[str, str]) -> None:
    """The command will ask for these (variable, what) pairs: :func:`streams.cli.main` checks that
    each can be answered (:func:`can_ask`) before signing in or reading anything."""
    parser.set_defaults(asks=questions)


def _now() -> datetime:
    return datetime.now(UTC)


def _day(text: str, name: str) -> date:
    from streams.errors import ConfigError

    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"{name} {text!r}: use a date such as 2026-11-02") from exc


def _needs(parser: argparse.ArgumentParser, action: str) -> None:
    """The command acts for a signed-in person (``alpr login``) or a service account, whose role
    must allow ``action`` (streams/access/permissions.py); ``args.signed_in`` is the principal."""
    parser.set_defaults(needs=action)


def _justification(parser: argparse.ArgumentParser) -> None:
    """P15-P17: why, what crime, which case; for another agency, the Commander's approval."""
    parser.add_argument("--case", required=True, help="case or incident number (P16)")
    parser.add_argument("--crime-type", required=True, help="the crime investigated, e.g. 'PC 211 robbery'")
    parser.add_argument("--on-behalf-of", help="agency id, when searching for another agency (P17)")
    parser.add_argument(
        "--commander",
        help="directory user name of the Commander who approved searching for an agency without access (P17)",
    )
    parser.add_argument("--approved-on", help="date of the Commander's approval (YYYY-MM-DD)")


def register_commands(
    sub: Subparsers, commands: dict[str, Callable[[Subparsers], None]], names: tuple[str, ...]
) -> None:
    """Add the named commands of one module (all of them when none is named), in the order given."""
    for name in names or tuple(commands):
        commands[name](sub)


def run_timer(
    settings: Settings,
    args: argparse.Namespace,
    command: str,
    action: str,
    once: Callable[[Principal, timedelta], Coroutine[Any, Any, None]],
) -> int:
    """A retention-style command: once as the signed-in principal, or with ``--every`` repeatedly
    as the retention service account (never a person's session), re-resolved before every run so a
    disabled account stops the timer at once (P18). ``once`` gets the time to its next run (zero
    when it runs once): what will be due by then may be done now."""
    from streams.hotlists.feeder import parse_duration

    if args.every is None:
        asyncio.run(once(args.signed_in, timedelta(0)))
        return 0
    if args.signed_in.kind != "service":
        raise ConfigError(
            f"{command} --every runs as the retention service account (ALPR_SERVICE_TOKEN), "
            "not in a person's session; run it without --every to sweep once"
        )
    every, token = parse_duration(args.every), settings.service_token

    async def repeat() -> None:
        while True:
            await once(await resolve_principal(settings, token or load_token(settings), action), every)
            await asyncio.sleep(every.total_seconds())

    try:
        asyncio.run(repeat())
    except KeyboardInterrupt:
        pass
    return 0
