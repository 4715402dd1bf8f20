"""``alpr login``, ``logout``, ``whoami``, ``roles``, ``bootstrap``, ``agency``, ``user`` and
``service``: who may use the system and how the command line signs in (P18, P19, P21).

Every directory change is a use case of :class:`~streams.access.directory.DirectoryStore` acting for
the signed-in administrator (``args.signed_in``): nobody names the actor on the command line, so
nobody can act as someone else by typing another name. Only :func:`_bootstrap` works without a
session, and only while the directory has no users.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from streams.cli.common import (
    Subparsers,
    _day,
    _needs,
    _now,
    ask,
    asks,
    can_ask,
    load_token,
    register_commands,
    resolve_principal,
    save_session,
    session_path,
)
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.access.directory import User


def _secret_input(variable: str, prompt: str, *, twice: bool = False) -> str:
    """A password from ``variable`` (scripts, tests) or typed without echo (P18); a new one twice.
    Without a terminal it is refused with the variable to set (:func:`~streams.cli.common.ask`)."""
    from streams.errors import ConfigError

    first = ask(variable, "password", prompt, secret=True)
    if twice and not os.environ.get(variable) and ask(variable, "password", "again: ", secret=True) != first:
        raise ConfigError("the two passwords differ: nothing was changed, run the command again")
    return first


def _print_enrolment(settings: Settings, user: User, secret: str) -> None:
    """The authenticator secret, shown this once (only its sealed form is stored, P18)."""
    from streams.access.totp import provisioning_uri

    print(f"authenticator secret for {user.name} (shown once, enrol it now): {secret}")
    print(f"  {provisioning_uri(secret, user.name, f'ALPR {settings.profile.agency}')}")


# -- signing in ---------------------------------------------------------------------------------


def _login(settings: Settings, args: argparse.Namespace) -> int:
    """Password and authenticator code (P18) against the shared sign-in state: a code signs in once
    system-wide, failures lock the user at this source for everyone. The token goes to an owner-only
    file; the password and code are never stored."""
    import socket

    from streams.access.authn import Authenticator

    # Everything that may have to be typed, checked at once: a script learns every variable to set.
    can_ask(
        *([] if args.user else [("ALPR_USER", "user name")]),
        ("ALPR_PASSWORD", "password"),
        ("ALPR_TOTP_CODE", "authenticator code"),
    )
    name = args.user or ask("ALPR_USER", "user name", "user: ")
    password = _secret_input("ALPR_PASSWORD", f"password for {name}: ")
    code = ask("ALPR_TOTP_CODE", "authenticator code", "authenticator code: ")

    async def sign_in() -> tuple[str, str, str]:
        async with Authenticator(settings) as auth:
            signed = await auth.sign_in(
                name, password, code.strip(), source=f"cli:{socket.gethostname()}", channel="cli", now=_now()
            )
        path = save_session(settings, signed.token, signed.principal.name, signed.expires_at)
        return signed.principal.label, signed.expires_at.isoformat(timespec="seconds"), str(path)

    label, expires, path = asyncio.run(sign_in())
    print(f"signed in as {label}")
    print(
        f"session until {expires} (locks after {settings.session_idle_minutes} min idle); "
        f"token in {path} (owner-only); alpr logout ends it"
    )
    return 0


def _logout(settings: Settings, args: argparse.Namespace) -> int:
    """End the session everywhere (on the signins topic) and delete the file."""
    from streams.access.authn import Authenticator
    from streams.errors import AccessDenied

    path = session_path(settings)
    try:
        token = load_token(settings)
    except AccessDenied:
        token = None  # a file others could read, or not a session: it is deleted all the same
    if token is None and not path.exists():
        print("not signed in")
        return 0

    async def sign_out(token: str) -> None:
        async with Authenticator(settings) as auth:
            await auth.caught_up()
            await auth.sign_out(token, _now())

    if token is not None:
        asyncio.run(sign_out(token))
    path.unlink(missing_ok=True)
    print(f"signed out; {path} deleted")
    return 0


def _whoami(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.permissions import PERMISSIONS

    token = settings.service_token or load_token(settings)
    principal = asyncio.run(resolve_principal(settings, token, None))
    kind = "service account" if principal.kind == "service" else "signed in as"
    details = [f"rank {principal.rank}"] if principal.rank else []
    details += [f"assignment {principal.assignment}"] if principal.assignment else []
    print(f"{kind} {principal.label}" + (f"; {', '.join(details)}" if details else ""))
    print(f"may: {', '.join(sorted(PERMISSIONS.get(principal.role, frozenset()))) or 'nothing'}")
    return 0


def _roles(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.permissions import roles_table

    print(roles_table())
    return 0


# -- the directory ------------------------------------------------------------------------------


def _bootstrap(settings: Settings, args: argparse.Namespace) -> int:
    """The home agency and the first administrator, only while the directory has no users; the
    administrator records their own training (P21) so that they can sign in."""
    from streams.access.directory import Agency, DirectoryStore

    store = DirectoryStore(settings)
    if asyncio.run(store.load()).users:  # before asking for a password that would not be used
        from streams.errors import AccessDenied

        raise AccessDenied(
            "the directory has users already: a signed-in administrator adds users (alpr user add)"
        )
    password = _secret_input("ALPR_PASSWORD", f"new password for {args.admin}: ", twice=True)
    # P19: the home agency's state is the deployment profile's unless said otherwise; a home agency
    # in another state than its profile's law is refused by the directory.
    state = (args.agency_state or settings.profile.state).upper()
    home = Agency(args.agency_id, args.agency_name, args.agency_type, state, "home")
    now = _now()

    async def bootstrap() -> tuple[User, str]:
        user, secret = await store.bootstrap(
            home, args.admin, password, display=args.display, badge=args.badge, rank=args.rank, now=now
        )
        completed = (
            _day(args.completed, "--completed").isoformat() if args.completed else now.date().isoformat()
        )
        await store.record_training(user.name, args.course, completed, user.principal(), now)
        return user, secret

    user, secret = asyncio.run(bootstrap())
    print(f"bootstrapped {home.agency_id} ({home.name}) and administrator {user.name} (badge {user.badge})")
    _print_enrolment(settings, user, secret)
    print(f"next: alpr login --user {user.name}")
    return 0


def _agency_add(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.directory import Agency, DirectoryStore

    agency = Agency(
        args.id,
        args.name,
        args.type,
        (args.state or settings.profile.state).upper(),
        args.agreement,
        args.agreement_date,
        tuple(args.shares_with or ()),
    )
    asyncio.run(DirectoryStore(settings).add_agency(agency, args.signed_in, _now()))
    sharing = f"; shares its data with {', '.join(agency.shares_with)}" if agency.shares_with else ""
    terms = f"{args.type}, {agency.state}, agreement {args.agreement}"
    print(f"added agency {args.id} ({args.name}, {terms}){sharing}")
    return 0


def _agency_list(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.directory import DirectoryStore

    directory = asyncio.run(DirectoryStore(settings).load())
    for agency in sorted(directory.agencies.values(), key=lambda a: a.agency_id):
        shares = f" shares with {','.join(agency.shares_with)}" if agency.shares_with else ""
        print(
            f"{agency.agency_id:<12} {agency.name:<40} {agency.type:<22} {agency.state} "
            f"{agency.agreement}{shares}"
        )
    return 0


def _user_add(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.directory import DirectoryStore

    password = _secret_input("ALPR_NEW_PASSWORD", f"password for {args.name}: ", twice=True)
    user, secret = asyncio.run(
        DirectoryStore(settings).add_user(
            args.name,
            password,
            display=args.display,
            badge=args.badge,
            agency=args.agency,
            role=args.role,
            by=args.signed_in,
            now=_now(),
            rank=args.rank,
            assignment=args.assignment,
        )
    )
    print(f"added {user.name} ({user.role}, {user.agency}, badge {user.badge})")
    _print_enrolment(settings, user, secret)
    if not user.trained:
        print(
            f"before the first sign-in, record the training (P21): alpr user train {user.name} --course ..."
        )
    return 0


def _user_train(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.directory import DirectoryStore

    completed = _day(args.completed, "--completed").isoformat()
    asyncio.run(
        DirectoryStore(settings).record_training(args.name, args.course, completed, args.signed_in, _now())
    )
    print(f"recorded {args.course} ({completed}) for {args.name}")
    return 0


def _user_active(active: bool) -> Callable[[Settings, argparse.Namespace], int]:
    def run(settings: Settings, args: argparse.Namespace) -> int:
        from streams.access.directory import DirectoryStore

        asyncio.run(DirectoryStore(settings).set_active(args.name, active, args.signed_in, _now()))
        print(f"enabled {args.name}" if active else f"disabled {args.name}; their sessions ended (P18)")
        return 0

    return run


def _user_role(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.directory import DirectoryStore

    user = asyncio.run(
        DirectoryStore(settings).set_role(args.name, args.role, args.signed_in, _now(), rank=args.rank)
    )
    rank = f", rank {user.rank}" if user.rank else ""
    print(f"{user.name} is now {user.role}{rank}; their sessions ended: they sign in again")
    return 0


def _user_list(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.directory import DirectoryStore

    directory = asyncio.run(DirectoryStore(settings).load())
    for user in sorted(directory.users.values(), key=lambda u: u.name):
        training = ", ".join(f"{c} {d}" for c, d in user.training) or "NO TRAINING ON RECORD"
        state = "" if user.active else "  DISABLED"
        rank = f" {user.rank}" if user.rank else ""
        print(
            f"{user.name:<16} {user.role:<13} {user.agency:<10} badge {user.badge:<8}{rank} {training}{state}"
        )
    for account in sorted(directory.services.values(), key=lambda a: a.name):
        state = "" if account.active else "  DISABLED"
        print(f"{account.name:<16} {account.role:<13} {account.agency:<10} service account{state}")
    return 0


def _service_add(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.directory import DirectoryStore

    token = asyncio.run(
        DirectoryStore(settings).add_service(args.name, args.role, args.agency, args.signed_in, _now())
    )
    print(f"added service account {args.name} ({args.role}, {args.agency})")
    print("its token (shown once; give it to the service as ALPR_SERVICE_TOKEN, never to a person):")
    print(f"  {token}")
    return 0


# -- the parser ---------------------------------------------------------------------------------

#: Checked by the use case against streams.access.permissions (not imported here: `alpr --help` fast).
_PEOPLE_ROLES = "dispatcher, officer, analyst, lieutenant, administrator, auditor or external (alpr roles)"


def _add_login(sub: Subparsers) -> None:
    p = sub.add_parser(
        "login",
        help="sign in: password and authenticator code (ALPR_PASSWORD / ALPR_TOTP_CODE for scripts)",
        description="Keeps the session token in ALPR_SESSION_FILE or <state dir>/session, owner-only "
        "(0600 in a 0700 directory), until it expires, locks after the idle time, or 'alpr logout'.",
    )
    p.add_argument("--user", help="your user name (default: ALPR_USER, else asked)")
    p.set_defaults(func=_login)


def _add_logout(sub: Subparsers) -> None:
    p = sub.add_parser("logout", help="end the session (everywhere) and delete its file")
    p.set_defaults(func=_logout)


def _add_whoami(sub: Subparsers) -> None:
    p = sub.add_parser("whoami", help="who the saved session (or ALPR_SERVICE_TOKEN) is, and what it may do")
    p.set_defaults(func=_whoami)


def _add_roles(sub: Subparsers) -> None:
    p = sub.add_parser("roles", help="the permission table: which role may do which action (P21)")
    p.set_defaults(func=_roles)


def _add_bootstrap(sub: Subparsers) -> None:
    p = sub.add_parser(
        "bootstrap",
        help="the home agency and the first administrator: only while the directory has no users",
        description="Password from ALPR_PASSWORD or asked twice. Prints the administrator's "
        "authenticator secret once. Refused (exit 2) once the directory has users.",
    )
    p.add_argument("--agency-id", required=True, help="the home department's id (its ORI)")
    p.add_argument("--agency-name", required=True, help="the home department's name as shown")
    p.add_argument("--agency-type", default="municipal_police", help="municipal_police, county_sheriff, ...")
    p.add_argument(
        "--agency-state",
        help="the home agency's state (default: the profile's, ALPR_PROFILE); its law sets the sharing "
        "rule and the retention caps (P19, P11)",
    )
    p.add_argument("--admin", required=True, help="the administrator's user name")
    p.add_argument("--display", required=True, help="the administrator's name as shown")
    p.add_argument("--badge", required=True, help="the administrator's badge number")
    p.add_argument("--rank", help="the administrator's rank, e.g. lieutenant")
    p.add_argument(
        "--course",
        required=True,
        help="the ALPR training the administrator completed (P21: needed to sign in)",
    )
    p.add_argument("--completed", help="when, YYYY-MM-DD (default today)")
    asks(p, ("ALPR_PASSWORD", "administrator's password"))
    p.set_defaults(func=_bootstrap)


def _add_agency(sub: Subparsers) -> None:
    p = sub.add_parser("agency", help="agencies and sharing agreements (P19)")
    ag = p.add_subparsers(dest="action", required=True)
    g = ag.add_parser(
        "add",
        help="register an agency: law enforcement the home state's law lets receive ALPR data "
        "(administrators, P19)",
    )
    g.add_argument("id", help="agency id (its ORI where it has one)")
    g.add_argument("--name", required=True, help="the agency's name as shown")
    g.add_argument(
        "--type", required=True, help="municipal_police, county_sheriff, state_law_enforcement, ..."
    )
    g.add_argument("--state", help="two letters (default: the home state, the profile's)")
    g.add_argument(
        "--agreement",
        choices=["home", "signed", "none"],
        default="none",
        help="the sharing agreement on file: signed (data may be shared, P19), none (default), home",
    )
    g.add_argument("--agreement-date", help="when the sharing agreement was signed")
    g.add_argument(
        "--shares-with",
        action="append",
        metavar="ID",
        help="an agency whose users see this agency's alerts under an agreement (P19; repeatable)",
    )
    _needs(g, "directory.admin")
    g.set_defaults(func=_agency_add)
    g = ag.add_parser("list", help="the agencies (administrators, auditors)")
    _needs(g, "directory.view")
    g.set_defaults(func=_agency_list)


def _add_user(sub: Subparsers) -> None:
    p = sub.add_parser("user", help="users: individual credentials, role, agency, training (P18, P21)")
    us = p.add_subparsers(dest="action", required=True)
    u = us.add_parser(
        "add", help="add a user (password from ALPR_NEW_PASSWORD or asked twice); prints the TOTP secret once"
    )
    u.add_argument("name", help="the new user's sign-in name")
    u.add_argument("--role", required=True, help=_PEOPLE_ROLES)
    u.add_argument("--agency", required=True, help="the user's agency id (alpr agency list)")
    u.add_argument("--display", required=True, help="the name shown on what the user does")
    u.add_argument("--badge", required=True, help="the user's badge number (P2, P15: on what they do)")
    u.add_argument("--rank", help="e.g. officer, sergeant, lieutenant (P2: lieutenant or above approves)")
    u.add_argument("--assignment", help="unit or division (P2: recorded on entries they make)")
    _needs(u, "directory.admin")
    asks(u, ("ALPR_NEW_PASSWORD", "new user's password"))
    u.set_defaults(func=_user_add)
    u = us.add_parser("train", help="record completed ALPR training (P21): required before sign-in")
    u.add_argument("name", help="the user's name")
    u.add_argument("--course", required=True, help="the ALPR training course completed")
    u.add_argument("--completed", required=True, help="date, e.g. 2026-11-02")
    _needs(u, "directory.admin")
    u.set_defaults(func=_user_train)
    u = us.add_parser("disable", help="disable a user: their sessions end everywhere (P18)")
    u.add_argument("name", help="the user's name")
    _needs(u, "directory.admin")
    u.set_defaults(func=_user_active(False))
    u = us.add_parser("enable", help="enable a disabled user")
    u.add_argument("name", help="the user's name")
    _needs(u, "directory.admin")
    u.set_defaults(func=_user_active(True))
    u = us.add_parser("role", help="change a user's role (and rank): their sessions end")
    u.add_argument("name", help="the user's name")
    u.add_argument("--role", required=True, help=_PEOPLE_ROLES)
    u.add_argument("--rank", help="the new rank, e.g. lieutenant (P2: lieutenant or above approves)")
    _needs(u, "directory.admin")
    u.set_defaults(func=_user_role)
    u = us.add_parser("list", help="users and service accounts (administrators, auditors)")
    _needs(u, "directory.view")
    u.set_defaults(func=_user_list)


def _service_active(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.directory import DirectoryStore

    active = args.action == "enable"
    asyncio.run(DirectoryStore(settings).set_service_active(args.name, active, args.signed_in, _now()))
    print(f"service account {args.name} {'enabled' if active else 'disabled: its token no longer works'}")
    return 0


def _add_service(sub: Subparsers) -> None:
    p = sub.add_parser("service", help="service accounts for automation (feed syncs, CAD): never a person's")
    sv = p.add_subparsers(dest="action", required=True)
    s = sv.add_parser("add", help="add a service account; prints its token once")
    s.add_argument("name", help="the service account's name, e.g. cad-gateway")
    s.add_argument("--role", required=True, help="feed-sync, cad, retro-hunt or reporting (alpr roles)")
    s.add_argument("--agency", required=True, help="the agency it acts for (alpr agency list)")
    _needs(s, "directory.admin")
    s.set_defaults(func=_service_add)
    for action, text in (("disable", "its token stops working at once"), ("enable", "enable it again")):
        s = sv.add_parser(action, help=f"{action} a service account: {text}")
        s.add_argument("name", help="the service account's name")
        _needs(s, "directory.admin")
        s.set_defaults(func=_service_active)


_COMMANDS: dict[str, Callable[[Subparsers], None]] = {
    "login": _add_login,
    "logout": _add_logout,
    "whoami": _add_whoami,
    "roles": _add_roles,
    "bootstrap": _add_bootstrap,
    "agency": _add_agency,
    "user": _add_user,
    "service": _add_service,
}


def register(sub: Subparsers, *names: str) -> None:
    """Add the commands named (all of this module's by default), in the order given: `alpr --help`
    lists the commands in the order build_parser registers them."""
    register_commands(sub, _COMMANDS, names)
