"""Every setting the product documents, read in one place: the environment, then a `.env` file, then defaults.

`AGORA_*` are the worker's Agora credentials, endpoint, storage profiles and rate limits; `RECORDER_*` the task queue,
the worker's cache, metrics, health and tracing, the HTTP service's address and tokens, and the CLI's default uids;
`LOG_LEVEL` and `LOG_FORMAT` the logs. Temporal's connection is not here: it comes from Temporal's own environment
configuration (`recorder.connection`).

The secrets never enter a workflow: activities read them, so history, search attributes and results stay free of them.
The CLI needs only the App ID; the worker asks for its credentials with `load_settings()` (see `WORKER_NEEDS`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
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
LOG_FORMATS = ("text", "json")
TRACING = ("off", "otlp", "console")
DEFAULT_SERVICE_BIND = "127.0.0.1:8080"
DEFAULT_NCS_PATH = "/agora/ncs"
# A bearer token: at least 16 characters, none of which is a separator of RECORDER_API_TOKENS.
_TOKEN = re.compile(r"^[A-Za-z0-9._~+/=-]{16,}$")
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# The fields the worker cannot run without (the CLI needs none of them but the App ID, and checks that itself).
WORKER_NEEDS = ("app_id", "customer_id", "customer_secret")


class SettingsError(Exception):
    """The settings are missing or invalid; the message names each variable and what is expected."""


class ApiToken(BaseModel):
    """One bearer token of the HTTP service: who holds it (for logs) and what it may do."""

    model_config = ConfigDict(frozen=True)

    name: str
    token: SecretStr
    scope: Literal["read", "write"] = Field(description="read: status, manifest, list; write: also start, stop, update")


def parse_api_tokens(text: str) -> tuple[ApiToken, ...]:
    """RECORDER_API_TOKENS: comma-separated `name:token:scope` entries; errors name the entry, never the token."""
    out: list[ApiToken] = []
    for number, entry in enumerate((e.strip() for e in text.split(",")), start=1):
        if not entry:
            continue
        parts = entry.split(":")
        name = parts[0]
        # The name is shown only when the entry has its three parts: a lone token must never reach an error message.
        where = f"entry {number}" + (f" ({name!r})" if len(parts) == 3 and _TOKEN_NAME.match(name) else "")
        if len(parts) != 3:
            raise ValueError(
                f"RECORDER_API_TOKENS {where} is not name:token:scope (scope read or write), e.g. ci:<token>:write"
            )
        token, scope = parts[1], parts[2].strip().lower()
        if not _TOKEN_NAME.match(name):
            raise ValueError(f"RECORDER_API_TOKENS {where}: the name must be 1-64 letters, digits, '.', '_' or '-'")
        if not _TOKEN.match(token):
            raise ValueError(
                f"RECORDER_API_TOKENS {where}: the token must be at least 16 characters of letters, digits and ._~+/=- "
                "(e.g. from `openssl rand -hex 24`)"
            )
        if scope not in ("read", "write"):
            raise ValueError(f"RECORDER_API_TOKENS {where}: the scope must be read or write, got {scope!r}")
        if any(t.name == name for t in out):
            raise ValueError(f"RECORDER_API_TOKENS {where}: the name {name!r} is used twice")
        out.append(ApiToken(name=name, token=SecretStr(token), scope=scope))
    return tuple(out)


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
        default=1,
        ge=1,
        le=1000,
        description="the fewest worker processes assumed to share this App ID; each worker counts the live fleet "
        "itself and divides the query rate by the larger of the two",
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
    log_format: str = Field(default="text", validation_alias="LOG_FORMAT")
    health_bind: str | None = Field(
        default=None, validation_alias="RECORDER_HEALTH_BIND", description="host:port of the worker's health endpoints"
    )
    service_bind: str = Field(
        default=DEFAULT_SERVICE_BIND, validation_alias="RECORDER_SERVICE_BIND", description="host:port of the HTTP API"
    )
    api_tokens: Annotated[tuple[ApiToken, ...], NoDecode] = Field(default=(), validation_alias="RECORDER_API_TOKENS")
    tracing: str = Field(default="off", validation_alias="RECORDER_TRACING")
    timezone: str | None = Field(
        default=None,
        validation_alias="RECORDER_TIMEZONE",
        description="IANA time zone of `recorder schedule` classes given without --tz",
    )
    ncs_secrets: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(),
        validation_alias="AGORA_NCS_SECRET",
        description="the NCS secret(s) Agora signs its callbacks with, comma-separated during a rotation",
    )
    ncs_path: str = Field(
        default=DEFAULT_NCS_PATH, validation_alias="RECORDER_NCS_PATH", description="the callback route of the service"
    )

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            allowed = "an IANA time zone such as Europe/Berlin"
            raise ValueError(f"RECORDER_TIMEZONE must be {allowed}, got {value!r}") from None
        return value

    @field_validator("ncs_secrets", mode="before")
    @classmethod
    def _ncs_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(SecretStr(part.strip()) for part in value.split(",") if part.strip())
        return value

    @field_validator("ncs_path")
    @classmethod
    def _ncs_path(cls, value: str) -> str:
        check_ncs_path(value, "RECORDER_NCS_PATH")
        return value

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _tokens(cls, value: object) -> object:
        return parse_api_tokens(value) if isinstance(value, str) else value

    @field_validator("log_format", "tracing", mode="before")
    @classmethod
    def _choice(cls, value: object, info: ValidationInfo) -> object:
        log_format = info.field_name == "log_format"
        allowed, name = (LOG_FORMATS, "LOG_FORMAT") if log_format else (TRACING, "RECORDER_TRACING")
        if isinstance(value, str) and value.strip().lower() in allowed:
            return value.strip().lower()
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")

    @field_validator("health_bind", "service_bind")
    @classmethod
    def _binds(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        name = "RECORDER_HEALTH_BIND" if info.field_name == "health_bind" else "RECORDER_SERVICE_BIND"
        check_bind(value, name)
        return value

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
        check_bind(value, "RECORDER_METRICS_BIND", example="127.0.0.1:9464")
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
    def query_rate(self) -> float:
        """Query calls per second for the whole fleet: what the control calls leave of the rate limit."""
        return self.rate_limit - self.control_rate

    @property
    def query_rate_per_worker(self) -> float:
        """Query calls per second one worker process may make while it assumes the fewest workers (the floor)."""
        return self.query_rate / self.worker_processes

    def bind(self, which: Literal["service", "health"]) -> tuple[str, int] | None:
        """(host, port) of the service's or the worker's health endpoint address; None when not configured."""
        value = self.service_bind if which == "service" else self.health_bind
        if value is None:
            return None
        host, _, port = value.rpartition(":")
        return host.strip("[]"), int(port)

    def secrets(self) -> list[str]:
        """Every secret value these settings hold, for scrubbing."""
        values = [self.customer_secret.get_secret_value()]
        values += [t.token.get_secret_value() for t in self.api_tokens]
        values += [s.get_secret_value() for s in self.ncs_secrets]
        if self.app_certificate is not None:
            values.append(self.app_certificate.get_secret_value())
        for p in self.profiles().values():
            values += [p.access_key.get_secret_value(), p.secret_key.get_secret_value()]
        return [v for v in values if v]

    @property
    def is_emulator(self) -> bool:
        """True when the settings point at a local emulator rather than Agora."""
        return self.base_url.startswith(("http://127.", "http://localhost", "http://[::1]"))


def check_ncs_path(value: str, name: str) -> None:
    """Refuse a callback route that is not an absolute URL path of plain segments."""
    if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", value):
        raise ValueError(f"{name} must be an absolute URL path such as {DEFAULT_NCS_PATH}, got {value!r}")


def check_bind(value: str, name: str, *, example: str = DEFAULT_SERVICE_BIND) -> None:
    """ValueError naming the variable unless `value` is host:port with a port in 1..65535."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{name} must be host:port, e.g. {example}, got {value!r}")


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
