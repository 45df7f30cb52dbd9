"""The payload converter: the SDK's pydantic wire format, built once for every activation."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.contrib.pydantic import pydantic_data_converter

from nightwatch.temporal import PayloadConverter, data_converter
from workflows.models import Decision, ExecutionInput, NodeRecord


def test_payloads_read_the_same_both_ways_as_the_sdks_pydantic_converter() -> None:
    ours, sdk = data_converter().payload_converter, pydantic_data_converter.payload_converter
    values = [
        ExecutionInput(plan="loan-api overload", overrides={"3": {"pods": 4}}),
        Decision(node="2", user="li.wei", roles=["duty-manager"]),
        NodeRecord(node_id=7, state="SUCCEEDED", params={}, started_at=datetime.now(UTC)),
        {"plain": [1, "two", None]},
    ]
    hints = [type(v) for v in values]
    written = ours.to_payloads(values)
    assert [p.SerializeToString() for p in written] == [
        p.SerializeToString() for p in sdk.to_payloads(values)
    ]
    assert sdk.from_payloads(written, hints) == values
    assert ours.from_payloads(sdk.to_payloads(values), hints) == values


def test_every_instance_shares_one_set_of_encoders() -> None:
    # The worker makes one per workflow activation: none rebuilds encoders or adapters.
    first, second = PayloadConverter(), PayloadConverter()
    assert first.converters is second.converters
    assert first.converters[b"json/plain"] is PayloadConverter._shared.converters[b"json/plain"]
