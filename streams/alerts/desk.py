"""The alert desk: the alerts topic folded into alert states, and people's transitions written back.

:class:`AlertBoard` is the fold (plain Python, no Kafka); :class:`AlertDesk` feeds it from the
alerts topic, once (a CLI command) or continuously (the dispatch console), and writes a person's
transition after checking it against the board. Lifecycle events go to the alerts topic on the
partition of their AlertRaised, so each alert's history stays in order. Validation re-checks the
entry against the current hot list (item 2 of the lifecycle issue): an entry removed, expired or
stale since the alert refuses the validation with "entry no longer active: do not act".
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from aiokafka import TopicPartition

from streams.alerts.lifecycle import (
    ACTIONS,
    Actor,
    AlertDispositioned,
    AlertEvent,
    AlertImageShown,
    AlertRejected,
    AlertState,
    AlertStatusValidated,
    StepRules,
    TransitionRefused,
    check_step,
    claim_event,
    evolve,
    release_event,
    step_fields,
)
from streams.alerts.model import AlertRaised
from streams.cameras.registry import Camera, decode_camera
from streams.codec import alert_record_from_dict, dumps, event_to_dict, loads
from streams.errors import BrokerError, InvalidRecord, NotFound
from streams.hotlists.records import source_freshness
from streams.kafka.log import TopicFollower, TopicWriter
from streams.matching.matcher import entry_in_force
from streams.settings import Settings

__all__ = ["EARLIER_WINDOW", "AlertBoard", "AlertDesk", "Listener", "closing_step", "outcome_text"]

log = logging.getLogger(__name__)

#: A re-alert links to an earlier alert of the same plate and entry closed this long before it.
EARLIER_WINDOW = timedelta(hours=24)

#: Called with the state before (None for a new alert), the record applied, and the state after.
Listener = Callable[[AlertState | None, AlertRaised | AlertEvent, AlertState], None]


def closing_step(state: AlertState) -> AlertRejected | AlertDispositioned | None:
    """The step that closed the alert (its rejection or disposition); None while it is open."""
    return next(
        (e for e in reversed(state.history) if isinstance(e, AlertRejected | AlertDispositioned)), None
    )


def outcome_text(step: AlertRejected | AlertDispositioned | None) -> str:
    """How an alert ended, in words: "rejected: misread", "vehicle recovered" ("" while open)."""
    if step is None:
        return ""
    if isinstance(step, AlertRejected):
        return f"rejected: {step.reason.replace('_', ' ')}"
    return step.disposition.replace("_", " ")


class AlertBoard:
    """Every alert's state, the partition its events go to, and each feed's freshness."""

    def __init__(self) -> None:
        self.states: dict[str, AlertState] = {}
        self.partitions: dict[str, int] = {}
        self.source_fresh: dict[str, datetime] = {}
        self.refused: dict[str, str] = {}  # event id -> why the fold did not take it
        self.listeners: list[Listener] = []
        #: camera id -> the agency operating it (the cameras topic): whose alerts these are (P19)
        self.camera_agency: dict[str, str] = {}
        self.camera_names: dict[str, str] = {}  # as people know the cameras (the console shows them)
        #: camera id -> the registered camera: where it stands and faces, drawn on the alert's map
        self.cameras: dict[str, Camera] = {}
        #: (plate read, entry key) -> the ids of its alerts, oldest first: what a re-alert links to
        self.alerts_of: dict[tuple[str, str], list[str]] = {}

    def apply(self, partition: int, value: bytes | None) -> AlertState | None:
        """One record of the alerts topic; returns the alert's new state (None: nothing changed)."""
        if value is None:
            return None
        try:
            record = alert_record_from_dict(loads(value))
        except (InvalidRecord, KeyError, TypeError, ValueError) as exc:
            log.warning("unreadable record on the alerts topic (partition %d): %s", partition, exc)
            return None
        if record is None:
            return None
        before = self.states.get(record.alert_id)
        try:
            after = evolve(before, record)
        except TransitionRefused as exc:
            # An event that raced another person's: the log keeps it, the state does not take it.
            if isinstance(record, AlertEvent):
                self.refused[record.event_id] = str(exc)
            return None
        if after is before:
            return None
        if isinstance(record, AlertRaised):
            self.partitions.setdefault(record.alert_id, partition)
            self.alerts_of.setdefault((record.read.plate, record.entry.key), []).append(record.alert_id)
        self.states[record.alert_id] = after
        for listener in self.listeners:
            listener(before, record, after)
        return after

    def apply_source(self, value: bytes | None) -> None:
        """A hot-list source status: when its data was last refreshed (shown on alerts, P4)."""
        found = source_freshness(value)
        if found is not None:
            self.source_fresh[found[0]] = found[1]

    def apply_camera(self, key: bytes | None, value: bytes | None) -> None:
        """A record of the cameras topic: which agency operates the camera, so each alert has an
        owner (agency scope, P19), its name, which the console shows, and its place and facing, which
        the alert's map draws. A tombstone or an unreadable record forgets the camera: its alerts
        then belong to no agency but the one that entered a local entry, and show the camera's id."""
        if key is None:
            return
        camera_id = key.decode()
        self.camera_agency.pop(camera_id, None)
        self.camera_names.pop(camera_id, None)
        self.cameras.pop(camera_id, None)
        if value is None:
            return
        try:
            camera = decode_camera(key, value)
        except (InvalidRecord, KeyError, TypeError, ValueError) as exc:
            log.warning("unreadable record of camera %s on the cameras topic: %s", camera_id, exc)
            return
        self.camera_agency[camera_id] = camera.agency
        self.camera_names[camera_id] = camera.name
        self.cameras[camera_id] = camera

    def earlier(self, state: AlertState, window: timedelta = EARLIER_WINDOW) -> AlertState | None:
        """The alert of the same plate and entry closed (rejected or dispositioned) last within
        ``window`` before this one was raised: a re-alert minutes after "vehicle recovered" is
        shown with that outcome, so nobody follows a vehicle already dealt with blindly."""
        raised_at = state.raised.raised_at
        closed = [
            (step.at, other)
            for alert_id in self.alerts_of.get((state.raised.read.plate, state.raised.entry.key), [])
            if alert_id != state.alert_id and (other := self.states.get(alert_id)) is not None
            if (step := closing_step(other)) is not None and raised_at - window <= step.at <= raised_at
        ]
        return max(closed, key=lambda found: found[0])[1] if closed else None

    def get(self, alert_id: str) -> AlertState:
        state = self.states.get(alert_id)
        if state is None:
            raise NotFound(f"no alert {alert_id}")
        return state


class AlertDesk:
    """Feeds an :class:`AlertBoard` from Kafka and writes people's transitions.

    ``async with AlertDesk(settings) as desk`` reads the topics to their end; ``follow()`` then
    keeps the board current (the console runs it as a task).
    """

    def __init__(self, settings: Settings, board: AlertBoard | None = None) -> None:
        self.settings = settings
        self.topic = settings.topic("alerts")
        self.sources_topic = settings.topic("hotlist-sources")
        self.cameras_topic = settings.topic("cameras")
        self.board = board or AlertBoard()
        self._log = TopicFollower(
            settings.kafka, [self.topic, self.sources_topic, self.cameras_topic], self._apply
        )
        self._writer = TopicWriter(settings.kafka)
        self.following = False

    async def __aenter__(self) -> AlertDesk:
        await self._writer.start()
        try:
            await self._log.start()
        except BaseException:
            await self._writer.stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._log.stop()
        await self._writer.stop()

    def _apply(self, tp: TopicPartition, record: Any) -> None:
        if tp.topic == self.sources_topic:
            self.board.apply_source(record.value)
        elif tp.topic == self.cameras_topic:
            self.board.apply_camera(record.key, record.value)
        else:
            self.board.apply(tp.partition, record.value)

    async def follow(self) -> None:
        """Apply new records as they arrive (within ~50 ms), until cancelled."""
        self.following = True
        await self._log.run()

    async def caught_up(self, timeout: float = 5.0) -> None:
        """The board has folded everything on its topics now (a camera registered a moment ago)."""
        try:
            await asyncio.wait_for(self._log.caught_up(), timeout)
        except TimeoutError as exc:
            raise BrokerError(f"the alert board is more than {timeout:.0f} s behind its topics") from exc

    async def find(self, alert_id: str, timeout: float = 5.0) -> AlertState:
        """The alert's state; an id the board does not know yet is looked up again once the board has
        caught up with everything on the alerts topic now (a CAD system that learned of an alert from
        its webhook can act on it at once). Raises :class:`NotFound` when the topic has no such alert."""
        if alert_id in self.board.states or not self.following:
            return self.board.get(alert_id)
        try:
            await asyncio.wait_for(self._log.caught_up(), timeout)
        except TimeoutError as exc:
            raise BrokerError(
                f"the alert board is more than {timeout:.0f} s behind the alerts topic"
            ) from exc
        return self.board.get(alert_id)

    async def transition(
        self,
        alert_id: str,
        action: str,
        by: Actor,
        now: datetime,
        note: str = "",
        *,
        rules: StepRules | None = None,
        **fields: Any,
    ) -> AlertState:
        """Apply and record a person's step; raise :class:`TransitionRefused` and write nothing when it
        does not fit the alert's state, the step rules (P7, P8: evidence, ticks, flags, the
        entering agency, separate validation) or, for a validation, the current hot list.

        ``rules`` is what :func:`streams.alerts.usecases.transition` (the one way people's steps
        come in) passes for the deployment; without it only the order and each event's own fields
        are checked, as when a recorded history is folded."""
        if action not in ACTIONS:
            raise TransitionRefused(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")
        kind = ACTIONS[action][0]
        state = await self.find(alert_id)
        event = kind(str(uuid.uuid4()), alert_id, now, by, note, **step_fields(action, fields))
        after = evolve(state, event)  # refuses out-of-order and incomplete transitions
        if rules is not None:
            check_step(state, event, rules)
        if kind is AlertStatusValidated:
            await self._recheck(state, now)
        return await self._record(event, after)

    async def claim(
        self, alert_id: str, by: Actor, now: datetime, *, take_over: bool, stale_after: timedelta
    ) -> AlertState:
        """Record that ``by`` works the alert ("being worked by"); nothing is written when they
        already do. Raises :class:`TransitionRefused` and writes nothing when the alert is closed,
        or another person works it, their claim is not stale and ``take_over`` was not asked."""
        state = await self.find(alert_id)
        event = claim_event(state, str(uuid.uuid4()), by, now, take_over=take_over, stale_after=stale_after)
        return state if event is None else await self._record(event, evolve(state, event))

    async def release(self, alert_id: str, by: Actor, now: datetime) -> AlertState:
        """The holder stops working the alert; refused (nothing written) for anyone else."""
        state = await self.find(alert_id)
        event = release_event(state, str(uuid.uuid4()), by, now)
        return await self._record(event, evolve(state, event))

    async def image_shown(
        self, alert_id: str, by: Actor, now: datetime, read_id: str, kind: str
    ) -> AlertState:
        """Record that a read's image of this kind was served to ``by`` (P7: a verification of a
        read with a stored plate image needs it); nothing is written when it already was."""
        state = await self.find(alert_id)
        if state.image_shown_to(by, read_id, kind):
            return state
        event = AlertImageShown(str(uuid.uuid4()), alert_id, now, by, read_id=read_id, kind=kind)
        return await self._record(event, evolve(state, event))

    async def _record(self, event: AlertEvent, after: AlertState) -> AlertState:
        """Write the event on its alert's partition; once the board follows the topic, the state
        after it as folded there (it may refuse the event: another person's was first)."""
        await self._writer.write(
            self.topic,
            event.alert_id.encode(),
            dumps(event_to_dict(event)),
            self.board.partitions[event.alert_id],
        )
        await self._writer.flush()
        if self.following:
            return await self._settled(event)
        return after

    async def _settled(self, event: AlertEvent, timeout: float = 10.0) -> AlertState:
        """Wait until the board has folded the written event: another person's step written just
        before it may have changed the alert, and then the fold refuses this one."""

        def done() -> bool:
            state = self.board.states[event.alert_id]
            return event.event_id in state.applied or event.event_id in self.board.refused

        async with self._log.applied:
            await asyncio.wait_for(self._log.applied.wait_for(done), timeout)
        if event.event_id in self.board.refused:
            raise TransitionRefused(
                f"{self.board.refused[event.event_id]} (another user changed the alert first; "
                "nothing of yours was applied)"
            )
        return self.board.states[event.alert_id]

    async def _recheck(self, state: AlertState, now: datetime) -> None:
        from streams.hotlists.service import HotlistStore

        entry = state.raised.entry
        async with HotlistStore(self.settings) as store:
            found = await store.entry(entry.key)
        fresh = self.board.source_fresh.get(entry.source)
        if found is None or not entry_in_force(
            found[0], now, self.settings.profile.hotlist_max_staleness_s, fresh
        ):
            raise TransitionRefused(
                f"entry {entry.key} is no longer active (removed, expired or not refreshed): do not act. "
                "Reject the alert with reason entry_no_longer_active"
            )
