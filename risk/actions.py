"""What people do to risk events: acknowledge, shelve until a time, resolve, comment, in
bulk too. Each change and who made it (the proven identity) is a timeline entry written in
the same transaction as the change, so neither exists without the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.enums import RiskState
from storage.models import RiskEvent, RiskEventEntry

Act = Literal["acknowledge", "shelve", "unshelve", "resolve", "reopen", "comment"]
MAX_SHELF = timedelta(days=30)
MAX_BULK = 500


class RiskActionError(Exception):
    """A refused action: the HTTP status, the field at fault and why."""

    def __init__(self, status: int, error: str, path: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.error, self.path, self.reason = status, error, path, reason


@dataclass(frozen=True)
class Actor:
    user: str
    proven_by: str | None


# Which states each action starts from, and the state it leaves.
MOVES: dict[str, tuple[set[str], str | None]] = {
    "acknowledge": ({RiskState.OPEN, RiskState.SHELVED}, RiskState.ACKNOWLEDGED),
    "shelve": ({RiskState.OPEN, RiskState.ACKNOWLEDGED, RiskState.SHELVED}, RiskState.SHELVED),
    "unshelve": ({RiskState.SHELVED}, RiskState.OPEN),
    "resolve": (
        {RiskState.OPEN, RiskState.ACKNOWLEDGED, RiskState.SHELVED},
        RiskState.RESOLVED,
    ),
    "reopen": ({RiskState.RESOLVED}, RiskState.OPEN),
    "comment": (set(RiskState), None),
}
NEEDS_COMMENT = {"resolve", "comment", "reopen"}
ENTRY_KIND = {
    "acknowledge": "ACKNOWLEDGED",
    "shelve": "SHELVED",
    "unshelve": "UNSHELVED",
    "resolve": "RESOLVED",
    "reopen": "REOPENED",
    "comment": "COMMENT",
}


def _check(act: Act, comment: str | None, until: datetime | None, now: datetime) -> None:
    if act in NEEDS_COMMENT and not (comment and comment.strip()):
        raise RiskActionError(422, "CommentNeeded", "comment", f"{act} needs a comment: say why")
    if act == "shelve":
        if until is None:
            raise RiskActionError(422, "InvalidValue", "until", "shelve needs a time to wake at")
        if until.tzinfo is None:
            raise RiskActionError(422, "InvalidValue", "until", "give a time zone")
        if until <= now:
            raise RiskActionError(422, "InvalidValue", "until", "the time has already passed")
        if until - now > MAX_SHELF:
            raise RiskActionError(422, "InvalidValue", "until", "shelve for at most 30 days")
    elif until is not None:
        raise RiskActionError(422, "InvalidValue", "until", f"only shelve takes a time, not {act}")


def _apply(
    session: Session,
    row: RiskEvent,
    act: Act,
    actor: Actor,
    comment: str | None,
    until: datetime | None,
    now: datetime,
) -> bool:
    """Change one locked row; False when its state does not allow the action."""
    starts, ends = MOVES[act]
    if row.state not in starts:
        return False
    details: dict[str, Any] = {"from": row.state}
    if ends is not None:
        row.state = ends
    if act == "acknowledge":
        row.acknowledged_by, row.acknowledged_at = actor.user, now
        row.shelved_until = None
    elif act == "shelve":
        row.shelved_until = until
        details["until"] = until.isoformat() if until else None
    elif act in ("unshelve", "reopen"):
        row.shelved_until = None
        if act == "reopen":
            row.resolved_by, row.resolved_at = None, None
    elif act == "resolve":
        row.resolved_by, row.resolved_at, row.shelved_until = actor.user, now, None
        row.ends_at = row.ends_at or now
    session.add(
        RiskEventEntry(
            risk_event_id=row.id,
            at=now,
            kind=ENTRY_KIND[act],
            actor=actor.user,
            proven_by=actor.proven_by,
            comment=(comment or "").strip() or None,
            details=details,
        )
    )
    return True


def act_on(
    session: Session,
    event_id: int,
    act: Act,
    actor: Actor,
    comment: str | None = None,
    until: datetime | None = None,
) -> RiskEvent:
    """One action on one event (committed); RiskActionError when refused."""
    now = datetime.now(UTC)
    _check(act, comment, until, now)
    row = session.get(RiskEvent, event_id, with_for_update=True)
    if row is None:
        raise RiskActionError(404, "NotFound", "event_id", f"no risk event {event_id}")
    if row.merged_into is not None:
        raise RiskActionError(
            409, "Merged", "event_id", f"event {event_id} joined event {row.merged_into}: act there"
        )
    if not _apply(session, row, act, actor, comment, until, now):
        session.rollback()
        raise RiskActionError(
            409, "WrongState", "event_id", f"event {event_id} is {row.state}: cannot {act} it"
        )
    session.commit()
    return row


def act_on_many(
    session: Session,
    ids: Sequence[int],
    act: Act,
    actor: Actor,
    comment: str | None = None,
) -> dict[str, list[int]]:
    """One action on many events in one transaction: those whose state allows it change,
    the others are listed as skipped (with the ones not found)."""
    if act not in ("acknowledge", "resolve", "comment"):
        raise RiskActionError(422, "InvalidValue", "action", "bulk: acknowledge, resolve, comment")
    unique = sorted(set(ids))
    if not unique:
        raise RiskActionError(422, "InvalidValue", "ids", "select at least one event")
    if len(unique) > MAX_BULK:
        raise RiskActionError(422, "InvalidValue", "ids", f"at most {MAX_BULK} events at once")
    now = datetime.now(UTC)
    _check(act, comment, None, now)
    rows = session.scalars(
        select(RiskEvent).where(RiskEvent.id.in_(unique)).order_by(RiskEvent.id).with_for_update()
    ).all()
    changed, skipped = [], []
    for row in rows:
        usable = row.merged_into is None
        if usable and _apply(session, row, act, actor, comment, None, now):
            changed.append(row.id)
        else:
            skipped.append(row.id)
    found = {row.id for row in rows}
    session.commit()
    missing = [i for i in unique if i not in found]
    return {"changed": changed, "skipped": skipped, "not_found": missing}
