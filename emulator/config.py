"""Settings of one emulated Agora Cloud Recording service."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

# Environment variables read by `EmulatorConfig.from_env`, the same names the client side uses.
ENV_VARS = {
    "app_id": "AGORA_APP_ID",
    "customer_id": "AGORA_CUSTOMER_ID",
    "customer_secret": "AGORA_CUSTOMER_SECRET",
}


class EmulatorConfig(BaseModel):
    """Everything that shapes one emulator instance; frozen so it can be shared safely."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    app_id: str = "emulator-app-id"
    customer_id: str = "emulator-customer"
    customer_secret: SecretStr = SecretStr("emulator-secret")
    # When set, start in individual/mix mode needs a token (its signature is not checked).
    app_certificate: SecretStr | None = None
    # Emulated seconds per real second; 0 freezes the clock so only explicit advances move it.
    speed: float = Field(default=1.0, ge=0)
    startup_seconds: float = Field(default=3.0, ge=0)
    slice_seconds: float = Field(default=15.0, gt=0)
    upload_seconds: float = Field(default=1.0, ge=0)
    rate_limit_qps: float = Field(default=10.0, ge=0)
    max_concurrent: int = Field(default=50, ge=0)
    # Web page recording has its own, larger quota (webpage-best-practices.md: 200 concurrent tasks).
    max_concurrent_web: int = Field(default=200, ge=0)
    resource_ttl_seconds: float = Field(default=300.0, gt=0)
    # Agora finishes a high-availability migration within about 90 s (reference §5).
    failover_downtime_seconds: float = Field(default=60.0, ge=0, le=90)
    # A stop this soon after a task ended (by stop or by itself) answers 49 "invalid operation", later 404.
    exit_grace_seconds: float = Field(default=5.0, ge=0)
    # After a task has exited, query still answers its final status (8 or 20) this long, then 404.
    exit_visible_seconds: float = Field(default=10.0, ge=0)
    # A synchronous stop waits for the upload at most this long; past it Agora answers code 50 (reference §2.6).
    sync_stop_wait_seconds: float = Field(default=20.0, ge=0)
    seed: int | None = None
    # Agora's callbacks (NCS): posted to this URL, signed with this secret; off while the URL is unset.
    callback_url: str | None = None
    callback_secret: SecretStr | None = None
    # NCS waits this long (real seconds) for a 200, then resends: at once, then after each gap; 3 retries at most.
    callback_timeout_seconds: float = Field(default=10.0, gt=0)
    callback_retry_gaps_seconds: tuple[float, ...] = Field(default=(0.0, 2.0, 8.0), max_length=3)
    # Emulated seconds between two uploading_progress (33) callbacks: "about once a minute".
    callback_progress_seconds: float = Field(default=60.0, ge=0)
    # Emulated seconds from a backuped (32) callback to the uploaded (31) one, when Agora's backup delivered the files.
    callback_backup_delivery_seconds: float = Field(default=60.0, ge=0)
    # Real seconds a `delay` fault holds a callback back, and at most a `reorder` fault waits for the sid's next one.
    callback_delay_seconds: float = Field(default=5.0, ge=0)
    callback_reorder_seconds: float = Field(default=2.0, ge=0)

    def client_env(self, base_url: str) -> dict[str, str]:
        """The AGORA_* variables a client process needs to reach this emulator, served at `base_url`, with its
        credentials."""
        return {
            ENV_VARS["app_id"]: self.app_id,
            ENV_VARS["customer_id"]: self.customer_id,
            ENV_VARS["customer_secret"]: self.customer_secret.get_secret_value(),
            "AGORA_BASE_URL": base_url,
        }

    @classmethod
    def from_env(cls, **overrides: Any) -> EmulatorConfig:
        """Build a config from the AGORA_* environment variables; non-None overrides win."""
        values: dict[str, Any] = {}
        for field, var in ENV_VARS.items():
            if var in os.environ:
                values[field] = os.environ[var]
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls.model_validate(values)
