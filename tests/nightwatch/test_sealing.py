"""Secret parameters: sealed where people give them, unsealed only where a step runs."""

from __future__ import annotations

import base64

import pytest

from nightwatch.codec import KeyRing
from nightwatch.sealing import (
    MASK,
    SecretError,
    masked,
    plaintext_secrets,
    reveal,
    reveal_env,
    seal,
    seal_values,
    unseal,
)
from plans.validation import code_catalog, validate
from tests.plans.samples import emergency, step

RING = KeyRing.parse([f"s1:{base64.b64encode(b's' * 32).decode()}"], source="test")
OTHER = KeyRing.parse([f"s1:{base64.b64encode(b't' * 32).decode()}"], source="test")


HERE = {"execution": "exec-1", "node": "3", "param": "bearer_token"}


def test_seal_and_unseal() -> None:
    sealed = seal("hunter2", RING, **HERE)
    assert sealed.startswith("sealed:v2:s1:") and "hunter2" not in sealed
    assert unseal(sealed, RING, path="p", **HERE) == "hunter2"
    with pytest.raises(SecretError, match="not sealed for this execution"):
        unseal(sealed, OTHER, path="p", **HERE)  # same key id, different key
    with pytest.raises(SecretError, match="key 's1', which this worker does not have"):
        unseal(sealed, None, path="p", **HERE)


@pytest.mark.parametrize(
    "elsewhere",
    [
        {"execution": "exec-2"},
        {"node": "1"},
        {"param": "url"},
        {"execution": "exec-13", "node": ""},  # the same characters, split differently
    ],
)
def test_a_sealed_value_unseals_only_where_it_was_sealed_for(elsewhere: dict[str, str]) -> None:
    sealed = seal("hunter2", RING, **HERE)
    with pytest.raises(SecretError, match="not sealed for this execution, node and parameter"):
        unseal(sealed, RING, path="node 1.bearer_token", **{**HERE, **elsewhere})


def test_a_value_sealed_by_the_first_format_is_refused() -> None:
    # `sealed:v1:` values were bound to nothing: whoever copied one could use it anywhere.
    with pytest.raises(SecretError, match="bound to no execution: give the value again"):
        unseal("sealed:v1:s1:AAAA", RING, path="p", **HERE)


def test_seal_values_seals_only_secrets_and_keeps_references() -> None:
    values = {"bearer_token": "hunter2", "url": "https://x", "other": "env:NOT_SECRET"}
    at = {"execution": "exec-1", "node": "3"}
    sealed = seal_values(values, {"bearer_token"}, RING, path="--set 3", **at)
    assert sealed["url"] == "https://x" and sealed["other"] == "env:NOT_SECRET"
    assert reveal(sealed, RING, path="node 3", **at) == values
    with pytest.raises(SecretError):
        reveal(sealed, RING, path="node 3", execution="exec-1", node="4")
    env_ref = {"bearer_token": "env:API_TOKEN"}
    assert seal_values(env_ref, {"bearer_token"}, RING, path="p", **at) == env_ref
    with pytest.raises(SecretError) as caught:
        seal_values(values, {"bearer_token"}, None, path="--set 3", **at)
    assert caught.value.path == "--set 3.bearer_token"
    assert "payload keys" in caught.value.reason and "env:NAME" in caught.value.reason


def test_env_references_are_read_on_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NW_TEST_TOKEN", "from-env")
    values = reveal_env({"bearer_token": "env:NW_TEST_TOKEN"}, {"bearer_token"}, path="node 2")
    assert values == {"bearer_token": "from-env"}
    with pytest.raises(SecretError, match="NW_TEST_MISSING is not set on the worker"):
        reveal_env({"bearer_token": "env:NW_TEST_MISSING"}, {"bearer_token"}, path="node 2")
    # Not a secret parameter: `env:` is just text.
    assert reveal_env({"body": "env:X"}, {"bearer_token"}, path="n") == {"body": "env:X"}


def test_masking_and_plain_text_detection() -> None:
    values = {"bearer_token": "hunter2", "url": "u", "sealed_elsewhere": seal(1, RING, **HERE)}
    assert masked(values, {"bearer_token"}) == {
        "bearer_token": MASK,
        "url": "u",
        "sealed_elsewhere": MASK,
    }
    assert masked({"bearer_token": "env:T"}, {"bearer_token"}) == {"bearer_token": "env:T"}
    assert masked({"bearer_token": None}, {"bearer_token"}) == {"bearer_token": None}
    assert plaintext_secrets(values, {"bearer_token"}) == ["bearer_token"]
    assert plaintext_secrets({"bearer_token": seal("x", RING, **HERE)}, {"bearer_token"}) == []
    assert plaintext_secrets({"bearer_token": "sealed:v1:s1:AAAA"}, {"bearer_token"}) == []


def test_a_plan_file_may_not_hold_a_secret_value() -> None:
    document = emergency(
        steps=[
            step("HTTP_CALL", "call", params={"url": "https://x", "bearer_token": "hunter2"}),
            step("HTTP_CALL", "ref", params={"url": "https://x", "bearer_token": "env:API_TOKEN"}),
        ]
    )
    problems = validate(document, code_catalog())
    assert [(p.path, "secret" in p.reason) for p in problems] == [
        ("steps[1].params.bearer_token", True)
    ]
    assert "env:NAME" in problems[0].reason
