"""The alert use cases: list, open, receive live and work alerts, as a signed-in principal.

The console, the CAD API and the ``alpr alerts`` / ``alpr alert`` commands are thin adapters over
these functions; none of them decides on its own who may see or act on what.

* P21: :func:`~streams.access.permissions.require` first (``alert.view`` or ``alert.act``), before
  anything is read.
* P19, agency scope: an alert belongs to the agency operating the camera that read the plate (the
  cameras topic, folded by the desk into ``board.camera_agency``) and, for a department (local)
  entry, also to the agency that entered it. A principal sees and acts on it only when
  ``directory.sees_agency(principal.agency, owner)`` holds for one of its owners. External users
  see no alerts (they may only run justified searches; the permission table does not give them
  ``alert.view`` and this module refuses them again should it ever).
* P20: an alert out of scope answers exactly like a missing one (:class:`NotFound`, the same
  message): nobody learns that it exists.
* P15: every view (list, detail, each live delivery) writes an access record naming the
  principal, the alerts and plates shown and their count; long lists are written in chunks so
  that no id is cut off by the audit record's field caps.
* P7/P8: a person's step is checked against :class:`~streams.alerts.lifecycle.StepRules` built
  here from the profile (low-confidence threshold, separate validation) and the directory (the
  entering agency of a department entry without an ORI is the home agency).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from streams.access.audit import AccessRecorded, record_access
from streams.access.directory import Directory
from streams.access.permissions import require
from streams.access.principal import Principal
from streams.alerts.desk import AlertBoard, AlertDesk
from streams.alerts.lifecycle import ACTIONS, Actor, AlertState, StepRules, TransitionRefused
from streams.alerts.model import AlertRaised
from streams.errors import NotFound
from streams.hotlists.model import LOCAL_SOURCE
from streams.settings import Settings

__all__ = [
    "AUDIT_CHUNK",
    "alert_detail",
    "audit_shown",
    "entering_agency",
    "in_scope",
    "list_alerts",
    "owners",
    "record_shown",
    "step_rules",
    "transition",
    "visible",
]

#: Alerts named per access record: under the audit record's list cap (streams.access.audit).
AUDIT_CHUNK = 500
PURPOSE = "dispatch"  # what alert views are for (P15's purpose field)


def owners(raised: AlertRaised, camera_agency: Mapping[str, str]) -> frozenset[str]:
    """The agencies whose alert this is: the camera's operator, and the entering agency of a
    department (local) entry."""
    found = set()
    camera = camera_agency.get(raised.read.camera_id)
    if camera:
        found.add(camera)
    entry = raised.entry
    if entry.source == LOCAL_SOURCE and entry.ori:
        found.add(entry.ori)
    return frozenset(found)


def entering_agency(raised: AlertRaised, directory: Directory) -> str | None:
    """Who confirms a hit (P8): the entry's ORI; for a department (local) entry without one, the
    home agency of the directory; None when neither says (an external entry without an ORI)."""
    entry = raised.entry
    if entry.ori:
        return entry.ori
    if entry.source == LOCAL_SOURCE:
        return next((a.agency_id for a in directory.agencies.values() if a.agreement == "home"), None)
    return None


def step_rules(settings: Settings, raised: AlertRaised, directory: Directory) -> StepRules:
    """The rules a person's step on this alert must satisfy in this deployment (P7, P8)."""
    profile = settings.profile
    return StepRules(
        low_confidence=profile.low_confidence,
        separate_validation=profile.separate_validation,
        entering_agency=entering_agency(raised, directory),
    )


def in_scope(
    principal: Principal,
    alert: AlertState | AlertRaised,
    directory: Directory,
    camera_agency: Mapping[str, str],
) -> bool:
    """May this principal see this alert (P19)? Never for external users; else one of the alert's
    owners is the principal's agency or shares with it under an agreement."""
    if principal.role == "external":
        return False
    raised = alert.raised if isinstance(alert, AlertState) else alert
    return any(directory.sees_agency(principal.agency, owner) for owner in owners(raised, camera_agency))


def visible(
    principal: Principal,
    states: Iterable[AlertState],
    directory: Directory,
    camera_agency: Mapping[str, str],
) -> list[AlertState]:
    return [s for s in states if in_scope(principal, s, directory, camera_agency)]


def audit_shown(
    principal: Principal, now: datetime, action: str, states: Sequence[AlertState], **query: Any
) -> list[AccessRecorded]:
    """The P15 records of showing these alerts: one per :data:`AUDIT_CHUNK` alerts (one, with a
    count of 0, when none was shown: the view itself is an access)."""
    chunks = [states[i : i + AUDIT_CHUNK] for i in range(0, len(states), AUDIT_CHUNK)] or [[]]
    return [
        principal.audit(
            now,
            action,
            {
                **query,
                "alerts": [s.alert_id for s in chunk],
                "plates": [s.raised.read.plate for s in chunk],
            },
            len(chunk),
            purpose=PURPOSE,
        )
        for chunk in chunks
    ]


async def record_shown(
    settings: Settings,
    principal: Principal,
    now: datetime,
    action: str,
    states: Sequence[AlertState],
    **query: Any,
) -> None:
    for record in audit_shown(principal, now, action, states, **query):
        await record_access(settings, record)


async def list_alerts(
    settings: Settings,
    principal: Principal | None,
    board: AlertBoard,
    directory: Directory,
    now: datetime,
    which: str = "open",
    *,
    action: str = "alert_list",
) -> list[AlertState]:
    """The alerts in the principal's scope: ``open``, ``closed`` (rejected or dispositioned),
    ``all`` or those of one status; audited (P15) like every list shown."""
    who = require(principal, "alert.view")
    states = visible(who, board.states.values(), directory, board.camera_agency)
    if which == "open":
        states = [s for s in states if s.is_open]
    elif which == "closed":
        states = [s for s in states if not s.is_open]
    elif which != "all":
        states = [s for s in states if s.status == which]
    await record_shown(settings, who, now, action, states, which=which)
    return states


async def _scoped(
    settings: Settings,
    who: Principal,
    desk: AlertDesk,
    directory: Directory,
    alert_id: str,
    now: datetime,
    action: str,
) -> AlertState:
    """The alert if it is in scope; else :class:`NotFound` with the very words of a missing alert
    (P20), after auditing the refusal."""
    try:
        state = await desk.find(alert_id)
    except NotFound:
        reason = "no such alert"
    else:
        if in_scope(who, state, directory, desk.board.camera_agency):
            return state
        reason = "P19: the alert is not in the agency's scope"
    await record_access(
        settings,
        who.audit(now, action, {"alert": alert_id}, 0, purpose=PURPOSE, decision="refused", reason=reason),
    )
    raise NotFound(f"no alert {alert_id}")


async def alert_detail(
    settings: Settings,
    principal: Principal | None,
    desk: AlertDesk,
    directory: Directory,
    alert_id: str,
    now: datetime,
) -> AlertState:
    """One alert with its history (P15: audited; P20: out of scope is "no alert")."""
    who = require(principal, "alert.view")
    state = await _scoped(settings, who, desk, directory, alert_id, now, "alert_view")
    await record_shown(settings, who, now, "alert_view", [state])
    return state


async def transition(
    settings: Settings,
    principal: Principal | None,
    desk: AlertDesk,
    directory: Directory,
    alert_id: str,
    action: str,
    now: datetime,
    note: str = "",
    **fields: Any,
) -> AlertState:
    """A person's step on an alert of their scope (P7-P9). The actor written on the lifecycle
    event is the principal's name and badge from the directory, never typed; the step is audited
    once written. A step that does not fit the alert or the deployment's step rules (P7: evidence
    shown, boxes ticked, flags acknowledged; P8: the entering agency, separate validation) raises
    :class:`TransitionRefused` and writes nothing."""
    who = require(principal, "alert.act")
    if action not in ACTIONS:
        raise TransitionRefused(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")
    state = await _scoped(settings, who, desk, directory, alert_id, now, f"alert_{action}")
    after = await desk.transition(
        alert_id,
        action,
        Actor(who.display, who.badge or ""),
        now,
        note,
        rules=step_rules(settings, state.raised, directory),
        **fields,
    )
    await record_shown(
        settings, who, now, f"alert_{action}", [after], **{k: str(v) for k, v in fields.items()}
    )
    return after
