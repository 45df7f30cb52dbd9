"""The inspection plan document (`format: nightwatch/inspection/v1`): checks, targets,
severity, schedule, flapping thresholds, maintenance windows and who is notified.

`validate_document` reports every problem at once, each with its path, the way plan files
are validated; `docs/inspection-files.md` is the reference and
`docs/inspection-plan.schema.json` the JSON Schema (`nightwatch inspect schema`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from catalog.checks import CHECKS_BY_CODE, CheckSpec
from catalog.params import check_parameters
from inspection.conditions import Condition, ConditionError, parse
from nightwatch.errors import NightwatchError

FORMAT: Literal["nightwatch/inspection/v1"] = "nightwatch/inspection/v1"
NAME = r"^[a-z0-9]([a-z0-9._-]{0,98}[a-z0-9])?$"
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
PLACEHOLDER = re.compile(r"\{(app|instance|node)\}")
Severity = Literal["critical", "major", "minor", "warning", "info"]


def seconds(text: str) -> float:
    """`30s`, `5m`, `1.5h`, `2d` → seconds; ValueError otherwise."""
    found = DURATION.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a duration such as 30s, 5m, 2h or 1d")
    return float(found.group(1)) * DURATION_UNITS[found.group(2)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedule(Strict):
    every: str | None = Field(None, description="an interval: 30s, 5m, 1h")
    cron: str | None = Field(None, description="a cron expression: */5 * * * *")
    time_zone: str = Field("UTC", description="IANA time zone of the cron expression")
    jitter: str = Field("0s", description="start each run up to this much later, at random")
    catchup_window: str = Field(
        "10m", description="runs missed while Temporal was away are made up within this window"
    )


class Flapping(Strict):
    fail_after: int = Field(1, ge=1, le=20, description="fail after N failed runs…")
    window: int = Field(1, ge=1, le=20, description="…of the last M runs")
    recover_after: int = Field(1, ge=1, le=20, description="recover after K passing runs")


class Window(Strict):
    """A maintenance window: recurring (cron + duration) or one-off (start + end)."""

    cron: str | None = None
    duration: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    time_zone: str = "UTC"
    note: str = Field("", max_length=500)
    checks: list[str] = Field(default_factory=list, description="only these checks; empty: all")

    def covers(self, moment: datetime) -> bool:
        if self.start is not None and self.end is not None:
            return self.start <= moment < self.end
        assert self.cron is not None and self.duration is not None
        local = moment.astimezone(ZoneInfo(self.time_zone))
        began = croniter(self.cron, local).get_prev(datetime)
        return bool(local < began + timedelta(seconds=seconds(self.duration)))


class Notify(Strict):
    channels: list[str] = Field(
        default_factory=list, description="names from system config inspection.channels"
    )
    only_changes: bool = Field(True, description="push new failures and recoveries only")
    remind_every: str | None = Field(
        "4h", description="push again what stays failing this often (null: never)"
    )


class Limits(Strict):
    concurrency: int = Field(100, ge=1, le=2000, description="checks running at once in a run")
    per_target: int = Field(4, ge=1, le=100, description="checks running at once against one host")
    batch: int = Field(200, ge=1, le=2000, description="checks per activity")


class Every(Strict):
    """Targets from the platform's inventory."""

    source: Literal["app_instances", "apps"]
    app: str | None = Field(None, description="for app_instances: whose instances")


class Check(Strict):
    name: str = Field(pattern=NAME)
    kind: str
    description: str = ""
    severity: Severity = "major"
    params: dict[str, Any] = Field(default_factory=dict)
    conditions: list[str] = Field(default_factory=list, description="all must hold: else FAIL")
    warn_when: list[str] = Field(
        default_factory=list, description="conditions whose failure only warns"
    )
    targets: list[dict[str, Any]] | Every | None = Field(
        None, description="parameter overrides, one target each; or every: from the inventory"
    )
    resource: str | None = Field(
        None, description="resource key template (default: from the kind), see docs"
    )


class InspectionDoc(Strict):
    format: Literal["nightwatch/inspection/v1"]
    name: str = Field(pattern=NAME)
    description: str = ""
    schedule: Schedule
    flapping: Flapping = Flapping()
    notify: Notify = Notify()
    maintenance: list[Window] = Field(default_factory=list)
    limits: Limits = Limits()
    checks: list[Check] = Field(min_length=1, max_length=10_000)

    @field_validator("checks")
    @classmethod
    def _names_unique(cls, checks: list[Check]) -> list[Check]:
        seen: set[str] = set()
        for check in checks:
            if check.name in seen:
                raise ValueError(f"check name {check.name!r} is used twice")
            seen.add(check.name)
        return checks


class Problem(BaseModel):
    path: str
    reason: str


class InspectionInvalid(NightwatchError):
    """An inspection document with problems; `problems` lists each with its path."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].path, "; ".join(f"{p.path}: {p.reason}" for p in problems))
        self.problems = problems

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "problems": [p.model_dump() for p in self.problems]}


def _loc(parts: tuple[Any, ...]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def parse_document(data: Any) -> InspectionDoc:
    """The document, or `InspectionInvalid` naming every problem (shape, then meaning)."""
    try:
        doc = InspectionDoc.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(
                path=_loc(tuple(e["loc"])),
                reason="unknown key" if e["type"] == "extra_forbidden" else e["msg"],
            )
            for e in exc.errors()
        ]
        raise InspectionInvalid(problems) from None
    problems = meaning(doc)
    if problems:
        raise InspectionInvalid(problems)
    return doc


def meaning(doc: InspectionDoc) -> list[Problem]:
    problems: list[Problem] = []
    problems += _schedule(doc.schedule)
    for index, window in enumerate(doc.maintenance):
        problems += _window(f"maintenance[{index}]", window, {c.name for c in doc.checks})
    if doc.notify.remind_every is not None:
        problems += _duration("notify.remind_every", doc.notify.remind_every, minimum=60)
    if doc.flapping.fail_after > doc.flapping.window:
        problems.append(Problem(path="flapping.fail_after", reason="cannot exceed window"))
    for index, check in enumerate(doc.checks):
        problems += _check(f"checks[{index}]", check)
    return problems


def _duration(path: str, text: str, minimum: float = 0) -> list[Problem]:
    try:
        value = seconds(text)
    except ValueError as exc:
        return [Problem(path=path, reason=str(exc))]
    if value < minimum:
        return [Problem(path=path, reason=f"at least {minimum:g}s")]
    return []


def _zone(path: str, name: str) -> list[Problem]:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return [Problem(path=path, reason=f"{name!r} is not an IANA time zone")]
    return []


def _cron(path: str, text: str) -> list[Problem]:
    if not croniter.is_valid(text) or len(text.split()) != 5:
        return [Problem(path=path, reason=f"{text!r} is not a 5-field cron expression")]
    return []


def _schedule(schedule: Schedule) -> list[Problem]:
    problems = []
    if (schedule.every is None) == (schedule.cron is None):
        problems.append(Problem(path="schedule", reason="give exactly one of every and cron"))
    if schedule.every is not None:
        problems += _duration("schedule.every", schedule.every, minimum=10)
    if schedule.cron is not None:
        problems += _cron("schedule.cron", schedule.cron)
    problems += _zone("schedule.time_zone", schedule.time_zone)
    problems += _duration("schedule.jitter", schedule.jitter)
    problems += _duration("schedule.catchup_window", schedule.catchup_window, minimum=10)
    return problems


def _window(path: str, window: Window, checks: set[str]) -> list[Problem]:
    problems = []
    recurring = window.cron is not None or window.duration is not None
    one_off = window.start is not None or window.end is not None
    if recurring == one_off:
        reason = "give cron and duration (recurring) or start and end (one-off)"
        return [Problem(path=path, reason=reason)]
    if recurring:
        if window.cron is None or window.duration is None:
            return [Problem(path=path, reason="a recurring window needs both cron and duration")]
        problems += _cron(f"{path}.cron", window.cron)
        problems += _duration(f"{path}.duration", window.duration, minimum=60)
        problems += _zone(f"{path}.time_zone", window.time_zone)
    else:
        if window.start is None or window.end is None:
            return [Problem(path=path, reason="a one-off window needs both start and end")]
        if window.start.tzinfo is None or window.end.tzinfo is None:
            problems.append(Problem(path=path, reason="start and end need a UTC offset"))
        elif window.end <= window.start:
            problems.append(Problem(path=f"{path}.end", reason="must be after start"))
    for name in window.checks:
        if name not in checks:
            problems.append(Problem(path=f"{path}.checks", reason=f"no check named {name!r}"))
    return problems


def _check(path: str, check: Check) -> list[Problem]:
    spec = CHECKS_BY_CODE.get(check.kind)
    if spec is None:
        known = ", ".join(sorted(CHECKS_BY_CODE))
        return [Problem(path=f"{path}.kind", reason=f"no check kind {check.kind!r} ({known})")]
    problems = []
    for key, texts in (("conditions", check.conditions), ("warn_when", check.warn_when)):
        for index, text in enumerate(texts):
            try:
                condition = parse(text)
            except ConditionError as exc:
                problems.append(Problem(path=f"{path}.{key}[{index}]", reason=exc.reason))
                continue
            if condition.subject.root not in spec.subjects:
                known = ", ".join(sorted(spec.subjects))
                problems.append(
                    Problem(
                        path=f"{path}.{key}[{index}]",
                        reason=f"{check.kind} observes no {condition.subject.root!r} ({known})",
                    )
                )
    targets = check.targets
    if isinstance(targets, Every):
        if targets.source == "app_instances" and not targets.app:
            problems.append(Problem(path=f"{path}.targets.app", reason="whose instances?"))
        rendered = [render(check.params, _sample(targets))]
    elif targets:
        rendered = [{**check.params, **override} for override in targets]
    else:
        rendered = [check.params]
    for index, values in enumerate(rendered):
        where = f"{path}.targets[{index}]" if isinstance(targets, list) and targets else path
        for problem in check_parameters(spec.params, values):
            problems.append(Problem(path=f"{where}.params.{problem.field}", reason=problem.reason))
        problems += _secrets(f"{where}.params", spec, values)
    return problems


def _secrets(path: str, spec: CheckSpec, values: dict[str, Any]) -> list[Problem]:
    """A secret parameter is given as env:NAME (or holds no password): plan documents are
    stored and shown, so they carry no secret."""
    problems = []
    for info in spec.param_infos:
        value = values.get(info.name)
        if not info.secret or not isinstance(value, str) or value.startswith("env:"):
            continue
        if re.search(r"://[^/@:]+:[^/@]+@|password=", value):
            problems.append(
                Problem(
                    path=f"{path}.{info.name}",
                    reason="holds a password: give env:NAME (the worker's environment) instead",
                )
            )
    return problems


def _sample(every: Every) -> dict[str, str]:
    return {"app": every.app or "app", "instance": "instance-1", "node": "node-1"}


def render(params: dict[str, Any], variables: dict[str, str]) -> dict[str, Any]:
    """Parameters with `{app}`, `{instance}`, `{node}` replaced (targets from `every`)."""

    def one(value: Any) -> Any:
        if isinstance(value, str):
            return PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), value)
        if isinstance(value, list):
            return [one(item) for item in value]
        if isinstance(value, dict):
            return {key: one(item) for key, item in value.items()}
        return value

    return {key: one(value) for key, value in params.items()}


def conditions_of(check: Check) -> tuple[list[Condition], list[Condition]]:
    spec = CHECKS_BY_CODE[check.kind]
    failing = [parse(text) for text in (check.conditions or list(spec.default_conditions))]
    return failing, [parse(text) for text in check.warn_when]


def next_runs(schedule: Schedule, count: int = 3, after: datetime | None = None) -> list[datetime]:
    """When the next runs are due (without jitter): for `inspect show`."""
    now = after or datetime.now(UTC)
    if schedule.every is not None:
        step = timedelta(seconds=seconds(schedule.every))
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        first = epoch + ((now - epoch) // step + 1) * step
        return [first + i * step for i in range(count)]
    assert schedule.cron is not None
    runs = croniter(schedule.cron, now.astimezone(ZoneInfo(schedule.time_zone)))
    return [runs.get_next(datetime).astimezone(UTC) for _ in range(count)]
