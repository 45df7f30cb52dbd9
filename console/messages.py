"""Every text the console shows, for its translations: the strings its templates pass to
`_()` (found by Babel's Jinja2 extractor), and the values pages translate as they show
them (states, sources, kinds of timeline entries and decisions...)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from risk.dashboard import SEVERITIES
from risk.story import TimelineItem
from storage.enums import AlertOutcome, ExecutionState, NodeState, PlanType, RiskState, Scene
from workflows.models import DecisionKind

TEMPLATES = Path(__file__).parent / "templates"
SHOWN_VALUES = {
    *(s.value for s in RiskState),
    *(s.value for s in ExecutionState),
    *(s.value for s in NodeState),
    *(s.value for s in AlertOutcome),
    *(s.value for s in Scene),
    *(s.value for s in PlanType),
    *(k.value for k in DecisionKind),
    *(k.value.lower() for k in DecisionKind),
    *SEVERITIES,
    "alert",
    "inspection",
    "diagnosis",
    "OPERATOR",
    "ALERT",
    "SCHEDULE",
    "RERUN",
    "MANUAL",
    "BACKFILL",
    "RECHECK",
    "PASS",
    "WARN",
    "FAIL",
    "FILL",
    "COMPLETED",
    "CONCLUDING",
    "RUNNING",
    "confirmation",
    "parameters",
    "a decision after failure",
    "reject",
    *(
        kind.strip().rstrip(",")
        for kind in (TimelineItem.model_fields["kind"].description or "").split(",")
    ),
}


def template_messages() -> set[str]:
    """The literal strings of `_("...")` calls in the templates."""
    found = extract_from_dir(
        TEMPLATES,
        method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"extensions": ""}},
        keywords={"_": None},
    )
    return {str(message) for _, _, message, _, _ in found if isinstance(message, str)}


def all_messages() -> set[str]:
    return template_messages() | {v for v in SHOWN_VALUES if v}
