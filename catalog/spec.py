"""`ActionSpec`: one declaration per action, the single source of truth (`PrePlanActionCode`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from catalog.params import ActionParams, ParamInfo, describe
from storage.enums import ActionCategory, Scene

ALL_SCENES = (Scene.EMERGENCY, Scene.SELF_RECOVERY, Scene.RECOVERY)


@dataclass(frozen=True)
class ActionSpec:
    code: str
    name: str
    description: str
    category: ActionCategory
    params: type[ActionParams]
    activity: str
    scenes: tuple[Scene, ...] = ALL_SCENES
    user_visible: bool = True
    display_order: int = 0
    depends_on_configs: tuple[str, ...] = ()
    inverse: str | None = None
    # Retry of the activity itself (the engine reads these); permanent errors never retry.
    max_attempts: int = 3
    # The activity's start-to-close limit (a long scale-out enforces its own, shorter one).
    timeout_minutes: int = 30
    extra: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def param_infos(self) -> list[ParamInfo]:
        return describe(self.params)

    @property
    def param_model_name(self) -> str:
        return f"{self.params.__module__}.{self.params.__qualname__}"

    def definition(self) -> dict[str, Any]:
        """Everything the database holds about this action, as canonical JSON data."""
        return {
            "code": self.code,
            "name": self.name,
            "description": self.description,
            "category": str(self.category),
            "scenes": [str(scene) for scene in self.scenes],
            "user_visible": self.user_visible,
            "display_order": self.display_order,
            "param_model": self.param_model_name,
            "depends_on_configs": list(self.depends_on_configs),
            "activity": self.activity,
            "params": [info.model_dump(mode="json") for info in self.param_infos],
        }

    @cached_property
    def definition_hash(self) -> str:
        return fingerprint(self.definition())


def fingerprint(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
