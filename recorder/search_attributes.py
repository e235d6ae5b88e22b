"""The recording search attributes on a Temporal server, registered in one place.

The worker registers them when it starts (dev server, self-hosted); the tests and the benchmarks do the same on the
time-skipping server, which starts without them; the embedded dev server takes them as start flags. On Temporal
Cloud they are added once with `tcld` (README).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from workflows import names

_INDEXED = {
    SearchAttributeIndexedValueType.KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SearchAttributeIndexedValueType.INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
}
_CLI_KIND = {SearchAttributeIndexedValueType.KEYWORD: "Keyword", SearchAttributeIndexedValueType.INT: "Int"}


async def ensure_search_attributes(
    client: Client, keys: Sequence[SearchAttributeKey[Any]] = names.SEARCH_ATTRIBUTES
) -> list[str]:
    """Register those of `keys` the server does not know yet; returns the names it added."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        known = set(existing.custom_attributes) | set(existing.system_attributes)
    except RPCError as err:
        # The time-skipping test server cannot list them (and starts with none of ours): add them all.
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()
    missing = {k.name: _INDEXED[k.indexed_value_type] for k in keys if k.name not in known}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    return sorted(missing)


def server_flags(keys: Sequence[SearchAttributeKey[Any]] = names.SEARCH_ATTRIBUTES) -> list[str]:
    """The `--search-attribute Name=Kind` flags that register `keys` when `temporal server start-dev` starts."""
    flags = []
    for key in keys:
        flags += ["--search-attribute", f"{key.name}={_CLI_KIND[key.indexed_value_type]}"]
    return flags


def is_missing_search_attribute(err: RPCError) -> bool:
    """True when the server refused a call for a search attribute it has no mapping for."""
    return err.status == RPCStatusCode.INVALID_ARGUMENT and "search attribute" in err.message.lower()


def registration_hint(namespace: str, err: RPCError) -> str:
    """One line: the recording search attributes are missing, why this client could not add them, and what to run."""
    flags = " ".join(f"--name {k.name} --type {_CLI_KIND[k.indexed_value_type]}" for k in names.SEARCH_ATTRIBUTES)
    return (
        f"namespace {namespace} lacks the recording search attributes and refused to register them "
        f"({err.status.name if err.status else 'error'}: {err.message.splitlines()[0] if err.message else ''}): run "
        f"`temporal operator search-attribute create --namespace {namespace} {flags}` "
        "(Temporal Cloud: `tcld namespace search-attributes add`, see the README)"
    )
