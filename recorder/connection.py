"""One way to reach Temporal, used by the worker, the CLI, the Python API and the tests.

The connection comes from Temporal's own environment configuration (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`,
`TEMPORAL_API_KEY`, `TEMPORAL_TLS*`, `TEMPORAL_PROFILE` and its TOML file), so the same code runs against the local
dev server, a self-hosted cluster or Temporal Cloud. The pydantic data converter is used everywhere.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

DEFAULT_ADDRESS = "127.0.0.1:7233"


class ConnectionError_(Exception):
    """Temporal could not be reached; the message says where we tried and what to check."""


def connect_config(**overrides: Any) -> dict[str, Any]:
    """Client.connect arguments from the environment configuration, with 127.0.0.1:7233 as the default address."""
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", DEFAULT_ADDRESS)
    config.update({k: v for k, v in overrides.items() if v is not None})
    return config


async def connect(*, runtime: Runtime | None = None, **overrides: Any) -> Client:
    """Connect to Temporal as configured by the environment; a clear error when the server is unreachable."""
    config = connect_config(**overrides)
    try:
        return await Client.connect(**config, data_converter=pydantic_data_converter, runtime=runtime)
    except RuntimeError as exc:
        where = config["target_host"]
        namespace = config.get("namespace", "default")
        raise ConnectionError_(
            f"cannot reach Temporal at {where} (namespace {namespace}): {str(exc).splitlines()[0]}. "
            "Start it with `make demo` or set TEMPORAL_ADDRESS / TEMPORAL_PROFILE to your cluster."
        ) from None
