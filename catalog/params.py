"""Parameter models: pydantic fields that also carry what a form and the catalog table need.

`param(...)` declares one field: display name, description, display order, default,
secret flag, validation (bounds, pattern, allowed values via `Literal`) and where allowed
values come from (`Options`). `describe(model)` reads it all back from the model's JSON
schema, so what the model declares is exactly what `pre_plan_action_param` holds.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nightwatch.errors import NightwatchError

_UNSET: Any = ...


class InstanceFilter(StrEnum):
    """Which container instances an instance picker offers."""

    RUNNING = "RUNNING"
    NOT_RUNNING = "NOT_RUNNING"
    ALL = "ALL"


class Options(BaseModel):
    """Allowed values come from a named source, e.g. the live instances of a service."""

    model_config = ConfigDict(frozen=True)

    source: str
    filter: InstanceFilter | None = None
    depends_on: tuple[str, ...] = ()


class ActionParams(BaseModel):
    """Base of every action's parameter model: unknown keys are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def param(
    display_name: str,
    description: str,
    *,
    order: int,
    default: Any = _UNSET,
    secret: bool = False,
    options: Options | None = None,
    ge: float | None = None,
    le: float | None = None,
    pattern: str | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
) -> Any:
    extra: dict[str, Any] = {"x-order": order, "x-secret": secret}
    if options is not None:
        extra["x-options"] = options.model_dump(mode="json")
    return Field(
        default,
        title=display_name,
        description=description,
        ge=ge,
        le=le,
        pattern=pattern,
        min_length=min_length,
        max_length=max_length,
        json_schema_extra=extra,
    )


class ParamInfo(BaseModel):
    """One field of a parameter model, as the catalog table stores it."""

    model_config = ConfigDict(frozen=True)

    name: str
    display_name: str
    description: str | None
    type: str
    required: bool
    default: Any = None
    secret: bool = False
    display_order: int = 0
    validation: dict[str, Any] = Field(default_factory=dict)
    option_source: str | None = None
    option_filter: str | None = None


_VALIDATION_KEYS = {
    "minimum": "min",
    "maximum": "max",
    "exclusiveMinimum": "exclusive_min",
    "exclusiveMaximum": "exclusive_max",
    "pattern": "pattern",
    "minLength": "min_length",
    "maxLength": "max_length",
    "enum": "allowed_values",
    "minItems": "min_items",
    "maxItems": "max_items",
}


def _type_of(prop: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The field's type name and the schema node holding its constraints."""
    variants = [v for v in prop.get("anyOf", []) if v.get("type") != "null"]
    node = variants[0] if len(variants) == 1 else prop
    if "const" in node:
        return "enum", {**node, "enum": [node["const"]]}
    if "enum" in node:
        return "enum", node
    kind = node.get("type")
    if kind == "array":
        items = node.get("items", {})
        if items.get("type") == "string":
            return "string_list", node
        return ("entries" if "$ref" in items else "list"), node
    names = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}
    return names.get(str(kind), "json"), node


def describe(model: type[BaseModel]) -> list[ParamInfo]:
    """Every field of a parameter model with its metadata, in display order."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    infos = []
    for name, prop in schema.get("properties", {}).items():
        kind, node = _type_of(prop)
        options = prop.get("x-options") or {}
        validation = {
            ours: node[theirs] for theirs, ours in _VALIDATION_KEYS.items() if theirs in node
        }
        if options.get("depends_on"):
            validation["options_depend_on"] = options["depends_on"]
        infos.append(
            ParamInfo(
                name=name,
                display_name=prop.get("title", name),
                description=prop.get("description"),
                type=kind,
                required=name in required,
                default=prop.get("default"),
                secret=bool(prop.get("x-secret", False)),
                display_order=int(prop.get("x-order", 0)),
                validation=validation,
                option_source=options.get("source"),
                option_filter=options.get("filter"),
            )
        )
    return sorted(infos, key=lambda info: (info.display_order, info.name))


class ParameterProblem(BaseModel):
    field: str
    reason: str


class ParameterError(NightwatchError):
    """Parameters that fail an action's model; `problems` lists every field at once."""

    def __init__(self, path: str, problems: list[ParameterProblem]) -> None:
        listed = "; ".join(f"{p.field}: {p.reason}" for p in problems)
        super().__init__(path, listed)
        self.problems = problems


def check_parameters(
    model: type[ActionParams],
    values: dict[str, Any],
    *,
    may_be_missing: AbstractSet[str] = frozenset(),
) -> list[ParameterProblem]:
    """Validate values against the model; fields in `may_be_missing` are filled in later."""
    try:
        model.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "(parameters)"
            if error["type"] == "missing" and field in may_be_missing:
                continue
            reason = "unknown parameter" if error["type"] == "extra_forbidden" else error["msg"]
            problems.append(ParameterProblem(field=field, reason=reason))
        return problems
    return []
