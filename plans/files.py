"""YAML plan files: read with clear errors (line numbers), write in a stable, readable form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from plans.model import PlanDocument
from plans.validation import PlanInvalid, Problem, parse_document

MAX_FILE_BYTES = 1_000_000


def read_text(text: str, *, source: str = "plan") -> PlanDocument:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PlanInvalid(
            source, [Problem(path=where, reason=f"not valid YAML: {reason}")]
        ) from None
    if not isinstance(data, dict):
        raise PlanInvalid(source, [Problem(path="(file)", reason="a plan file is a YAML mapping")])
    return parse_document(data, name=source)


def read_file(path: Path) -> PlanDocument:
    if not path.is_file():
        raise PlanInvalid(str(path), [Problem(path="(file)", reason="no such file")])
    if path.stat().st_size > MAX_FILE_BYTES:
        raise PlanInvalid(str(path), [Problem(path="(file)", reason="larger than 1 MB")])
    return read_text(path.read_text(encoding="utf-8"), source=str(path))


def _compact(document: PlanDocument) -> dict[str, Any]:
    data = document.model_dump(mode="json", exclude_none=True)
    for key in ("steps", "sub_plans"):
        if not data.get(key):
            data.pop(key, None)
    if data.get("enabled") is True:
        del data["enabled"]
    for step in _steps(data):
        for key in ("params", "pending", "strategy"):
            if not step.get(key):
                step.pop(key, None)
    return data


def _steps(data: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = list(data.get("steps", []))
    for sub in data.get("sub_plans", []):
        steps += sub.get("steps", [])
    return steps


def to_yaml(document: PlanDocument) -> str:
    return yaml.safe_dump(_compact(document), sort_keys=False, allow_unicode=True, width=100)


def json_schema() -> str:
    return json.dumps(PlanDocument.model_json_schema(), indent=2)
