"""What this server declares: the actions by code, and one fingerprint of all declarations."""

from __future__ import annotations

from functools import cache

from catalog.actions import ACTIONS
from catalog.checks import checks_fingerprint
from catalog.feature_switches import switches_fingerprint
from catalog.spec import ActionSpec, fingerprint
from catalog.system_config import configs_fingerprint
from nightwatch.errors import NightwatchError

ACTIONS_BY_CODE: dict[str, ActionSpec] = {spec.code: spec for spec in ACTIONS}


# Parameter names flagged secret in any action: sealed wherever people give values (CLI).
SECRET_PARAM_NAMES: frozenset[str] = frozenset(
    info.name for spec in ACTIONS for info in spec.param_infos if info.secret
)


def secret_params(code: str | None) -> set[str]:
    spec = ACTIONS_BY_CODE.get(code or "")
    return {info.name for info in spec.param_infos if info.secret} if spec else set()


class UnknownActionError(NightwatchError):
    pass


def action(code: str) -> ActionSpec:
    try:
        return ACTIONS_BY_CODE[code]
    except KeyError:
        raise UnknownActionError(code, "no such action in this server's catalog") from None


@cache
def catalog_fingerprint() -> str:
    """Changes whenever any action, check kind, config or switch declaration changes."""
    return fingerprint(
        [
            [spec.definition_hash for spec in ACTIONS],
            configs_fingerprint(),
            switches_fingerprint(),
            checks_fingerprint(),
        ]
    )


def _check_declarations() -> None:
    codes = [spec.code for spec in ACTIONS]
    duplicates = {code for code in codes if codes.count(code) > 1}
    assert not duplicates, f"action codes declared twice: {duplicates}"
    for spec in ACTIONS:
        assert spec.inverse is None or spec.inverse in ACTIONS_BY_CODE, spec.code


_check_declarations()
