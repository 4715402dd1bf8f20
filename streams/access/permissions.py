"""The one permission table: which role may do which action (P21: access by role).

Every use case calls :func:`require` with its action before it reads or changes anything; no
front end decides on its own. The README prints this table (``alpr roles`` prints it too), and a
test checks that the two agree.

Roles of people: dispatcher, officer, analyst, lieutenant, administrator, auditor and external (a
user of another agency the home state's law lets receive ALPR data, with an agreement on file,
P19). Roles of service accounts
(automation, never a person's credentials): ``feed-sync`` (NCIC/SVS extracts), ``cad`` (a CAD
system that receives alerts; acting on one needs a person, P7) and ``retro-hunt`` (the look-back
``alpr run`` starts for newly listed plates) and ``reporting`` (the nightly counts, no plates).
"""

from __future__ import annotations

from streams.access.principal import Principal
from streams.errors import AccessDenied, NotSignedIn

__all__ = [
    "ACTIONS",
    "PEOPLE_ROLES",
    "PERMISSIONS",
    "ROLES",
    "SERVICE_ROLES",
    "may",
    "require",
    "roles_table",
]

PEOPLE_ROLES = ("dispatcher", "officer", "analyst", "lieutenant", "administrator", "auditor", "external")
SERVICE_ROLES = ("feed-sync", "cad", "retro-hunt", "reporting", "retention")
ROLES = PEOPLE_ROLES + SERVICE_ROLES

#: action -> (what it is, the roles that may do it)
ACTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "alert.view": (
        "list, open and receive live alerts of the agency's cameras and entries",
        frozenset({"dispatcher", "officer", "analyst", "lieutenant", "cad"}),
    ),
    "alert.act": (
        "verify, validate, confirm, reject an alert; record its disposition (P7-P9)",
        frozenset({"dispatcher", "officer", "analyst", "lieutenant"}),
    ),
    "search": (
        "justified search of reads (P15-P17, P22)",
        frozenset({"officer", "analyst", "lieutenant", "external"}),
    ),
    "replay": ("reconstruct an incident from the reads of a window", frozenset({"analyst", "lieutenant"})),
    "retro_hunt": (
        "look back through recent reads for newly listed plates",
        frozenset({"analyst", "retro-hunt"}),
    ),
    "hold": ("place, renew, release and list evidence holds (P12)", frozenset({"analyst", "lieutenant"})),
    "hold.review": (
        "end evidence holds whose periodic review lapsed, with notice (P12)",
        frozenset({"administrator", "retention"}),
    ),
    "image.sweep": (
        "delete the images of reads past the read retention, except those on evidence hold (P11, P12)",
        frozenset({"administrator", "retention"}),
    ),
    "hotlist.propose": (
        "propose or import a department hot-list entry (P2); remove one's own",
        frozenset({"officer", "analyst", "lieutenant"}),
    ),
    "hotlist.review": (
        "see department entries awaiting approval",
        frozenset({"officer", "analyst", "lieutenant"}),
    ),
    "hotlist.approve": (
        "approve a department entry: lieutenant rank or above, not the entering member (P2)",
        frozenset({"lieutenant"}),
    ),
    "hotlist.sync": ("sync a feed extract (NCIC, SVS) (P3)", frozenset({"feed-sync", "administrator"})),
    "hotlist.sources": (
        "see each feed's sync state (no plates)",
        frozenset({"dispatcher", "officer", "analyst", "lieutenant", "administrator", "feed-sync"}),
    ),
    "camera.view": ("list cameras and sensitive sites", frozenset({"administrator", "analyst", "auditor"})),
    "camera.admin": (
        "add, change, retire cameras; their keys; sensitive sites (P24)",
        frozenset({"administrator"}),
    ),
    "directory.view": ("list users and agencies", frozenset({"administrator", "auditor"})),
    "directory.admin": (
        "add users, agencies, service accounts; record training; change roles; disable (P18, P19, P21)",
        frozenset({"administrator"}),
    ),
    "webhook.admin": ("set which eligible agency receives alerts where (P19)", frozenset({"administrator"})),
    "audit.read": (
        "verify, report on and sample the audit trail; audit vendor exports (P14, P15, P23)",
        frozenset({"auditor"}),
    ),
    "audit.checkpoint": (
        "sign the audit trail's head with the key kept outside Kafka; print its public key (P14)",
        frozenset({"administrator", "auditor", "reporting"}),
    ),
    "report.publish": (
        "daily aggregates and the annual report (P26)",
        frozenset({"administrator", "auditor", "reporting"}),
    ),
}

#: role -> the actions it may do (the same table, the other way round)
PERMISSIONS: dict[str, frozenset[str]] = {
    role: frozenset(action for action, (_, roles) in ACTIONS.items() if role in roles) for role in ROLES
}


def may(principal: Principal, action: str) -> bool:
    if action not in ACTIONS:
        raise KeyError(f"no action {action!r} in the permission table")
    return action in PERMISSIONS.get(principal.role, frozenset())


def require(principal: Principal | None, action: str) -> Principal:
    """The principal, if it may do ``action``; else :class:`NotSignedIn` (nobody signed in) or
    :class:`AccessDenied` naming the role and the action (P21). Checked before anything is read."""
    if principal is None:
        raise NotSignedIn("sign in first (alpr login, or the console's sign-in page)")
    if not may(principal, action):
        raise AccessDenied(f"P21: the {principal.role} role may not {action} ({ACTIONS[action][0]})")
    return principal


def roles_table() -> str:
    """The permission table as Markdown: one row per action, one column per role."""
    head = "| action | " + " | ".join(ROLES) + " |"
    rule = "|---|" + "---|" * len(ROLES)
    rows = [
        f"| `{action}` | " + " | ".join("x" if role in roles else "" for role in ROLES) + " |"
        for action, (_, roles) in ACTIONS.items()
    ]
    return "\n".join([head, rule, *rows])
