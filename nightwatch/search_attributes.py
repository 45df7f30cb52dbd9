"""Nightwatch's custom search attributes, and registering them on a namespace (idempotent).

Workflow code imports the keys from here: this module reads no environment and does no
I/O when imported."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

# Registered by the local stack and by `deploy/` for production. Ids and search attributes
# are not encrypted: never put secrets or personal data in them.
PLAN_ID = SearchAttributeKey.for_keyword("PlanId")
PLAN_SCENE = SearchAttributeKey.for_keyword("PlanScene")
EXECUTION_ID = SearchAttributeKey.for_keyword("ExecutionId")
TRIGGER_KIND = SearchAttributeKey.for_keyword("TriggerKind")
ALERT_FINGERPRINT = SearchAttributeKey.for_keyword("AlertFingerprint")
SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[str], ...] = (
    PLAN_ID,
    PLAN_SCENE,
    EXECUTION_ID,
    TRIGGER_KIND,
    ALERT_FINGERPRINT,
)


async def register_search_attributes(client: Client) -> list[str]:
    """Add the attributes the namespace lacks; return the names that were added."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = [key.name for key in SEARCH_ATTRIBUTES if key.name not in existing.custom_attributes]
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={
                    name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in missing
                },
            )
        )
    return missing
