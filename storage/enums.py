"""Domain enumerations, stored as readable strings (VARCHAR, never native enum types).

Plain strings keep the schema additive: a newer server may store a value an older one
does not know, and the older one still reads the row.
"""

from __future__ import annotations

from enum import StrEnum


class Scene(StrEnum):
    EMERGENCY = "EMERGENCY"
    SELF_RECOVERY = "SELF_RECOVERY"
    RECOVERY = "RECOVERY"


class PlanType(StrEnum):
    MAIN = "MAIN"
    DISASTER_SWITCH = "DISASTER_SWITCH"
    DISASTER_RECOVERY = "DISASTER_RECOVERY"
    TRAFFIC_BACK = "TRAFFIC_BACK"


class StepType(StrEnum):
    ATOMIC_ACTION = "ATOMIC_ACTION"
    PRE_PLAN_TEMPLATE = "PRE_PLAN_TEMPLATE"


class ActionCategory(StrEnum):
    GENERAL = "GENERAL"
    PRODUCT = "PRODUCT"
    NETWORK = "NETWORK"
    APPLICATION = "APPLICATION"
    SERVICE = "SERVICE"
    DATA = "DATA"
    INFRASTRUCTURE = "INFRASTRUCTURE"


class ExecutionState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"
    CANCELLED = "CANCELLED"


class NodeState(StrEnum):
    PENDING = "PENDING"
    WAITING_CONFIRMATION = "WAITING_CONFIRMATION"
    WAITING_PARAMETERS = "WAITING_PARAMETERS"
    RUNNING = "RUNNING"
    FAILED_WAITING = "FAILED_WAITING"
    SUCCEEDED = "SUCCEEDED"
    SKIPPED = "SKIPPED"
    DONE_BY_HAND = "DONE_BY_HAND"
    FAILED = "FAILED"
    ABORTED = "ABORTED"
    CANCELLED = "CANCELLED"


class InitStrategy(StrEnum):
    ONCE_EVER = "ONCE_EVER"
    ONCE_PER_DEPLOYMENT = "ONCE_PER_DEPLOYMENT"
    EVERY_SERVER = "EVERY_SERVER"


class InitRunState(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class RiskState(StrEnum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    SHELVED = "SHELVED"  # out of sight until `shelved_until`, then OPEN again by itself
    RESOLVED = "RESOLVED"


class AlertOutcome(StrEnum):
    """What an alert's delivery led to (the risk event keeps the latest)."""

    STARTED = "STARTED"  # an execution was started for it
    ALREADY_STARTED = "ALREADY_STARTED"  # its execution exists: nothing new started
    SUPPRESSED = "SUPPRESSED"  # storm control: too many executions of the plan running
    UNROUTED = "UNROUTED"  # no enabled rule matches it
    PROPOSED = "PROPOSED"  # a rule proposes its plan: a person starts it from the event
    REJECTED = "REJECTED"  # a rule matched but its parameters cannot be filled from it
    RESOLVED = "RESOLVED"  # a resolved notification
