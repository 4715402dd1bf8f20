"""Users, roles and agencies, on two compacted topics (P18, P19, P21).

A user has individual credentials (an argon2 password hash and a TOTP secret), one role, one
agency, and the record of the required training (P21). An agency has a type, a state and a
sharing-agreement state. Who may receive ALPR data is decided by the HOME agency's state law
(:func:`streams.retention.law.law_for`, the deployment profile's ``state``): an agency that law
excludes (federal, commercial, private, out of state) is never registered, so it can never be
granted access, and :meth:`Directory.sharing_refusal` -- the one decision the console's agency
scope and the webhooks use -- refuses it even if its record reached the topic (P19). A refused
command changes nothing; every change is written to the audit trail.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from streams.access.audit import AccessRecorded, write_audited
from streams.access.permissions import PEOPLE_ROLES, SERVICE_ROLES, require
from streams.access.principal import Principal
from streams.access.purpose import IMMIGRATION, classify
from streams.access.secretbox import SecretBox
from streams.access.signins import token_hash
from streams.access.totp import new_secret
from streams.errors import AccessDenied, ConfigError, NotFound, PolicyViolation
from streams.kafka.log import read_latest
from streams.retention.law import AGENCY_TYPES, StateLaw, law_for
from streams.settings import Settings

__all__ = [
    "APPROVING_RANKS",
    "Agency",
    "Directory",
    "DirectoryStore",
    "ServiceAccount",
    "User",
    "password_matches",
]

_HASHER = PasswordHasher()  # argon2id with the library's current parameters
#: A hash to verify against when the name is unknown, so that unknown and known names take the
#: same time to refuse (no user enumeration by timing).
_DECOY = _HASHER.hash(secrets.token_urlsafe(16))
MIN_PASSWORD = 12
#: Field sizes (P15 records stay bounded; a megabyte of "name" is refused, not stored).
MAX_NAME = 64
MAX_TEXT = 200
MAX_PASSWORD = 1024
#: Ranks that may approve a department hot-list entry (P2): lieutenant or above.
APPROVING_RANKS = frozenset(
    {"lieutenant", "captain", "commander", "deputy chief", "assistant chief", "chief"}
)
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")


@dataclass(frozen=True, slots=True)
class Agency:
    agency_id: str  # ORI where it has one
    name: str
    type: str
    state: str
    agreement: str  # "home" (our own department), "signed" or "none"
    agreement_date: str | None = None
    #: Agencies this one shares its alerts with under an agreement (P19): their users see them.
    shares_with: tuple[str, ...] = ()

    @property
    def has_access(self) -> bool:
        return self.agreement in ("home", "signed")


@dataclass(frozen=True, slots=True)
class User:
    name: str
    display: str
    badge: str
    agency: str
    role: str
    password_hash: str = field(repr=False)
    totp_secret: str = field(repr=False)  # sealed with the directory key (streams.access.secretbox)
    training: tuple[tuple[str, str], ...] = ()  # (course, completed on)
    active: bool = True
    rank: str | None = None  # P2: who may approve department entries
    assignment: str | None = None  # P2: the entering member's assignment

    @property
    def trained(self) -> bool:
        return bool(self.training)

    def principal(self, session: str | None = None) -> Principal:
        return Principal(
            self.name,
            self.display,
            self.agency,
            self.role,
            "user",
            self.badge,
            self.rank,
            self.assignment,
            session,
        )


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """Automation (a feed sync, a CAD system): its own token and role, never a person's (P18)."""

    name: str
    agency: str
    role: str
    token_hash: str = field(repr=False)  # sha256 of the token, which is shown once
    active: bool = True

    def principal(self) -> Principal:
        return Principal(self.name, self.name, self.agency, self.role, "service")


def password_matches(password_hash: str | None, password: str) -> bool:
    """argon2 verify (slow on purpose: call it off the event loop); an unknown user's check runs
    against a decoy hash and takes as long."""
    try:
        return _HASHER.verify(password_hash or _DECOY, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Directory:
    users: dict[str, User]
    agencies: dict[str, Agency]
    services: dict[str, ServiceAccount] = field(default_factory=dict)

    def user(self, name: str) -> User:
        found = self.users.get(name)
        if found is None:
            raise NotFound(f"no user {name}")
        return found

    def agency(self, agency_id: str) -> Agency | None:
        return self.agencies.get(agency_id)

    def service(self, token: str) -> ServiceAccount | None:
        digest = token_hash(token)
        for account in self.services.values():
            if account.active and hmac.compare_digest(account.token_hash, digest):
                return account
        return None

    @property
    def home(self) -> Agency | None:
        """The home department (agreement 'home'), once bootstrapped."""
        return next((a for a in self.agencies.values() if a.agreement == "home"), None)

    def law_refusal(self, agency_id: str) -> str | None:
        """Why the home state's law never lets ``agency_id`` receive ALPR data (unregistered, or
        excluded by type or state), naming the rule and the law; None when the law allows it (P19).
        Whether an agreement is on file is :meth:`sharing_refusal`'s next question (a search for an
        agency without one may still be approved by a Commander, P17)."""
        agency = self.agencies.get(agency_id)
        if agency is None:
            return (
                f"P19: no agency {agency_id!r} in the directory: only a registered law enforcement "
                "agency with an agreement on file receives ALPR data (alpr agency add)"
            )
        home = self.home
        if home is None:
            return "P19: the directory has no home agency, so no state law to share under (alpr bootstrap)"
        return law_for(home.state).sharing_refusal(agency_id, agency.type, agency.state)

    def sharing_refusal(self, agency_id: str) -> str | None:
        """Why ``agency_id`` may not receive ALPR data, naming the rule and the home state's law;
        None when it may (P19). The one decision behind the console's agency scope
        (:meth:`sees_agency`) and the webhooks: allowed by the home agency's state law
        (:meth:`law_refusal`) and with an agreement on file."""
        refusal = self.law_refusal(agency_id)
        if refusal is not None:
            return refusal
        agency = self.agencies[agency_id]
        if not agency.has_access:
            return f"P19: {agency_id} has no sharing agreement on file (agreement {agency.agreement!r})"
        return None

    def sees_agency(self, viewer_agency: str, owner_agency: str) -> bool:
        """May users of ``viewer_agency`` see data of ``owner_agency`` (P19)? Their own, and that of
        an agency sharing with them under an agreement when :meth:`sharing_refusal` allows them."""
        if viewer_agency == owner_agency:
            return True
        owner = self.agencies.get(owner_agency)
        return (
            owner is not None
            and viewer_agency in owner.shares_with
            and self.sharing_refusal(viewer_agency) is None
        )

    def apply(self, kind: str, key: str, value: dict[str, Any] | None) -> None:
        """One record of the users, services or agencies topic (None: a tombstone)."""
        if kind == "users":
            self.users.pop(key, None)
            if value is not None:
                self.users[key] = _user(value)
        elif kind == "services":
            self.services.pop(key, None)
            if value is not None:
                self.services[key] = ServiceAccount(**value)
        else:
            self.agencies.pop(key, None)
            if value is not None:
                self.agencies[key] = _agency(value)


def _refuse_agency(agency: Agency, law: StateLaw) -> None:
    """Refuse an agency the home state's law never lets receive ALPR data (P19), naming the law."""
    if agency.type not in AGENCY_TYPES:
        raise ConfigError(f"agency type {agency.type!r}: use one of {', '.join(sorted(AGENCY_TYPES))}")
    if not re.fullmatch(r"[A-Z]{2}", agency.state.strip().upper()):
        raise ConfigError(f"agency state {agency.state[:16]!r}: use the two-letter code, such as WA")
    refusal = law.sharing_refusal(f"agency {agency.agency_id!r}", agency.type, agency.state)
    if refusal is not None:
        raise PolicyViolation("P19", f"{refusal}; nothing was written")


def _check_name(name: str, what: str) -> str:
    if not name or len(name) > MAX_NAME or not set(name) <= NAME_CHARS:
        raise ConfigError(
            f"{what} {name[:MAX_NAME]!r}: use 1-{MAX_NAME} lower-case letters, digits, '.', '_' or '-'"
        )
    return name


def _check_text(value: str | None, what: str) -> str | None:
    if value is not None and len(value) > MAX_TEXT:
        raise ConfigError(f"{what} is {len(value)} characters long: at most {MAX_TEXT}")
    return value


class DirectoryStore:
    """The directory's use cases. Every change needs a signed-in administrator
    (``directory.admin``, P21) and is audited with the actor (P15), except :meth:`bootstrap`,
    which works only while the directory is empty."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.users_topic = settings.topic("users")
        self.services_topic = settings.topic("services")
        self.agencies_topic = settings.topic("agencies")

    async def load(self) -> Directory:
        directory = Directory({}, {})
        for kind, topic in (
            ("users", self.users_topic),
            ("services", self.services_topic),
            ("agencies", self.agencies_topic),
        ):
            for key, value in (await read_latest(self.settings.kafka, topic)).items():
                directory.apply(kind, key.decode(), orjson.loads(value.value))
        return directory

    def _home_law(self, home: Agency | None) -> StateLaw:
        """The law sharing is decided under: the deployment profile's state's (P19, P11). The home
        agency must be in that state, or the profile's retention and reporting would follow another
        state's law than the sharing rule."""
        profile = self.settings.profile
        if home is not None and home.state.strip().upper() != profile.state:
            raise PolicyViolation(
                "P19",
                f"the home agency {home.agency_id} is in {home.state.strip().upper()[:8]} but this "
                f"deployment's profile {profile.name!r} is under {law_for(profile.state).citation} "
                f"(state {profile.state}): set ALPR_PROFILE to a profile of the home agency's state; "
                "nothing was written",
            )
        return law_for(profile.state)

    async def _write(self, topic: str, key: str, value: dict[str, Any], audit: AccessRecorded) -> None:
        await write_audited(self.settings, [(topic, key.encode(), orjson.dumps(value))], audit)

    def totp_secret(self, user: User) -> str:
        """The user's authenticator secret, opened with the directory key (P18)."""
        return SecretBox.for_settings(self.settings).open(user.totp_secret, user.name)

    async def bootstrap(
        self,
        home: Agency,
        name: str,
        password: str,
        *,
        display: str,
        badge: str,
        rank: str | None,
        now: datetime,
    ) -> tuple[User, str]:
        """Create the home agency and the first administrator, only while the directory has no
        users (and only once system-wide: two bootstraps racing, one wins). Returns the user and
        the authenticator secret to enrol (shown once)."""
        from streams.access.signins import SigninLog

        if home.agreement != "home":
            raise ConfigError("the bootstrap agency is the home department (agreement 'home')")
        _refuse_agency(home, self._home_law(home))
        _check_name(home.agency_id.lower(), "agency id")
        if (await self.load()).users:
            raise AccessDenied(
                "the directory has users already: a signed-in administrator adds users (alpr user add)"
            )
        async with SigninLog(self.settings) as signins:
            if not await signins.claim("bootstrap", now):
                raise AccessDenied("another process bootstrapped the directory first")
        actor = Principal(name, display or name, home.agency_id, "administrator", badge=badge, rank=rank)
        await self._write(
            self.agencies_topic,
            home.agency_id,
            _agency_dict(home),
            actor.audit(
                now, "agency_add", {"agency": home.agency_id, "bootstrap": True}, 1, purpose="directory"
            ),
        )
        user, secret = await self._new_user(
            name, password, display, badge, home.agency_id, "administrator", rank, None
        )
        await self._save_user(user, "user_add", {"role": "administrator", "bootstrap": True}, actor, now)
        return user, secret

    async def add_agency(self, agency: Agency, by: Principal, now: datetime) -> Agency:
        require(by, "directory.admin")
        directory = await self.load()
        home = agency if agency.agreement == "home" else directory.home
        _refuse_agency(agency, self._home_law(home))
        _check_name(agency.agency_id.lower(), "agency id")
        _check_text(agency.name, "the agency's name")
        named = classify(agency.name)
        if named is not None and named.topic == IMMIGRATION:
            # P19 (SB 54): a federal immigration-enforcement office ("ICE ERO San Francisco Field
            # Office") is never eligible, whatever agency type it was entered with.
            raise PolicyViolation(
                "P19",
                f"agency {agency.name!r} names {named.term!r}: ALPR data is never shared for immigration "
                "enforcement (SB 54); such an agency cannot be added",
            )
        if agency.agreement not in ("home", "signed", "none"):
            raise ConfigError(f"agreement {agency.agreement!r}: use home, signed or none")
        if agency.agreement == "home" and any(
            a.agreement == "home" and a.agency_id != agency.agency_id for a in directory.agencies.values()
        ):
            raise ConfigError("the directory has a home agency already: another agency is 'signed' or 'none'")
        unknown = [a for a in agency.shares_with if a not in directory.agencies]
        if unknown:
            raise NotFound(f"no agency {', '.join(unknown)}: add it before sharing with it")
        await self._write(
            self.agencies_topic,
            agency.agency_id,
            _agency_dict(agency),
            by.audit(
                now,
                "agency_add",
                {"agency": agency.agency_id, "shares_with": list(agency.shares_with)},
                1,
                purpose="directory",
            ),
        )
        return agency

    async def _new_user(
        self,
        name: str,
        password: str,
        display: str,
        badge: str,
        agency: str,
        role: str,
        rank: str | None,
        assignment: str | None,
    ) -> tuple[User, str]:
        _check_name(name, "user name")
        if role not in PEOPLE_ROLES:
            raise ConfigError(f"role {role!r}: use one of {', '.join(PEOPLE_ROLES)}")
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise ConfigError(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")
        if name in password.lower():
            raise ConfigError("the password contains the user name: choose another")
        for value, what in (
            (display, "display name"),
            (badge, "badge"),
            (rank, "rank"),
            (assignment, "assignment"),
        ):
            _check_text(value, what)
        secret = new_secret()
        sealed = SecretBox.for_settings(self.settings).seal(secret, name)
        # argon2 is slow on purpose: hashed in a thread, so a console keeps serving meanwhile
        password_hash = await asyncio.to_thread(_HASHER.hash, password)
        user = User(
            name,
            display or name,
            badge,
            agency,
            role,
            password_hash,
            sealed,
            rank=(rank or None) and rank.lower(),
            assignment=assignment or None,
        )
        return user, secret

    async def add_user(
        self,
        name: str,
        password: str,
        *,
        display: str,
        badge: str,
        agency: str,
        role: str,
        by: Principal,
        now: datetime,
        rank: str | None = None,
        assignment: str | None = None,
    ) -> tuple[User, str]:
        """Register a user; returns it with its new authenticator secret (shown once to the user)."""
        require(by, "directory.admin")
        directory = await self.load()
        if name in directory.users:
            raise ConfigError(f"user {name!r} exists already")
        home = directory.agency(agency)
        if home is None:
            raise NotFound(f"no agency {agency}: add it first with 'alpr agency add'")
        if role == "external" and home.agreement == "home":
            raise ConfigError("external-agency users belong to another agency than the home department")
        if role != "external" and home.agreement != "home":
            raise PolicyViolation("P21", f"users of {home.name} can only have the external role")
        user, secret = await self._new_user(name, password, display, badge, agency, role, rank, assignment)
        await self._save_user(user, "user_add", {"role": role, "agency": agency}, by, now)
        return user, secret

    async def add_service(self, name: str, role: str, agency: str, by: Principal, now: datetime) -> str:
        """A service account (``feed-sync``, ``cad``); returns its token, shown once."""
        require(by, "directory.admin")
        _check_name(name, "service account name")
        if role not in SERVICE_ROLES:
            raise ConfigError(f"service role {role!r}: use one of {', '.join(SERVICE_ROLES)}")
        directory = await self.load()
        if directory.agency(agency) is None:
            raise NotFound(f"no agency {agency}")
        if name in directory.services:
            raise ConfigError(f"service account {name!r} exists already")
        token = "alpr-svc-" + secrets.token_urlsafe(32)
        account = ServiceAccount(name, agency, role, token_hash(token))
        await self._write(
            self.services_topic,
            name,
            dataclasses.asdict(account),
            by.audit(now, "service_add", {"service": name, "role": role}, 1, purpose="directory"),
        )
        return token

    async def set_service_active(
        self, name: str, active: bool, by: Principal, now: datetime
    ) -> ServiceAccount:
        """Disable a service account (its token stops working in every process as soon as each
        has applied the change) or enable it again; audited with the actor."""
        require(by, "directory.admin")
        account = (await self.load()).services.get(name)
        if account is None:
            raise NotFound(f"no service account {name}")
        updated = dataclasses.replace(account, active=active)
        action = "service_enable" if active else "service_disable"
        await self._write(
            self.services_topic,
            name,
            dataclasses.asdict(updated),
            by.audit(now, action, {"service": name}, 1, purpose="directory"),
        )
        return updated

    async def record_training(
        self, name: str, course: str, completed: str, by: Principal, now: datetime
    ) -> User:
        require(by, "directory.admin")
        _check_text(course, "the course")
        user = (await self.load()).user(name)
        updated = dataclasses.replace(user, training=(*user.training, (course, completed)))
        return await self._save_user(updated, "user_training", {"course": course}, by, now)

    async def set_active(self, name: str, active: bool, by: Principal, now: datetime) -> User:
        """Enable or disable a user; disabling ends their sessions in every process (P18)."""
        require(by, "directory.admin")
        user = (await self.load()).user(name)
        action = "user_enable" if active else "user_disable"
        saved = await self._save_user(dataclasses.replace(user, active=active), action, {}, by, now)
        if not active:
            await self._revoke(name, action, now)
        return saved

    async def set_role(
        self, name: str, role: str, by: Principal, now: datetime, rank: str | None = None
    ) -> User:
        """Change a user's role (and rank); their open sessions end (P18, P21)."""
        require(by, "directory.admin")
        if role not in PEOPLE_ROLES:
            raise ConfigError(f"role {role!r}: use one of {', '.join(PEOPLE_ROLES)}")
        _check_text(rank, "rank")
        user = (await self.load()).user(name)
        if by.name == name:
            raise AccessDenied("administrators do not change their own role")
        updated = dataclasses.replace(user, role=role, rank=(rank.lower() if rank else user.rank))
        saved = await self._save_user(updated, "user_role", {"role": role, "rank": updated.rank}, by, now)
        await self._revoke(name, "user_role", now)
        return saved

    async def _revoke(self, name: str, why: str, now: datetime) -> None:
        from streams.access.signins import SigninLog

        async with SigninLog(self.settings) as signins:
            await signins.write(
                name, {"event": "sessions_revoked", "user": name, "why": why, "at": now.isoformat()}
            )

    async def _save_user(
        self, user: User, action: str, detail: dict[str, Any], by: Principal, now: datetime
    ) -> User:
        query = {"user": user.name, **detail}
        await self._write(
            self.users_topic,
            user.name,
            _user_dict(user),
            by.audit(now, action, query, 1, purpose="directory"),
        )
        return user


def _agency_dict(agency: Agency) -> dict[str, Any]:
    data = dataclasses.asdict(agency)
    data["shares_with"] = list(agency.shares_with)
    return data


def _agency(data: dict[str, Any]) -> Agency:
    data = dict(data)
    data["shares_with"] = tuple(data.get("shares_with", ()))
    return Agency(**data)


def _user_dict(user: User) -> dict[str, Any]:
    data = dataclasses.asdict(user)
    data["training"] = [list(t) for t in user.training]
    return data


def _user(data: dict[str, Any]) -> User:
    data = dict(data)
    data["training"] = tuple(tuple(t) for t in data.get("training", []))
    return User(**data)
