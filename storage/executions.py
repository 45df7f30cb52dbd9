"""Every SQL statement on the execution and node tables (`pre_plan_execute_order`,
`pre_plan_execute_node`): creating an execution, the write-behind node writes, the
workflow's record, and the reads people and reports make.

The lock order between the writers, stated once: **a writer locks the execution row
before it touches that execution's nodes**. The node writer takes it FOR SHARE (many
batches may write at once), the workflow's record takes it FOR UPDATE. So a node write
racing with an execution's end either lands before the final record, or finds the
execution ended and writes nothing for it; and once `ended_at` is set, the immutability
trigger (migration 0005) refuses any change to the execution and its nodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import psycopg
from pydantic_core import to_json
from sqlalchemy import Connection, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, aliased

from storage.enums import NodeState
from storage.models import Execution, ExecutionNode, Plan

LOCK_EXECUTION_SHARED = "FOR SHARE"  # the node writer's lock (see the module docstring)
LOCK_EXECUTION_EXCLUSIVE = "FOR UPDATE"  # the record's lock
WAITING_STATES = (
    NodeState.WAITING_CONFIRMATION,
    NodeState.WAITING_PARAMETERS,
    NodeState.FAILED_WAITING,
)

# -- creation ------------------------------------------------------------------------------

_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('pre_plan_execute_order', 'id')), "
    "ARRAY(SELECT nextval(pg_get_serial_sequence('pre_plan_execute_node', 'id')) "
    "FROM generate_series(1, :n))"
)


def allocate_ids(connection: Connection, nodes: int) -> tuple[int, list[int]]:
    """Ids for an execution and its nodes, in one round trip (rows go in with them)."""
    execution_row, node_ids = connection.execute(_IDS, {"n": nodes}).one()
    return int(execution_row), list(node_ids)


# The execution and all its nodes in one statement: the nodes travel as one JSON document
# (serialised by pydantic-core), with their ids allocated up front (`allocate_ids`).
_INSERT = text("""
WITH execution AS (
    INSERT INTO pre_plan_execute_order (
        id, execution_id, workflow_run_id, plan_id, plan_version, state, trigger_kind,
        triggered_by, overrides, rerun_of_id, rerun_from_node, started_at, plan_snapshot
    ) VALUES (
        :id, :execution_id, :workflow_run_id, :plan_id, :plan_version, :state,
        :trigger_kind, :triggered_by, CAST(:overrides AS jsonb), :rerun_of_id,
        :rerun_from_node, :started_at, CAST(:plan_snapshot AS jsonb)
    )
    RETURNING id
)
INSERT INTO pre_plan_execute_node (
    id, execute_order_id, parent_node_id, step_id, plan_id, name, type, atom_id,
    execute_order, state, parameters, strategy, pending_parameters, decisions
)
SELECT v.id, execution.id, v.parent_node_id, v.step_id, v.plan_id, v.name, v.type,
       v.atom_id, v.execute_order, v.state, v.parameters, v.strategy,
       v.pending_parameters, v.decisions
FROM execution, jsonb_to_recordset(CAST(:nodes AS jsonb)) AS v(
    id bigint, parent_node_id bigint, step_id bigint, plan_id bigint, name text,
    type text, atom_id bigint, execute_order integer, state text, parameters jsonb,
    strategy jsonb, pending_parameters jsonb, decisions jsonb
)
""")
_JSON_COLUMNS = ("overrides", "plan_snapshot")


def insert_execution(
    connection: Connection, execution: dict[str, Any], nodes: list[dict[str, Any]]
) -> None:
    """The execution and all its nodes, in one statement (the caller's transaction)."""
    values = {k: to_json(v).decode() if k in _JSON_COLUMNS else v for k, v in execution.items()}
    connection.execute(_INSERT, {**values, "nodes": to_json(nodes).decode()})


_DELETE_UNSTARTED = text("""
WITH target AS (
    SELECT id FROM pre_plan_execute_order
    WHERE execution_id = :execution AND ended_at IS NULL AND created_at <= now() - :age
    FOR UPDATE
), nodes AS (
    DELETE FROM pre_plan_execute_node WHERE execute_order_id IN (SELECT id FROM target)
)
DELETE FROM pre_plan_execute_order WHERE id IN (SELECT id FROM target)
""")


def delete_unstarted(
    connection: Connection, execution_id: str, older_than: timedelta = timedelta(0)
) -> None:
    """Remove the rows of an execution whose workflow never started (its start failed),
    made at least `older_than` ago (younger ones may belong to a start in progress): no
    run saw them, so its id may be taken again by the start that is tried again."""
    connection.execute(_DELETE_UNSTARTED, {"execution": execution_id, "age": older_than})


def by_execution_id(session: Session, execution_id: str) -> Execution | None:
    return session.scalar(select(Execution).where(Execution.execution_id == execution_id))


def nodes_of(session: Session, execution_row: int) -> list[ExecutionNode]:
    query = select(ExecutionNode).where(ExecutionNode.execute_order_id == execution_row)
    return list(session.scalars(query.order_by(ExecutionNode.id)))


def effective_params(session: Session, execution_row: int) -> dict[int, dict[str, Any]]:
    """The parameters each node of an execution ran with, by plan step (for re-runs)."""
    rows = session.execute(
        select(ExecutionNode.step_id, ExecutionNode.parameters).where(
            ExecutionNode.execute_order_id == execution_row
        )
    )
    return {step_id: parameters for step_id, parameters in rows}


# -- the workflow's record -------------------------------------------------------------------

# One statement (autocommit). `live` is the execution, locked, unless it has ended: then
# nothing matches and nothing is written. The nodes are written before the execution
# (`written` needs them all): once its `ended_at` is set, the trigger refuses node changes.
_RECORD_SQL = f"""
WITH live AS MATERIALIZED (
    SELECT id FROM pre_plan_execute_order
    WHERE id = :row AND ended_at IS NULL
    {LOCK_EXECUTION_EXCLUSIVE}
), nodes AS (
    UPDATE pre_plan_execute_node AS n SET
        state = v.state, parameters = v.parameters,
        pending_parameters = v.pending_parameters, decisions = v.decisions,
        attempts = v.attempts, error = v.error, started_at = v.started_at,
        ended_at = v.ended_at, output = COALESCE(v.output, n.output), updated_at = now()
    FROM jsonb_to_recordset(CAST(:nodes AS jsonb)) AS v(
        id bigint, state text, parameters jsonb, pending_parameters jsonb, decisions jsonb,
        attempts integer, error text, started_at timestamptz, ended_at timestamptz,
        output jsonb
    ), live
    WHERE n.id = v.id AND n.execute_order_id = live.id
    RETURNING n.id
)
UPDATE pre_plan_execute_order AS e SET
    state = COALESCE(CAST(:state AS text), e.state),
    error = CASE WHEN CAST(:state AS text) IS NULL THEN e.error ELSE CAST(:error AS text) END,
    ended_at = CASE WHEN CAST(:ended AS boolean) THEN now() ELSE e.ended_at END,
    updated_at = now()
FROM live, (SELECT count(*) AS nodes FROM nodes) AS written
WHERE e.id = live.id
RETURNING written.nodes, (SELECT p.name FROM pre_plan AS p WHERE p.id = e.plan_id) AS plan
"""
_RECORD = text(_RECORD_SQL)
_EXISTS_SQL = "SELECT id FROM pre_plan_execute_order WHERE id = :row"
_EXISTS = text(_EXISTS_SQL)


@dataclass(frozen=True)
class Recorded:
    """What became of a record: `written`, or left as it was (the execution had ended), or
    `exists` False (no such execution). `plan` names the plan of an execution written."""

    exists: bool
    written: bool
    plan: str | None = None


def _record_values(
    row: int, nodes_json: str, state: str | None, error: str | None, ended: bool
) -> dict[str, Any]:
    return {"row": row, "nodes": nodes_json, "state": state, "error": error, "ended": ended}


def record(
    connection: Connection,
    row: int,
    nodes_json: str,
    state: str | None,
    error: str | None,
    *,
    ended: bool,
) -> Recorded:
    """Write the workflow's view of an execution and its nodes; an ended execution is left
    as it is."""
    values = _record_values(row, nodes_json, state, error, ended)
    written = connection.execute(_RECORD, values).first()
    if written is not None:
        return Recorded(exists=True, written=True, plan=written.plan)
    return Recorded(exists=connection.scalar(_EXISTS, {"row": row}) is not None, written=False)


async def record_from_step(
    connection: psycopg.AsyncConnection[Any],
    row: int,
    nodes_json: str,
    state: str | None,
    error: str | None,
    *,
    ended: bool,
) -> Recorded:
    """`record`, the same statement, on a bookkeeping connection (storage.db.bookkeeping_pool)
    from a step's activity that writes its execution's end."""
    values = _record_values(row, nodes_json, state, error, ended)
    written = await (await connection.execute(_pg(_RECORD_SQL), values)).fetchone()
    if written is not None:
        return Recorded(exists=True, written=True, plan=written[1])
    found = await (await connection.execute(_pg(_EXISTS_SQL), {"row": row})).fetchone()
    return Recorded(exists=found is not None, written=False)


# -- the node writer -----------------------------------------------------------------------


def _set(column: str, value: str) -> str:
    """`column` takes the batch's value when the batch has one for it."""
    return f"{column} = CASE WHEN v.j ? '{column}' THEN {value} ELSE n.{column} END"


# One statement per batch (autocommit): {node id: {column: value}} as JSON; the executions
# are locked (shared) first.
_WRITE_NODES_SQL = f"""
WITH v AS MATERIALIZED (
    SELECT CAST(key AS bigint) AS id, value AS j FROM jsonb_each(CAST(:batch AS jsonb))
), live AS MATERIALIZED (
    SELECT e.id FROM pre_plan_execute_order AS e
    WHERE e.ended_at IS NULL AND e.id IN (
        SELECT n.execute_order_id FROM pre_plan_execute_node AS n JOIN v ON v.id = n.id
    )
    {LOCK_EXECUTION_SHARED}
)
UPDATE pre_plan_execute_node AS n SET
    {_set("state", "v.j->>'state'")},
    {_set("attempts", "CAST(v.j->>'attempts' AS integer)")},
    {_set("output", "NULLIF(v.j->'output', 'null')")},
    {_set("error", "v.j->>'error'")},
    {_set("started_at", "CAST(v.j->>'started_at' AS timestamptz)")},
    {_set("ended_at", "CAST(v.j->>'ended_at' AS timestamptz)")},
    updated_at = now()
FROM v, live
WHERE n.id = v.id AND n.execute_order_id = live.id
"""


async def write_nodes(connection: psycopg.AsyncConnection[Any], batch_json: str) -> None:
    """One batch of write-behind node values, on a bookkeeping connection
    (storage.db.bookkeeping_pool); nodes of ended executions are not touched."""
    await connection.execute(_pg(_WRITE_NODES_SQL), {"batch": batch_json})


@cache
def _pg(sql: str) -> str:
    """A statement written for SQLAlchemy's text() (`:name`) in psycopg's style
    (`%(name)s`), so that each statement is written once."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql.replace("%", "%%"))


# -- reads ---------------------------------------------------------------------------------


def waiting_nodes(session: Session) -> list[tuple[ExecutionNode, str, str, str | None]]:
    """Every node waiting for a person in an open execution, oldest first: the node, its
    execution id, its plan's name and its sub-plan's name (None at the top)."""
    parent = aliased(ExecutionNode)
    query = (
        select(ExecutionNode, Execution.execution_id, Plan.name, parent.name)
        .join(Execution, Execution.id == ExecutionNode.execute_order_id)
        .join(Plan, Plan.id == Execution.plan_id)
        .outerjoin(parent, parent.id == ExecutionNode.parent_node_id)
        .where(ExecutionNode.state.in_(WAITING_STATES), Execution.ended_at.is_(None))
        .order_by(ExecutionNode.updated_at, ExecutionNode.id)
    )
    return [(node, e, plan, sub) for node, e, plan, sub in session.execute(query)]


def recent(session: Session, limit: int) -> list[tuple[Execution, str]]:
    """The newest executions with their plan's name."""
    query = (
        select(Execution, Plan.name)
        .join(Plan, Plan.id == Execution.plan_id)
        .order_by(Execution.id.desc())
        .limit(limit)
    )
    return [(execution, name) for execution, name in session.execute(query)]


def search(
    session: Session,
    *,
    states: list[str] | None = None,
    plan: str | None = None,
    trigger: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    execution_ids: list[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[tuple[Execution, str]], int]:
    """Executions matching every filter given, newest first, with their plan's name; and
    how many match in all (for paging)."""
    conditions: list[Any] = []
    if states:
        conditions.append(Execution.state.in_(states))
    if plan:
        by_id = plan.isdigit() and len(plan) < 19
        conditions.append(Execution.plan_id == int(plan) if by_id else Plan.name == plan)
    if trigger:
        conditions.append(Execution.trigger_kind == trigger)
    if since:
        conditions.append(Execution.started_at >= since)
    if until:
        conditions.append(Execution.started_at < until)
    if execution_ids is not None:
        conditions.append(Execution.execution_id.in_(execution_ids))
    query = select(Execution, Plan.name).join(Plan, Plan.id == Execution.plan_id).where(*conditions)
    total = session.scalar(
        select(func.count()).select_from(Execution).join(Plan).where(*conditions)
    )
    rows = session.execute(query.order_by(Execution.id.desc()).limit(limit).offset(offset))
    return [(execution, name) for execution, name in rows], int(total or 0)


def node_output(session: Session, execution_id: str, order: int) -> dict[str, Any] | None:
    """The output a node holds now (a running step's progress)."""
    output: dict[str, Any] | None = session.scalar(
        select(ExecutionNode.output)
        .join(Execution, Execution.id == ExecutionNode.execute_order_id)
        .where(Execution.execution_id == execution_id, ExecutionNode.execute_order == order)
    )
    return output


_STARTED_BY_ALERTS = text("""
select count(*) from risk_event r
left join pre_plan_execute_order e on e.execution_id = r.execution_id
where r.plan_name = :plan and r.outcome = 'STARTED' and r.id <> :me
  and ((e.id is null and r.last_received_at > now() - :grace) or
       (e.id is not null and e.ended_at is null))
""")


async def executions_started_by_alerts(
    session: AsyncSession, plan: str, besides: int, grace: timedelta
) -> int:
    """How many alert-started executions of `plan` run (storm control): started ones not
    ended, and those whose row is not made yet if their alert came within `grace`."""
    count = await session.execute(_STARTED_BY_ALERTS, {"plan": plan, "me": besides, "grace": grace})
    return int(count.scalar_one())
