"""Every setting the product documents, read in one place: the environment, then a `.env` file, then defaults.

`AGORA_*` are the worker's Agora credentials, endpoint, storage profiles and rate limits; `RECORDER_*` the task queue,
the worker's cache and metrics, and the CLI's default uids; `LOG_LEVEL` the worker's log level. Temporal's connection
is not here: it comes from Temporal's own environment configuration (`recorder.connection`).

The secrets never enter a workflow: activities read them, so history, search attributes and results stay free of them.
The CLI needs only the App ID; the worker asks for its credentials with `load_settings()` (see `WORKER_NEEDS`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from activities.storage import StorageProfile
from agora.client import DEFAULT_BASE_URL, REGIONS
from workflows.names import DEFAULT_TASK_QUEUE

# Recordings whose state the worker keeps in memory between checks (about 0.26 MB each, measured). A recording not in
# the cache is replayed from its whole history at its next check: with more recordings than this on one worker, every
# check becomes a replay and the worker saturates (the SDK's default of 1,000 made it collapse at 1,500 recordings).
DEFAULT_CACHED_RECORDINGS = 2000
MAX_CACHED_RECORDINGS = 100_000
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# The fields the worker cannot run without (the CLI needs none of them but the App ID, and checks that itself).
WORKER_NEEDS = ("app_id", "customer_id", "customer_secret")


class SettingsError(Exception):
    """The settings are missing or invalid; the message names each variable and what is expected."""


class Settings(BaseSettings):
    """The product's settings: AGORA_*, RECORDER_* and LOG_LEVEL variables, or a .env file in the working directory.

    Fields without an alias read `AGORA_<FIELD>`; the others read the variable named by their alias. Either the field
    name or the variable name may be passed as a keyword.
    """

    model_config = SettingsConfigDict(
        env_prefix="AGORA_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        # `AGORA_APP_CERTIFICATE=` in a .env file means "no certificate", not "an empty certificate".
        env_ignore_empty=True,
        str_strip_whitespace=True,
    )

    # Empty means unset: the CLI runs without the credentials, the worker refuses to (`WORKER_NEEDS`).
    app_id: str = ""
    customer_id: str = ""
    customer_secret: SecretStr = SecretStr("")
    app_certificate: SecretStr | None = None
    base_url: str = DEFAULT_BASE_URL
    region: str | None = Field(
        default=None, description="the nearest region host, the last domain of Agora's switch-domain order"
    )
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

    task_queue: str = Field(default=DEFAULT_TASK_QUEUE, min_length=1, validation_alias="RECORDER_TASK_QUEUE")
    uid: str | None = Field(default=None, validation_alias="RECORDER_UID", description="`recorder start`'s --uid")
    backup_uid: str | None = Field(
        default=None, validation_alias="RECORDER_BACKUP_UID", description="`recorder start`'s --backup-uid"
    )
    cached_recordings: int = Field(default=DEFAULT_CACHED_RECORDINGS, validation_alias="RECORDER_CACHED_RECORDINGS")
    metrics_bind: str | None = Field(
        default=None, validation_alias="RECORDER_METRICS_BIND", description="host:port of the Prometheus endpoint"
    )
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")

    @field_validator("storage_profiles", mode="before")
    @classmethod
    def _profiles(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"AGORA_STORAGE_PROFILES is not valid JSON ({exc.msg} at character {exc.pos}): give an object like "
                    '{"default": {"vendor": 1, "region": 0, "bucket": "b", "access_key": "…", "secret_key": "…"}}'
                ) from None
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and value not in REGIONS:
            raise ValueError(f"AGORA_REGION must be one of {', '.join(REGIONS)}, got {value!r}")
        return value

    @field_validator("cached_recordings", mode="before")
    @classmethod
    def _cache_size(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return DEFAULT_CACHED_RECORDINGS
        try:
            number = int(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else 0
        except ValueError:
            number = 0
        if not 1 <= number <= MAX_CACHED_RECORDINGS:
            raise ValueError(
                f"RECORDER_CACHED_RECORDINGS must be a whole number from 1 to {MAX_CACHED_RECORDINGS} (recordings kept "
                f"in memory), got {value!r}"
            )
        return number

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().upper() in LOG_LEVELS:
            return value.strip().upper()
        raise ValueError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {value!r}")

    @field_validator("metrics_bind")
    @classmethod
    def _metrics_bind(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"RECORDER_METRICS_BIND must be host:port, e.g. 127.0.0.1:9464, got {value!r}")
        return value

    @model_validator(mode="after")
    def _certificate_needs_hex_ids(self) -> Settings:
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

    @model_validator(mode="after")
    def _default_profile_is_whole(self) -> Settings:
        if self.storage_bucket is not None and "default" not in self.storage_profiles:
            missing = [
                variable(name)
                for name in ("storage_vendor", "storage_access_key", "storage_secret_key")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"AGORA_STORAGE_BUCKET is set but {', '.join(missing)} is not")
        return self

    def profiles(self) -> dict[str, StorageProfile]:
        """Every storage profile: AGORA_STORAGE_PROFILES, plus "default" from the single AGORA_STORAGE_* variables."""
        out = dict(self.storage_profiles)
        if self.storage_bucket is not None and "default" not in out:
            # Whole, as _default_profile_is_whole made sure.
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

    def require(self, fields: Iterable[str] = WORKER_NEEDS) -> Settings:
        """These settings, or a SettingsError naming the variable of each of `fields` that is not set."""
        missing = []
        for name in fields:
            value = getattr(self, name)
            if not (value.get_secret_value() if isinstance(value, SecretStr) else value):
                missing.append(f"{variable(name)} is missing")
        if missing:
            raise SettingsError("settings: " + "; ".join(missing))
        return self

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


def variable(field: str) -> str:
    """The environment variable of a settings field (its alias, else AGORA_<FIELD>); a variable name stays as is."""
    info = Settings.model_fields.get(field)
    if info is None:
        return field
    alias = info.validation_alias
    return alias if isinstance(alias, str) else f"AGORA_{field.upper()}"


def load_settings(*, require: Iterable[str] = WORKER_NEEDS, **overrides: object) -> Settings:
    """Read the settings, turning every problem into one line that names each variable and what is allowed.

    `require`: the fields that must be set (the worker's credentials by default; the CLI asks for none).
    """
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError("settings: " + "; ".join(_problem(e) for e in exc.errors())) from None
    return settings.require(require)


def _problem(error: ErrorDetails) -> str:
    """One pydantic error as "<VARIABLE> is invalid: <why>", or the validator's own sentence when it names one."""
    loc = error["loc"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if not loc:  # a check across fields: its message names the variables
        return message
    name = variable(str(loc[0]))
    if message.startswith(name):
        return message
    return f"{name} is missing" if error["type"] == "missing" else f"{name} is invalid: {message}"
