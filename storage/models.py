"""SQLAlchemy 2 typed models of every Nightwatch table, named as the domain fixes them.

Enumerations are VARCHAR holding the values of `storage.enums`; strategy, context,
parameters and outputs are JSONB; every timestamp has a time zone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Json = dict[str, Any]
JsonList = list[Any]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        Json: JSONB(none_as_null=True),
        JsonList: JSONB(none_as_null=True),
        datetime: DateTime(timezone=True),
    }


def _id() -> Mapped[int]:
    return mapped_column(BigInteger, Identity(always=False), primary_key=True)


def _created() -> Mapped[datetime]:
    return mapped_column(server_default=func.now())


def _updated() -> Mapped[datetime]:
    return mapped_column(server_default=func.now(), onupdate=func.now())


def _enum(length: int = 32) -> Mapped[str]:
    return mapped_column(String(length))


class PlanAction(Base):
    """`pre_plan_action`: one atomic operation, synced from the catalog declared in code."""

    __tablename__ = "pre_plan_action"

    id: Mapped[int] = _id()
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = _enum()
    scenes: Mapped[JsonList]
    user_visible: Mapped[bool] = mapped_column(Boolean, server_default="true")
    invisible_reason: Mapped[str | None] = mapped_column(Text)
    # What the code declares; `user_visible` also needs every config in depends_on_configs.
    declared_visible: Mapped[bool] = mapped_column(Boolean, server_default="true")
    display_order: Mapped[int] = mapped_column(Integer, server_default="0")
    param_model: Mapped[str] = mapped_column(String(200))
    depends_on_configs: Mapped[JsonList]
    activity: Mapped[str] = mapped_column(String(128))
    definition_hash: Mapped[str] = mapped_column(String(64))
    # The server version that last wrote the row: an older server never overwrites it.
    synced_by_version: Mapped[str | None] = mapped_column(String(64))
    retired_at: Mapped[datetime | None]
    retired_in_version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class PlanActionParam(Base):
    """`pre_plan_action_param`: one field of an action's parameter model."""

    __tablename__ = "pre_plan_action_param"
    __table_args__ = (UniqueConstraint("action_id", "name"),)

    id: Mapped[int] = _id()
    action_id: Mapped[int] = mapped_column(ForeignKey("pre_plan_action.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = _enum()
    required: Mapped[bool] = mapped_column(Boolean)
    default: Mapped[Json | None]
    secret: Mapped[bool] = mapped_column(Boolean, server_default="false")
    display_order: Mapped[int] = mapped_column(Integer, server_default="0")
    validation: Mapped[Json]
    option_source: Mapped[str | None] = mapped_column(String(64))
    option_filter: Mapped[str | None] = mapped_column(String(32))
    retired_at: Mapped[datetime | None]
    retired_in_version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class Plan(Base):
    """`pre_plan`: a MAIN plan, or one disaster-recovery sub-plan sharing the MAIN's group."""

    __tablename__ = "pre_plan"
    __table_args__ = (
        Index("ix_pre_plan_group_id", "group_id"),
        Index("ix_pre_plan_scene_type", "scene", "type"),
        # Plan files are applied by name: one live MAIN plan per name.
        Index(
            "uq_pre_plan_main_name",
            "name",
            unique=True,
            postgresql_where=text("type = 'MAIN' AND deleted_at IS NULL"),
        ),
    )

    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    scene: Mapped[str] = _enum()
    type: Mapped[str] = _enum()
    atomic: Mapped[bool] = mapped_column(Boolean)
    group_id: Mapped[str | None] = mapped_column(String(64))
    layer: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    # Whoever started an execution of this plan may not confirm its risky steps.
    four_eyes: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_by: Mapped[str | None] = mapped_column(String(128))
    updated_by: Mapped[str | None] = mapped_column(String(128))
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class PlanStep(Base):
    """`pre_plan_step`: an ATOMIC_ACTION step, or a PRE_PLAN_TEMPLATE step naming a sub-plan."""

    __tablename__ = "pre_plan_step"
    __table_args__ = (UniqueConstraint("plan_id", "execute_order"),)

    id: Mapped[int] = _id()
    plan_id: Mapped[int] = mapped_column(ForeignKey("pre_plan.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = _enum()
    # An action id (ATOMIC_ACTION) or a sub-plan id (PRE_PLAN_TEMPLATE): no single foreign key.
    atom_id: Mapped[int] = mapped_column(BigInteger)
    execute_order: Mapped[int] = mapped_column(Integer)
    execute_strategy: Mapped[Json]
    execute_context: Mapped[Json | None]
    # Parameters a person fills in when the execution reaches this step.
    pending_params: Mapped[JsonList | None]
    # A removed step is kept (executions point at it) and marked; edits reuse its slot.
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class Execution(Base):
    """`pre_plan_execute_order`: one run of a plan; `execution_id` is its Temporal workflow id."""

    __tablename__ = "pre_plan_execute_order"
    __table_args__ = (Index("ix_pre_plan_execute_order_state", "state"),)

    id: Mapped[int] = _id()
    execution_id: Mapped[str] = mapped_column(String(200), unique=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("pre_plan.id"), index=True)
    plan_version: Mapped[int] = mapped_column(Integer)
    plan_snapshot: Mapped[Json]
    state: Mapped[str] = _enum()
    trigger_kind: Mapped[str] = _enum()
    triggered_by: Mapped[str | None] = mapped_column(String(200))
    overrides: Mapped[Json]
    rerun_of_id: Mapped[int | None] = mapped_column(ForeignKey("pre_plan_execute_order.id"))
    rerun_from_node: Mapped[str | None] = mapped_column(String(200))
    workflow_run_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class ExecutionNode(Base):
    """`pre_plan_execute_node`: one per step of the plan (n+m for a DR plan) in one execution."""

    __tablename__ = "pre_plan_execute_node"
    __table_args__ = (UniqueConstraint("execute_order_id", "step_id"),)

    id: Mapped[int] = _id()
    execute_order_id: Mapped[int] = mapped_column(
        ForeignKey("pre_plan_execute_order.id"), index=True
    )
    step_id: Mapped[int] = mapped_column(ForeignKey("pre_plan_step.id"))
    parent_node_id: Mapped[int | None] = mapped_column(ForeignKey("pre_plan_execute_node.id"))
    plan_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = _enum()
    atom_id: Mapped[int] = mapped_column(BigInteger)
    execute_order: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = _enum()
    parameters: Mapped[Json]
    strategy: Mapped[Json]
    pending_parameters: Mapped[JsonList]
    decisions: Mapped[JsonList]
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    output: Mapped[Json | None]
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class SystemConfig(Base):
    """`system_config`: typed configuration values (structured: lists of entries, not maps)."""

    __tablename__ = "system_config"

    id: Mapped[int] = _id()
    key: Mapped[str] = mapped_column(String(128), unique=True)
    value: Mapped[Json | None]
    value_type: Mapped[str] = _enum()
    description: Mapped[str | None] = mapped_column(Text)
    default: Mapped[Json | None]
    synced_by_version: Mapped[str | None] = mapped_column(String(64))
    retired_at: Mapped[datetime | None]
    retired_in_version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class FeatureSwitch(Base):
    """`feature_switch`: named on/off switches initialised at start-up."""

    __tablename__ = "feature_switch"

    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(128), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    description: Mapped[str | None] = mapped_column(Text)
    synced_by_version: Mapped[str | None] = mapped_column(String(64))
    retired_at: Mapped[datetime | None]
    retired_in_version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class InitTaskRun(Base):
    """`init_task_run`: who ran which initialisation task for which deployment, and how it went."""

    __tablename__ = "init_task_run"
    __table_args__ = (
        Index("ix_init_task_run_task_deployment", "task", "deployment"),
        # Exactly once, enforced by the database: one success per task and deployment.
        Index(
            "uq_init_task_run_once",
            "task",
            "deployment",
            unique=True,
            postgresql_where=text("state = 'SUCCEEDED' AND strategy <> 'EVERY_SERVER'"),
        ),
    )

    id: Mapped[int] = _id()
    task: Mapped[str] = mapped_column(String(64))
    strategy: Mapped[str] = _enum()
    deployment: Mapped[str] = mapped_column(String(128))
    server: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = _enum(16)
    details: Mapped[Json | None]
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None]


class AlertRule(Base):
    """`alert_rule`: label matchers → a SELF_RECOVERY plan, with the alert → parameter mapping."""

    __tablename__ = "alert_rule"

    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean)
    matchers: Mapped[JsonList]
    plan_name: Mapped[str] = mapped_column(String(200))
    params: Mapped[Json]
    signal_resolved: Mapped[bool] = mapped_column(Boolean)
    # "start": start the plan; "propose": show it with the risk event for a person to start.
    action: Mapped[str] = mapped_column(String(16), server_default="start")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


SHOWN = "merged_into IS NULL"
ORIGIN = (
    "CASE WHEN source = 'inspection' THEN 'inspection' "
    "WHEN source = 'diagnosis' THEN 'diagnosis' ELSE 'alert' END"
)
SEARCH = (
    "lower(coalesce(alert_name, '') || ' ' || coalesce(resource, '') || ' ' || "
    "coalesce(plan_name, '') || ' ' || fingerprint)"
)
# Severities most urgent first (risk/dashboard.py SEVERITIES): the dashboard's severity order.
SEVERITY_RANK = (
    "CASE lower(severity) WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'major' THEN 2 "
    "WHEN 'error' THEN 3 WHEN 'warning' THEN 4 WHEN 'minor' THEN 5 WHEN 'info' THEN 6 "
    "WHEN 'none' THEN 7 ELSE 8 END"
)


class RiskEvent(Base):
    """`risk_event`: one per firing of an alert (source, fingerprint, episode), its story.

    The episode is the firing's start time, or for a generic alert without one the id of
    the webhook message that brought it (so a redelivered message is the same firing)."""

    __tablename__ = "risk_event"
    __table_args__ = (
        UniqueConstraint("source", "fingerprint", "episode"),
        Index("ix_risk_event_state", "state"),
        # Storm control counts a plan's started executions on every alert.
        Index(
            "ix_risk_event_plan_started", "plan_name", postgresql_where=text("outcome = 'STARTED'")
        ),
        Index(
            "ix_risk_event_open_resource", "resource", postgresql_where=text("state <> 'RESOLVED'")
        ),
        # The risk dashboard (migration 0010): its list, counts, trend and text filter.
        Index("ix_risk_event_newest", "last_received_at", "id", postgresql_where=text(SHOWN)),
        *(
            Index(
                f"ix_risk_event_{column}_newest",
                column,
                "last_received_at",
                "id",
                postgresql_where=text(SHOWN),
            )
            for column in ("severity", "origin", "state", "plan_name")
        ),
        Index(
            "ix_risk_event_resource_newest",
            "resource",
            "last_received_at",
            postgresql_where=text(SHOWN),
        ),
        Index(
            "ix_risk_event_unresolved",
            "severity",
            "origin",
            "state",
            postgresql_where=text(f"{SHOWN} AND state <> 'RESOLVED'"),
        ),
        Index("ix_risk_event_trend", "first_received_at", "severity", postgresql_where=text(SHOWN)),
        Index(
            "ix_risk_event_search",
            "search",
            postgresql_using="gin",
            postgresql_ops={"search": "gin_trgm_ops"},
            postgresql_where=text(SHOWN),
        ),
        Index("ix_risk_event_shelved", "shelved_until", postgresql_where=text("state = 'SHELVED'")),
    )

    id: Mapped[int] = _id()
    source: Mapped[str] = _enum()
    fingerprint: Mapped[str] = mapped_column(String(128))
    episode: Mapped[str] = mapped_column(String(200))
    alert_name: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = _enum(16)
    labels: Mapped[Json]
    annotations: Mapped[Json]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    deliveries: Mapped[int] = mapped_column(Integer)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rule.id"))
    plan_name: Mapped[str | None] = mapped_column(String(200))
    execution_id: Mapped[str | None] = mapped_column(String(200), index=True)
    outcome: Mapped[str] = _enum()
    reason: Mapped[str | None] = mapped_column(Text)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None]
    first_received_at: Mapped[datetime] = _created()
    last_received_at: Mapped[datetime] = _created()
    # What the event is about (`docs/inspection.md`: the resource key), so an alert and a
    # failed check on the same resource become one event; every source that saw it.
    resource: Mapped[str | None] = mapped_column(String(600))
    sources: Mapped[JsonList] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    last_value: Mapped[str | None] = mapped_column(Text)
    flapping: Mapped[bool] = mapped_column(Boolean, server_default="false")
    remediation: Mapped[str | None] = mapped_column(Text)
    # An alert that met an open event on its resource: its row is kept (deliveries,
    # routing) but the story is told by the event it joined.
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("risk_event.id"))
    # The dashboard (0010): shelved until a time (then open again by itself), who resolved,
    # the source family (alert, inspection, diagnosis) and the text the text filter reads.
    shelved_until: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None]
    origin: Mapped[str | None] = mapped_column(String(16), Computed(ORIGIN, persisted=True))
    search: Mapped[str | None] = mapped_column(Text, Computed(SEARCH, persisted=True))
    severity_rank: Mapped[int | None] = mapped_column(
        SmallInteger, Computed(SEVERITY_RANK, persisted=True)
    )


Index(
    "ix_risk_event_severity_rank",
    RiskEvent.severity_rank,
    RiskEvent.last_received_at.desc(),
    RiskEvent.id.desc(),
    postgresql_where=text(SHOWN),
)


class RiskEventEntry(Base):
    """`risk_event_entry`: what people did to a risk event (acknowledged, shelved, resolved,
    commented, started a plan), who (proven) and when: the event's timeline with the rest."""

    __tablename__ = "risk_event_entry"
    __table_args__ = (Index("ix_risk_event_entry_event", "risk_event_id", "at"),)

    id: Mapped[int] = _id()
    risk_event_id: Mapped[int] = mapped_column(ForeignKey("risk_event.id", ondelete="CASCADE"))
    at: Mapped[datetime] = _created()
    kind: Mapped[str] = _enum()
    actor: Mapped[str] = mapped_column(String(200))
    proven_by: Mapped[str | None] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
    details: Mapped[Json] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class HistoryArchive(Base):
    """`history_archive`: the full Temporal history of a closed workflow, kept past the
    namespace's retention. Append-only (a trigger refuses changes); each row's `chain_hash`
    covers its own digest and the previous row's chain hash, so any change shows."""

    __tablename__ = "history_archive"
    __table_args__ = (UniqueConstraint("workflow_id", "run_id"),)

    id: Mapped[int] = _id()
    workflow_id: Mapped[str] = mapped_column(String(300))
    run_id: Mapped[str] = mapped_column(String(64))
    execution_id: Mapped[str] = mapped_column(String(200), index=True)
    workflow_type: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(40))
    closed_at: Mapped[datetime | None] = mapped_column(index=True)
    event_count: Mapped[int] = mapped_column(Integer)
    history_gz: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))
    archived_at: Mapped[datetime] = _created()


class Account(Base):
    """`account`: a local account (the embedded default; a bank's people sign in through
    its OpenID provider instead). The password is kept as an argon2id hash only."""

    __tablename__ = "account"

    id: Mapped[int] = _id()
    username: Mapped[str] = mapped_column(String(128), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(Text)
    roles: Mapped[JsonList]
    # Provider-like groups a plan step's "may act" list can name (`group:duty-manager`).
    groups: Mapped[JsonList] = mapped_column(server_default=text("'[]'::jsonb"))
    # Repeated failed sign-ins lock the account for a while, longer each time.
    failed_sign_ins: Mapped[int] = mapped_column(Integer, server_default="0")
    locked_until: Mapped[datetime | None]
    last_sign_in_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class ApiToken(Base):
    """`api_token`: a token for the CLI or automation, shown once and kept as a hash. It
    acts as `owner` with `roles` (never more than its creator had) until it expires or is
    revoked."""

    __tablename__ = "api_token"

    id: Mapped[int] = _id()
    token_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(200), index=True)
    roles: Mapped[JsonList]
    # The owner's groups when it made the token for itself (`group:NAME` in "may act").
    groups: Mapped[JsonList] = mapped_column(server_default=text("'[]'::jsonb"))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    last_used_at: Mapped[datetime | None]


class WebSession(Base):
    """`web_session`: a browser's session (HttpOnly cookie), kept as a hash of its secret.
    Before sign-in through the OpenID provider it holds the sign-in's `pending` state
    (state, nonce, PKCE verifier); after, the proven `identity`. It ends at sign-out, after
    an idle time, or at `expires_at` whatever happens."""

    __tablename__ = "web_session"

    id: Mapped[int] = _id()
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    identity: Mapped[Json | None]
    pending: Mapped[Json | None]
    created_at: Mapped[datetime] = _created()
    last_seen_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]


# -- automatic inspection ------------------------------------------------------------------


class CheckKind(Base):
    """`inspection_check_kind`: one kind of check, synced from the declarations in code."""

    __tablename__ = "inspection_check_kind"

    id: Mapped[int] = _id()
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = _enum()
    display_order: Mapped[int] = mapped_column(Integer)
    definition: Mapped[Json]
    definition_hash: Mapped[str] = mapped_column(String(64))
    user_visible: Mapped[bool] = mapped_column(Boolean, server_default="true")
    invisible_reason: Mapped[str | None] = mapped_column(Text)
    synced_by_version: Mapped[str] = mapped_column(String(64))
    retired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class InspectionPlan(Base):
    """`inspection_plan`: a named set of checks on a schedule (the document as written)."""

    __tablename__ = "inspection_plan"

    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    document: Mapped[Json]
    version: Mapped[int] = mapped_column(Integer)
    schedule_id: Mapped[str] = mapped_column(String(250), unique=True)
    paused: Mapped[bool] = mapped_column(Boolean, server_default="false")
    pause_note: Mapped[str | None] = mapped_column(Text)
    missed_runs: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_by: Mapped[str] = mapped_column(String(200))
    updated_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()
    deleted_at: Mapped[datetime | None]


class InspectionRun(Base):
    """`inspection_run`: one run of an inspection plan (a workflow), its counts and changes."""

    __tablename__ = "inspection_run"
    __table_args__ = (Index("ix_inspection_run_plan_started", "plan_id", "started_at"),)

    id: Mapped[int] = _id()
    workflow_id: Mapped[str] = mapped_column(String(250), unique=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("inspection_plan.id"))
    plan_version: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = _enum()
    state: Mapped[str] = _enum(16)
    scheduled_at: Mapped[datetime | None]
    started_at: Mapped[datetime] = _created()
    ended_at: Mapped[datetime | None]
    checks: Mapped[int] = mapped_column(Integer, server_default="0")
    # The expanded checks (check, kind, target, resource, params, …): batches read slices.
    work: Mapped[JsonList]
    counts: Mapped[Json]
    changes: Mapped[Json]
    error: Mapped[str | None] = mapped_column(Text)


class InspectionResult(Base):
    """`inspection_result`: what one check saw on one target in one run (kept for
    `inspection.retention_days`)."""

    __tablename__ = "inspection_result"
    __table_args__ = (
        UniqueConstraint("run_id", "check_name", "target"),
        Index("ix_inspection_result_lookup", "plan_id", "check_name", "target", "checked_at"),
        Index("ix_inspection_result_checked_at", "checked_at"),
    )

    id: Mapped[int] = _id()
    run_id: Mapped[int] = mapped_column(ForeignKey("inspection_run.id", ondelete="CASCADE"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("inspection_plan.id"))
    check_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(500))
    resource: Mapped[str] = mapped_column(String(600))
    outcome: Mapped[str] = _enum(8)
    failures: Mapped[JsonList]
    observed: Mapped[Json]
    evidence: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
    checked_at: Mapped[datetime]


class InspectionState(Base):
    """`inspection_state`: the flapping window of one check on one target, between runs."""

    __tablename__ = "inspection_state"

    plan_id: Mapped[int] = mapped_column(ForeignKey("inspection_plan.id"), primary_key=True)
    check_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    target: Mapped[str] = mapped_column(String(500), primary_key=True)
    recent: Mapped[str] = mapped_column(String(64))  # newest last: P(ass), W(arn), F(ail)
    failing: Mapped[bool] = mapped_column(Boolean)
    flapping: Mapped[bool] = mapped_column(Boolean, server_default="false")
    since: Mapped[datetime]
    last_run_id: Mapped[int] = mapped_column(BigInteger)
    risk_event_id: Mapped[int | None] = mapped_column(ForeignKey("risk_event.id"))
    notified_at: Mapped[datetime | None]


class RiskEventRun(Base):
    """`risk_event_run`: every inspection run that saw a risk event's failure."""

    __tablename__ = "risk_event_run"

    risk_event_id: Mapped[int] = mapped_column(
        ForeignKey("risk_event.id", ondelete="CASCADE"), primary_key=True
    )
    run_id: Mapped[int] = mapped_column(
        ForeignKey("inspection_run.id", ondelete="CASCADE"), primary_key=True
    )
    outcome: Mapped[str] = _enum(8)
    seen_at: Mapped[datetime] = _created()
