"""Users, roles and agencies, on two compacted topics (P18, P19, P21).

A user has individual credentials (an argon2 password hash and a TOTP secret), one role, one
agency, and the record of the required training (P21). An agency has a type, a state and a
sharing-agreement state; federal agencies, commercial and private entities, and agencies outside
California are never registered, so they can never be granted access (P19). A refused command
changes nothing; every change is written to the audit trail.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from streams.access.audit import AccessRecorded, write_audited
from streams.access.totp import new_secret
from streams.errors import ConfigError, NotFound, PolicyViolation
from streams.kafka.log import read_latest
from streams.settings import Settings

__all__ = [
    "AGENCY_TYPES",
    "ROLES",
    "Agency",
    "Directory",
    "DirectoryStore",
    "User",
    "may",
    "password_matches",
]

#: Types an agency may have. Federal agencies and commercial or private entities are listed so that
#: the refusal names them: they are never registered (P19).
AGENCY_TYPES = frozenset(
    {
        "municipal_police",
        "county_sheriff",
        "state_law_enforcement",
        "district_attorney",
        "university_police",
        "federal",
        "commercial",
        "private",
    }
)
NEVER_ELIGIBLE = frozenset({"federal", "commercial", "private"})
#: What each role may do (P21: access by role).
ROLES: dict[str, frozenset[str]] = {
    "dispatcher": frozenset({"alerts"}),
    "officer": frozenset({"alerts", "search"}),
    "analyst": frozenset({"alerts", "search", "replay", "hold"}),
    "administrator": frozenset({"admin"}),
    "auditor": frozenset({"audit"}),
    "external": frozenset({"search"}),  # a user of another California agency with an agreement
}
_HASHER = PasswordHasher()  # argon2id with the library's current parameters
MIN_PASSWORD = 12


@dataclass(frozen=True, slots=True)
class Agency:
    agency_id: str  # ORI where it has one
    name: str
    type: str
    state: str
    agreement: str  # "home" (our own department), "signed" or "none"
    agreement_date: str | None = None

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
    totp_secret: str = field(repr=False)
    training: tuple[tuple[str, str], ...] = ()  # (course, completed on)
    active: bool = True

    @property
    def trained(self) -> bool:
        return bool(self.training)


def may(user: User, action: str) -> bool:
    return action in ROLES.get(user.role, frozenset())


def password_matches(user: User, password: str) -> bool:
    try:
        return _HASHER.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Directory:
    users: dict[str, User]
    agencies: dict[str, Agency]

    def user(self, name: str) -> User:
        found = self.users.get(name)
        if found is None:
            raise NotFound(f"no user {name}")
        return found

    def agency(self, agency_id: str) -> Agency | None:
        return self.agencies.get(agency_id)


def _refuse_agency(agency_type: str, state: str) -> None:
    if agency_type not in AGENCY_TYPES:
        raise ConfigError(f"agency type {agency_type!r}: use one of {', '.join(sorted(AGENCY_TYPES))}")
    if agency_type in NEVER_ELIGIBLE:
        raise PolicyViolation(
            "P19", f"a {agency_type} agency or entity can never be granted access to ALPR data (SB 34, SB 54)"
        )
    if state.upper() != "CA":
        raise PolicyViolation(
            "P19", f"ALPR data is shared only with California agencies, not {state.upper()}"
        )


class DirectoryStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.users_topic = settings.topic("users")
        self.agencies_topic = settings.topic("agencies")

    async def load(self) -> Directory:
        users = await read_latest(self.settings.kafka, self.users_topic)
        agencies = await read_latest(self.settings.kafka, self.agencies_topic)
        return Directory(
            {k.decode(): _user(orjson.loads(v.value)) for k, v in users.items()},
            {k.decode(): Agency(**orjson.loads(v.value)) for k, v in agencies.items()},
        )

    async def _write(self, topic: str, key: str, value: dict[str, Any], audit: AccessRecorded) -> None:
        await write_audited(self.settings, [(topic, key.encode(), orjson.dumps(value))], audit)

    async def add_agency(self, agency: Agency, by: str, now: datetime) -> Agency:
        _refuse_agency(agency.type, agency.state)
        if agency.agreement not in ("home", "signed", "none"):
            raise ConfigError(f"agreement {agency.agreement!r}: use home, signed or none")
        await self._write(
            self.agencies_topic,
            agency.agency_id,
            dataclasses.asdict(agency),
            AccessRecorded(now, by, "agency_add", None, "directory", {"agency": agency.agency_id}, 1),
        )
        return agency

    async def add_user(
        self,
        name: str,
        password: str,
        *,
        display: str,
        badge: str,
        agency: str,
        role: str,
        by: str,
        now: datetime,
    ) -> User:
        """Register a user; returns it with its new TOTP secret (shown once to the user)."""
        if role not in ROLES:
            raise ConfigError(f"role {role!r}: use one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise ConfigError(f"a password needs at least {MIN_PASSWORD} characters")
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
        user = User(name, display or name, badge, agency, role, _HASHER.hash(password), new_secret())
        return await self._save_user(user, "user_add", {"role": role}, by, now)

    async def record_training(self, name: str, course: str, completed: str, by: str, now: datetime) -> User:
        user = (await self.load()).user(name)
        updated = dataclasses.replace(user, training=(*user.training, (course, completed)))
        return await self._save_user(updated, "user_training", {"course": course}, by, now)

    async def set_active(self, name: str, active: bool, by: str, now: datetime) -> User:
        user = (await self.load()).user(name)
        action = "user_enable" if active else "user_disable"
        return await self._save_user(dataclasses.replace(user, active=active), action, {}, by, now)

    async def _save_user(
        self, user: User, action: str, detail: dict[str, Any], by: str, now: datetime
    ) -> User:
        query = {"user": user.name, **detail}
        audit = AccessRecorded(now, by, action, None, "directory", query, 1)
        await self._write(self.users_topic, user.name, _user_dict(user), audit)
        return user


def _user_dict(user: User) -> dict[str, Any]:
    data = dataclasses.asdict(user)
    data["training"] = [list(t) for t in user.training]
    return data


def _user(data: dict[str, Any]) -> User:
    data = dict(data)
    data["training"] = tuple(tuple(t) for t in data.get("training", []))
    return User(**data)
