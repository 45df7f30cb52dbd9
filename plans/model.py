"""The plan document: the one format of plan files, the plan API and exports.

Strategy and parameters stay plain mappings here; `plans.validation` checks them against
`StepStrategy` and the action's parameter model, so that every problem in a document is
reported at once, each with its path.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from storage.enums import PlanType, Scene

FORMAT: Literal["nightwatch/v1"] = "nightwatch/v1"
SUB_PLAN_ORDER = (PlanType.DISASTER_SWITCH, PlanType.DISASTER_RECOVERY, PlanType.TRAFFIC_BACK)
SubPlanType = Literal["DISASTER_SWITCH", "DISASTER_RECOVERY", "TRAFFIC_BACK"]


SITE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,30}$"


class StepStrategy(BaseModel):
    """How a step runs. Stored as camelCase JSON; keys may be added, never change meaning.

    So a strategy read back (from a row, or inside a workflow history) ignores keys a newer
    release added; a plan file's unknown keys are refused by validation (`unknown_keys`)."""

    model_config = ConfigDict(
        extra="ignore", alias_generator=to_camel, populate_by_name=True, frozen=True
    )

    @classmethod
    def unknown_keys(cls, given: dict[str, Any]) -> list[str]:
        """Keys of `given` this release does not know (a typo in a plan file, most likely)."""
        known = {name for name in cls.model_fields} | {to_camel(n) for n in cls.model_fields}
        return sorted(key for key in given if key not in known)

    pre_confirm: bool = Field(False, description="wait for a person before the step runs")
    timeout_seconds: int = Field(
        0, ge=0, description="limit of a wait for a person; 0 means no limit"
    )
    on_timeout: Literal["FAIL", "SKIP", "ABORT"] = Field(
        "FAIL", description="what happens when timeoutSeconds passes (never a silent approval)"
    )
    on_failure: Literal["WAIT", "CONTINUE", "ABORT"] = Field(
        "WAIT", description="after a failed step: wait for a person, continue, or abort"
    )
    confirmers: list[str] = Field(
        default_factory=list, description="who may confirm: user names or role:NAME; empty = anyone"
    )
    approvals: int = Field(1, ge=1, le=10, description="confirmations needed before the step runs")
    reminder_seconds: int = Field(
        0, ge=0, description="remind people this long before timeoutSeconds passes"
    )
    site: str | None = Field(
        None,
        pattern=SITE_PATTERN,
        description="the data centre whose workers run this step (their queue "
        "`<task queue>@<site>`); none: any worker",
    )

    def compact(self) -> dict[str, Any]:
        """Only the keys that differ from their defaults: how documents show a strategy."""
        return self.model_dump(by_alias=True, exclude_defaults=True)

    def stored(self) -> dict[str, Any]:
        """The JSON stored in pre_plan_step: the domain's two keys always, others when set."""
        return {
            "preConfirm": self.pre_confirm,
            "timeoutSeconds": self.timeout_seconds,
            **self.compact(),
        }


class StepDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    action: str = Field(min_length=1, max_length=64, description="action code from the catalog")
    params: dict[str, Any] = Field(default_factory=dict)
    pending: list[str] = Field(
        default_factory=list, description="parameters a person fills in during the execution"
    )
    strategy: dict[str, Any] = Field(default_factory=dict, description="see StepStrategy")


class SubPlanDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: SubPlanType
    name: str | None = Field(None, max_length=200)
    site: str | None = Field(
        None,
        pattern=SITE_PATTERN,
        description="the data centre whose workers run this sub-plan's steps (a step's own "
        "site wins): a switch-over runs in the surviving one",
    )
    steps: list[StepDoc] = Field(default_factory=list)


class PlanDocument(BaseModel):
    """A plan as written in a file: emergency and self-recovery plans have `steps`,
    disaster-recovery plans have 1 to 3 `sub_plans` run as switch, recovery, traffic-back."""

    model_config = ConfigDict(extra="forbid", title="Nightwatch plan")

    format: Literal["nightwatch/v1"] = FORMAT
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    scene: Scene
    enabled: bool = True
    four_eyes: bool = Field(
        False, description="whoever starts an execution of this plan may not confirm its steps"
    )
    group_id: str | None = Field(None, max_length=64, description="disaster-recovery only")
    layer: str | None = Field(None, max_length=64, description="disaster-recovery only")
    steps: list[StepDoc] = Field(default_factory=list)
    sub_plans: list[SubPlanDoc] = Field(default_factory=list)

    def all_steps(self) -> list[tuple[str, StepDoc]]:
        """Every step with its path prefix, in execution order."""
        if self.scene != Scene.RECOVERY:
            return [(f"steps[{i}]", step) for i, step in enumerate(self.steps, 1)]
        return [
            (f"sub_plans[{sub.type}].steps[{i}]", step)
            for sub in sorted_sub_plans(self.sub_plans)
            for i, step in enumerate(sub.steps, 1)
        ]


def sorted_sub_plans(sub_plans: list[SubPlanDoc]) -> list[SubPlanDoc]:
    """Sub-plans in the fixed execution order, whatever order the file lists them in."""
    return sorted(sub_plans, key=lambda sub: SUB_PLAN_ORDER.index(PlanType(sub.type)))
