"""A routing rule may hand a plan a secret only as an `env:` reference, like a plan file."""

from __future__ import annotations

import pytest

from intake.rules import RuleDoc, RuleInvalid, check_rule
from plans import store
from plans.model import PlanDocument
from storage.db import session_factory


def test_a_rule_may_not_hold_a_secret_value(catalog_db: str) -> None:
    call = {"name": "call", "action": "HTTP_CALL", "params": {"url": "https://x.bank/ping"}}
    plan = PlanDocument.model_validate({"name": "ping", "scene": "SELF_RECOVERY", "steps": [call]})
    with session_factory(catalog_db)() as session:
        store.apply(session, plan)
        session.commit()
        rule = {"name": "r", "match": [{"label": "alertname", "value": "Down"}], "plan": "ping"}
        with pytest.raises(RuleInvalid) as caught:
            check_rule(
                session,
                RuleDoc.model_validate(rule | {"params": {"1": {"bearer_token": "hunter2"}}}),
            )
        assert caught.value.path == "params.1.bearer_token"
        assert "env:NAME" in caught.value.reason and "hunter2" not in caught.value.reason
        check_rule(
            session,
            RuleDoc.model_validate(rule | {"params": {"1": {"bearer_token": "env:PING_TOKEN"}}}),
        )
