"""Feature switches declared in code; initialisation creates missing ones with their default.

An operator's later choice is never overwritten by a redeployment.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.spec import fingerprint


@dataclass(frozen=True)
class SwitchSpec:
    name: str
    default: bool
    description: str


FEATURE_SWITCHES: tuple[SwitchSpec, ...] = (
    SwitchSpec(
        "alerts.auto_start_self_recovery",
        True,
        "Alerts matching a routing rule start their self-recovery plan automatically",
    ),
    SwitchSpec(
        "execution.allow_done_by_hand",
        True,
        "People may mark a failed or waiting step as done outside Nightwatch",
    ),
    SwitchSpec("execution.require_comment_on_skip", False, "Skipping a step needs a comment"),
)


def switches_fingerprint() -> str:
    return fingerprint([(s.name, s.default, s.description) for s in FEATURE_SWITCHES])
