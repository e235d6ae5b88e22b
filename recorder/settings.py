"""The worker's Agora settings, read from the environment: credentials, endpoint, storage profiles, limits.

These never enter a workflow: activities read them, so history, search attributes and results stay free of secrets.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from activities.storage import StorageProfile
from agora.client import DEFAULT_BASE_URL

EMULATOR_APP_ID = "emulator-app-id"
EMULATOR_CUSTOMER_ID = "emulator-customer"
EMULATOR_CUSTOMER_SECRET = "emulator-secret"


class SettingsError(Exception):
    """The worker's settings are missing or invalid; the message names each variable and what is expected."""


class AgoraSettings(BaseSettings):
    """Agora credentials and worker limits, from AGORA_* variables (or a .env file)."""

    model_config = SettingsConfigDict(env_prefix="AGORA_", env_file=".env", extra="ignore", frozen=True)

    app_id: str = Field(min_length=1)
    customer_id: str = Field(min_length=1)
    customer_secret: SecretStr
    app_certificate: SecretStr | None = None
    base_url: str = DEFAULT_BASE_URL
    request_timeout: float = Field(default=10.0, gt=0)
    storage_profiles: Annotated[dict[str, StorageProfile], NoDecode] = Field(default_factory=dict)
    storage_vendor: int | None = None
    storage_region: int = 0
    storage_bucket: str | None = None
    storage_access_key: SecretStr | None = None
    storage_secret_key: SecretStr | None = None
    storage_endpoint: str | None = None
    rate_limit: float = Field(default=10.0, gt=0, description="Agora requests per second for this App ID")
    control_share: float = Field(default=0.3, gt=0, lt=1, description="share of rate_limit kept for start/stop")
    worker_processes: int = Field(
        default=1, ge=1, le=1000, description="worker processes sharing this App ID (each paces its own queries)"
    )

    @field_validator("storage_profiles", mode="before")
    @classmethod
    def _profiles(cls, value: object) -> object:
        if isinstance(value, str):
            import json

            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"AGORA_STORAGE_PROFILES is not valid JSON ({exc.msg} at character {exc.pos}): give an object like "
                    '{"default": {"vendor": 1, "region": 0, "bucket": "b", "access_key": "…", "secret_key": "…"}}'
                ) from None
        return value

    @model_validator(mode="after")
    def _certificate_needs_hex_ids(self) -> AgoraSettings:
        if self.app_certificate is not None:
            hexdigits = set("0123456789abcdefABCDEF")
            cert = self.app_certificate.get_secret_value()
            if len(self.app_id) != 32 or not set(self.app_id) <= hexdigits:
                raise ValueError(
                    "AGORA_APP_ID must be the project's 32-hex-character App ID when AGORA_APP_CERTIFICATE is set "
                    "(RTC tokens are built from both)"
                )
            if len(cert) != 32 or not set(cert) <= hexdigits:
                raise ValueError(
                    "AGORA_APP_CERTIFICATE must be 32 hex characters (Console › Project › App Certificate)"
                )
        return self

    def profiles(self) -> dict[str, StorageProfile]:
        """Every storage profile: AGORA_STORAGE_PROFILES, plus "default" from the single AGORA_STORAGE_* variables."""
        out = dict(self.storage_profiles)
        if self.storage_bucket is not None and "default" not in out:
            missing = [
                name
                for name, v in (
                    ("AGORA_STORAGE_VENDOR", self.storage_vendor),
                    ("AGORA_STORAGE_ACCESS_KEY", self.storage_access_key),
                    ("AGORA_STORAGE_SECRET_KEY", self.storage_secret_key),
                )
                if v is None
            ]
            if missing:
                raise SettingsError(f"AGORA_STORAGE_BUCKET is set but {', '.join(missing)} is not")
            assert self.storage_vendor is not None
            assert self.storage_access_key is not None and self.storage_secret_key is not None
            out["default"] = StorageProfile(
                vendor=self.storage_vendor,
                region=self.storage_region,
                bucket=self.storage_bucket,
                access_key=self.storage_access_key,
                secret_key=self.storage_secret_key,
                endpoint=self.storage_endpoint,
            )
        return out

    @property
    def control_rate(self) -> float:
        """Acquire/start/stop/update calls per second for the whole fleet (a task-queue limit on the control queue)."""
        return self.rate_limit * self.control_share

    @property
    def query_rate_per_worker(self) -> float:
        """Query calls per second one worker process may make: its share of what the control calls leave."""
        return (self.rate_limit - self.control_rate) / self.worker_processes

    def secrets(self) -> list[str]:
        """Every secret value these settings hold, for scrubbing."""
        values = [self.customer_secret.get_secret_value()]
        if self.app_certificate is not None:
            values.append(self.app_certificate.get_secret_value())
        for p in self.profiles().values():
            values += [p.access_key.get_secret_value(), p.secret_key.get_secret_value()]
        return [v for v in values if v]

    @property
    def is_emulator(self) -> bool:
        """True when the settings point at a local emulator rather than Agora."""
        return self.base_url.startswith(("http://127.", "http://localhost", "http://[::1]"))


def load_settings(**overrides: object) -> AgoraSettings:
    """Read the settings, turning pydantic's report into one clear error that names each variable."""
    try:
        return AgoraSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            name = "AGORA_" + "_".join(str(p) for p in e["loc"][:1]).upper()
            what = "is missing" if e["type"] == "missing" else f"is invalid: {e['msg']}"
            problems.append(f"{name} {what}")
        raise SettingsError("Agora settings: " + "; ".join(problems)) from None
