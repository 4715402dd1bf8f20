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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from streams.access.audit import AccessRecorded, record_access
from streams.access.directory import Directory
from streams.access.permissions import require
from streams.access.principal import Principal
from streams.alerts.desk import AlertBoard, AlertDesk, closing_step, outcome_text
from streams.alerts.lifecycle import ACTIONS, Actor, AlertState, StepRules, TransitionRefused
from streams.alerts.model import AlertRaised
from streams.errors import ConfigError, NotFound
from streams.hotlists.model import LOCAL_SOURCE
from streams.settings import Settings

__all__ = [
    "AUDIT_CHUNK",
    "CLOSED_PAGE",
    "ClosedPage",
    "alert_detail",
    "audit_shown",
    "claim",
    "closed_alerts",
    "closed_order",
    "entering_agency",
    "in_scope",
    "list_alerts",
    "owners",
    "record_shown",
    "release",
    "scoped",
    "step_rules",
    "transition",
    "visible",
]

#: Alerts named per access record: under the audit record's list cap (streams.access.audit).
AUDIT_CHUNK = 500
PURPOSE = "dispatch"  # what alert views are for (P15's purpose field)
#: Closed alerts per page of the closed-alerts view, and the most one page may ask for.
CLOSED_PAGE, CLOSED_PAGE_MAX = 50, 200
MAX_CLOSED_QUERY = 100  # characters of a closed-alerts search (P14: bounded before use)


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
    """The alerts in the principal's scope: ``open``, ``all`` or those of one status; audited
    (P15) like every list shown. The closed ones are shown a page at a time: :func:`closed_alerts`."""
    who = require(principal, "alert.view")
    states = visible(who, board.states.values(), directory, board.camera_agency)
    if which == "open":
        states = [s for s in states if s.is_open]
    elif which != "all":
        states = [s for s in states if s.status == which]
    await record_shown(settings, who, now, action, states, which=which)
    return states


async def scoped(
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
    state = await scoped(settings, who, desk, directory, alert_id, now, "alert_view")
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
    state = await scoped(settings, who, desk, directory, alert_id, now, f"alert_{action}")
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


@dataclass(frozen=True, slots=True)
class ClosedPage:
    """One page of closed alerts, newest closing first; ``older`` is the cursor of the next page
    (the id of this page's last alert), None when there is none."""

    alerts: list[AlertState]
    older: str | None


def closed_order(state: AlertState) -> tuple[float, float, str]:
    """Newest closing first, then the newest raised, then by id: a total order, so a cursor
    (the last alert shown) says exactly where the next page starts."""
    step = closing_step(state)
    closed_at = step.at if step is not None else state.raised.raised_at
    return (-closed_at.timestamp(), -state.raised.raised_at.timestamp(), state.alert_id)


def _closed_text(state: AlertState) -> str:
    """What the closed-alerts search looks in: plates, case number and outcome."""
    step = closing_step(state)
    raised = state.raised
    parts = (raised.read.plate, raised.entry.plate, raised.entry.case_number or "", outcome_text(step))
    return " ".join(parts).lower()


async def closed_alerts(
    settings: Settings,
    principal: Principal | None,
    board: AlertBoard,
    directory: Directory,
    now: datetime,
    *,
    query: str = "",
    older: str | None = None,
    limit: int = CLOSED_PAGE,
) -> ClosedPage:
    """A page of the closed (rejected or dispositioned) alerts of the principal's scope (P19),
    newest closing first, those matching every word of ``query`` (plate, case number, outcome);
    ``older`` is the previous page's cursor. Only the page is shown, so only the page is audited
    (P15), with the search and the cursor that chose it."""
    who = require(principal, "alert.view")
    if len(query) > MAX_CLOSED_QUERY:
        raise ConfigError(f"a closed-alerts search has at most {MAX_CLOSED_QUERY} characters")
    if not 1 <= limit <= CLOSED_PAGE_MAX:
        raise ConfigError(f"a page holds 1 to {CLOSED_PAGE_MAX} closed alerts, not {limit}")
    words = query.lower().split()
    closed = sorted(
        (s for s in visible(who, board.states.values(), directory, board.camera_agency) if not s.is_open),
        key=closed_order,
    )
    if older is not None:
        after = next((s for s in closed if s.alert_id == older), None)
        if after is None:  # P20: a cursor out of scope is refused like one that never existed
            raise ConfigError(f"no closed alert {older} to page from: start again from the newest")
        closed = [s for s in closed if closed_order(s) > closed_order(after)]
    matching = [s for s in closed if all(w in _closed_text(s) for w in words)]
    page = matching[:limit]
    more = len(matching) > limit
    await record_shown(
        settings, who, now, "alert_list", page, which="closed", q=query, older=older or "", limit=limit
    )
    return ClosedPage(page, page[-1].alert_id if more and page else None)


async def claim(
    settings: Settings,
    principal: Principal | None,
    desk: AlertDesk,
    directory: Directory,
    alert_id: str,
    now: datetime,
    *,
    take_over: bool = False,
) -> AlertState:
    """Work an alert of the principal's scope: "being worked by" (it changes no status). Another
    person's claim that is not stale (``claim_stale_minutes``) is taken only with ``take_over``,
    and the take-over names both people; otherwise :class:`TransitionRefused` says who works it
    and since when, and nothing is written. P21 (``alert.act``), P19/P20 (scope), P15 (audited)."""
    who = require(principal, "alert.act")
    await scoped(settings, who, desk, directory, alert_id, now, "alert_claim")
    after = await desk.claim(
        alert_id,
        Actor(who.display, who.badge or ""),
        now,
        take_over=take_over,
        stale_after=timedelta(minutes=settings.claim_stale_minutes),
    )
    held = after.claim
    taken = "" if held is None or held.taken_from is None else held.taken_from.label()
    await record_shown(settings, who, now, "alert_claim", [after], take_over=str(take_over), taken_from=taken)
    return after


async def release(
    settings: Settings,
    principal: Principal | None,
    desk: AlertDesk,
    directory: Directory,
    alert_id: str,
    now: datetime,
) -> AlertState:
    """The holder stops working the alert (P21 ``alert.act``, P19/P20 scope, P15 audited);
    anyone else is refused with who holds it, and nothing is written."""
    who = require(principal, "alert.act")
    await scoped(settings, who, desk, directory, alert_id, now, "alert_release")
    after = await desk.release(alert_id, Actor(who.display, who.badge or ""), now)
    await record_shown(settings, who, now, "alert_release", [after])
    return after
