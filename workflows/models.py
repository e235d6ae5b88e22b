"""The recording workflow's input, state, result and message models.

Everything here crosses Temporal's boundary (workflow input, activity input and output, queries, updates) and is stored
in workflow history, so nothing here may carry a secret: credentials, storage keys and tokens are read by the
activities from the worker's settings. A request is validated completely before anything starts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from workflows import limits, policy
from workflows.limits import RecordingMode

Phase = Literal[
    "starting",  # acquiring and starting a recorder
    "confirming",  # a sid is known; waiting for query status 4 or 5
    "recording",  # the recorder is confirmed and checked every check interval
    "checking",  # a check failed (404 or 50x) and is being retried with backoff
    "restarting",  # the recorder quit; a new one starts on the other uid
    "fault",  # a persistent 40x from Agora: surfaced, checks go on
    "stopping",  # stopping the recorder and waiting for the upload status
    "stopped",  # finished: the manifest is final
    "failed",  # finished without a recorder (a request Agora refuses)
]

SegmentEnd = Literal[
    "stopped",  # stopped by a stop request, cancellation, end time or maximum duration
    "recorder_exited",  # query kept answering 404 (or an exit status): the recorder quit
    "not_confirmed",  # never reached status 4 or 5 within Agora's 90 s window; stopped best effort
    "failover_duplicate",  # Agora's failover brought the old task back after a restart: stopped as a duplicate
    "sid_unknown",  # Agora accepted a start whose answer was lost and the duplicate-start answer carried no sid
]

StopTrigger = Literal["requested", "cancelled", "end_time", "max_duration", "failed"]

# Where a segment's files are, as Agora's callbacks tell it: uploading (30, 33), every file in the bucket (31), some in
# Agora's backup cloud, to be delivered later (32), or what a stop answered without knowing (unknown).
Delivery = Literal["uploading", "uploaded", "backuped", "unknown"]


def _checked_uid(field: str) -> Callable[[str], str]:
    return lambda value: limits.check_uid(value, field=field)


# Values checked against Agora's limits wherever a model holds them.
Channel = Annotated[str, AfterValidator(limits.check_cname)]
Colour = Annotated[str, AfterValidator(limits.check_colour)]
MaxIdleTime = Annotated[int, AfterValidator(limits.check_max_idle_time)]
ResourceHours = Annotated[int, AfterValidator(limits.check_resource_expired_hour)]
FileNamePrefix = Annotated[list[str], AfterValidator(limits.check_file_name_prefix)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Layout(_Frozen):
    """The mixed layout's fields, with Agora's defaults: 0 float, 1 adaptive, 2 vertical (needs maxResolutionUid)."""

    mixed_video_layout: Literal[0, 1, 2] = limits.TRANSCODING_LAYOUT
    max_resolution_uid: Annotated[str, AfterValidator(_checked_uid("max_resolution_uid"))] | None = Field(
        default=None, description="vertical layout (2): the uid shown large; required there, Agora refuses without it"
    )
    background_color: Colour = limits.TRANSCODING_BACKGROUND

    @model_validator(mode="after")
    def _layout_complete(self) -> Self:
        limits.check_layout(self.mixed_video_layout, self.max_resolution_uid)
        return self


class TranscodingSettings(_Layout):
    """Mix-mode canvas settings passed to Agora's transcodingConfig; the defaults are Agora's own."""

    width: Annotated[int, Field(ge=16, le=1920)] = limits.TRANSCODING_WIDTH
    height: Annotated[int, Field(ge=16, le=1920)] = limits.TRANSCODING_HEIGHT
    fps: Annotated[int, Field(ge=1, le=30)] = limits.TRANSCODING_FPS
    bitrate: Annotated[int, Field(ge=1, le=10_000)] = limits.TRANSCODING_BITRATE

    @model_validator(mode="after")
    def _canvas_fits(self) -> Self:
        limits.check_canvas(self.width, self.height)
        return self


class RecordingRequest(_Frozen):
    """Everything needed to record one channel; no credentials (the worker holds them)."""

    channel: Channel
    mode: RecordingMode = "mix"
    uid: str = Field(description="primary recorder uid: a decimal string in 1..4294967295, used by no real user")
    backup_uid: str = Field(description="the uid used on every other restart, so two recorders never share a uid")
    max_idle_time: MaxIdleTime = Field(
        default=policy.DEFAULT_MAX_IDLE_TIME,
        description="seconds Agora keeps recording an idle channel; size it to the longest break",
    )
    check_interval: int | None = Field(
        default=None,
        description="seconds between status checks; must be shorter than max_idle_time (default: half of it, "
        "at most 120)",
    )
    channel_type: Literal[0, 1] = Field(default=0, description="0 communication, 1 live broadcast")
    stream_types: Literal[0, 1, 2] = Field(default=2, description="0 audio, 1 video, 2 both")
    av_file_type: list[Literal["hls", "mp4"]] = ["hls"]
    subscribe_audio_uids: list[str] | None = None
    subscribe_video_uids: list[str] | None = None
    subscribe_uid_group: Literal[0, 1, 2, 3, 4, 5] | None = Field(
        default=None,
        description="individual mode: the peak number of subscribed uids as Agora's group (0: 1-2, 1: 3-7, 2: 8-12, "
        "3: 13-17, 4: 18-32, 5: 33-49); derived from explicit subscription lists when not given",
    )
    transcoding: TranscodingSettings | None = None
    web_url: str | None = Field(default=None, description="the page to record in web mode")
    file_name_prefix: FileNamePrefix = Field(default_factory=list)
    storage_profile: str = Field(default="default", description="a storage profile name from the worker's settings")
    end_at: datetime | None = Field(default=None, description="stop at this time (timezone-aware)")
    max_duration: timedelta | None = Field(default=None, description="stop after this long")
    resource_expired_hour: ResourceHours | None = Field(
        default=None,
        description="hours Agora keeps the session controllable; default: sized from the duration",
    )
    checks_per_run: int = Field(
        default=policy.CHECKS_PER_RUN,
        ge=2,
        le=policy.MAX_CHECKS_PER_RUN,
        description="checks before the workflow continues-as-new (800 stay under Temporal's 10,240-event warning)",
    )
    redundant: bool = Field(
        default=False,
        description="gapless class: a second recorder on its own resource and uid pair, watched by the same rules "
        "(Agora bills both)",
    )
    redundant_uid: str | None = Field(default=None, description="the second recorder's uid (redundant only)")
    delivery_wait: timedelta | None = Field(
        default=None,
        description="with Agora's callbacks on: after a stop answered backuped or unknown, wait up to this long for "
        "the uploaded callback (31) before the recording completes",
    )
    ha_check: bool = Field(
        default=False,
        description="with Agora's callbacks on: a recorder whose high-availability registration (event 13) has not "
        "arrived within 10 s of its start is replaced by one on the other uid (off: event 13 is in no event table)",
    )
    redundant_backup_uid: str | None = Field(default=None, description="the second recorder's backup uid")

    @field_validator("uid", "backup_uid", "redundant_uid", "redundant_backup_uid", mode="before")
    @classmethod
    def _uid(cls, value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError(
                f"uid {value!r} is not allowed: a recorder uid is a decimal string for an integer in 1..4294967295"
            )
        return limits.check_uid(value)

    @field_validator("storage_profile")
    @classmethod
    def _profile(cls, value: str) -> str:
        if not value or not value.replace("-", "").replace("_", "").isalnum():
            raise ValueError(
                f"storage_profile {value!r} is not allowed: use letters, digits, '-' and '_' "
                "(a profile name from the worker's AGORA_STORAGE_PROFILES)"
            )
        return value

    @field_validator("delivery_wait")
    @classmethod
    def _delivery_wait(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and not timedelta(0) < value <= policy.MAX_DELIVERY_WAIT:
            raise ValueError(
                f"delivery_wait {value} is not allowed: give a wait longer than 0 and at most "
                f"{policy.MAX_DELIVERY_WAIT} (or none, to complete at the stop's answer)"
            )
        return value

    @field_validator("subscribe_audio_uids", "subscribe_video_uids")
    @classmethod
    def _subscriptions(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        return None if value is None else limits.check_uid_list(info.field_name or "subscription list", value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.uid == self.backup_uid:
            raise ValueError(
                f"uid and backup_uid are both {self.uid}: they must differ, so that a restarted recorder "
                "never meets the previous one in the channel"
            )
        second = (self.redundant_uid, self.redundant_backup_uid)
        if self.redundant:
            if None in second:
                raise ValueError(
                    "a redundant recording needs redundant_uid and redundant_backup_uid: the second recorder's own "
                    "uid pair, used by no real user"
                )
            uids = [self.uid, self.backup_uid, *second]
            if len(set(uids)) != len(uids):
                raise ValueError(
                    f"uid, backup_uid, redundant_uid and redundant_backup_uid must be four different uids, got "
                    f"{', '.join(str(u) for u in uids)}: two recorders with one uid kick each other out"
                )
        elif second != (None, None):
            raise ValueError("redundant_uid and redundant_backup_uid are only used with redundant=True")
        interval = self.effective_check_interval
        if interval < policy.MIN_CHECK_INTERVAL:
            raise ValueError(
                f"check_interval {interval} s is too short: it must be at least {policy.MIN_CHECK_INTERVAL} s"
            )
        if interval >= self.max_idle_time:
            raise ValueError(
                f"check_interval {interval} s must be shorter than max_idle_time {self.max_idle_time} s "
                "(Agora: poll query more often than the recorder's idle timeout)"
            )
        files = set(self.av_file_type)
        if not files or "hls" not in files:
            raise ValueError(
                f"av_file_type {self.av_file_type} is not allowed: use ['hls'] or ['hls', 'mp4'] (mp4 alone is refused)"
            )
        if "mp4" in files and self.mode == "individual":
            raise ValueError("av_file_type with 'mp4' is only allowed in mix and web mode, not individual")
        if self.mode == "web":
            if not self.web_url or not self.web_url.startswith(("https://", "http://")):
                raise ValueError(f"web_url {self.web_url!r} is required in web mode: an http(s) URL of the page")
        elif self.web_url is not None:
            raise ValueError(f"web_url is only used in web mode, not {self.mode}")
        if self.transcoding is not None and self.mode != "mix":
            raise ValueError(f"transcoding settings are only used in mix mode, not {self.mode}")
        if self.stream_types == 1 and self.subscribe_audio_uids is not None:
            raise ValueError("subscribe_audio_uids is not allowed when stream_types is 1 (video only)")
        if self.stream_types == 0 and self.subscribe_video_uids is not None:
            raise ValueError("subscribe_video_uids is not allowed when stream_types is 0 (audio only)")
        if self.end_at is not None and self.end_at.tzinfo is None:
            raise ValueError(f"end_at {self.end_at.isoformat()} has no timezone: give a timezone-aware time")
        if self.max_duration is not None and self.max_duration <= timedelta(0):
            raise ValueError(f"max_duration {self.max_duration} must be positive")
        if self.mode == "individual" and self.effective_subscribe_uid_group is None:
            raise ValueError(
                "subscribe_uid_group is required in individual mode (Agora sizes the recorder by it): the peak "
                "number of subscribed uids as a group, 0: 1-2, 1: 3-7, 2: 8-12, 3: 13-17, 4: 18-32, 5: 33-49 "
                "(or subscribe to an explicit list of uids)"
            )
        if self.mode != "individual" and self.subscribe_uid_group is not None:
            raise ValueError(f"subscribe_uid_group is only used in individual mode, not {self.mode}")
        expiry = self.resource_expired_hour
        if expiry is not None and self.max_duration is not None and timedelta(hours=expiry) < self.max_duration:
            raise ValueError(
                f"resource_expired_hour {expiry} h is shorter than max_duration {self.max_duration}: after it Agora "
                "no longer answers query or stop, so the recording could not be watched or stopped"
            )
        return self

    @property
    def effective_subscribe_uid_group(self) -> int | None:
        """Individual mode's subscribeUidGroup: as given, or sized from the longer explicit subscription list."""
        if self.subscribe_uid_group is not None:
            return self.subscribe_uid_group
        explicit = [
            len(u) for u in (self.subscribe_audio_uids, self.subscribe_video_uids) if u and u != ["#allstream#"]
        ]
        return limits.uid_group_for(max(explicit)) if explicit else None

    @property
    def effective_check_interval(self) -> int:
        """The check interval in seconds, defaulting to half of max_idle_time and at most 120 s."""
        if self.check_interval is not None:
            return self.check_interval
        return policy.default_check_interval(self.max_idle_time)


class RecordingSegment(BaseModel):
    """One recorder's life: from Agora's sid to its end, with the files it produced."""

    model_config = ConfigDict(extra="forbid")

    index: int
    uid: str
    resource_id: str
    sid: str | None
    started_at: datetime
    confirmed_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: SegmentEnd | None = None
    detail: str | None = None
    sid_recovered: bool = False
    m3u8_names: list[str] = Field(default_factory=list)
    m3u8_confirmed: bool = False
    failover_uid: str | None = None
    file_list: list[str] = Field(default_factory=list)
    uploading_status: str | None = None
    # Which recorder line it belongs to: 0, or 1 for the second recorder of a redundant (gapless) class.
    line: int = 0
    # From Agora's callbacks: where the files are, the upload's progress (percent), the files delivered.
    delivery: Delivery | None = None
    upload_progress: float | None = None
    # From Agora's callbacks: high-availability migrations announced (event 12), and the registration (event 13).
    failovers_announced: int = 0
    ha_registered: bool = False


class RecordingGap(BaseModel):
    """A stretch of the class with no confirmed recorder between two segments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after_index: int
    before_index: int
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        """Length of the gap in seconds."""
        return (self.end - self.start).total_seconds()


class RecordingManifest(BaseModel):
    """The result of a recording: every segment, the gaps between them, and why it ended."""

    model_config = ConfigDict(extra="forbid")

    channel: str
    mode: RecordingMode
    phase: Phase
    started_at: datetime
    ended_at: datetime | None
    stop_trigger: StopTrigger | None
    error: str | None = None
    restarts: int
    failed_starts: int
    runs: int = 1
    segments: list[RecordingSegment]
    gaps: list[RecordingGap]


class FailoverProbe(BaseModel):
    """A sid that answered 404 and was replaced; probed once Agora's failover window has passed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segment_index: int
    due_at: datetime


class RecordingState(BaseModel):
    """Everything the workflow carries across continue-as-new."""

    model_config = ConfigDict(extra="forbid")

    started_at: datetime
    phase: Phase = "starting"
    segments: list[RecordingSegment] = Field(default_factory=list)
    next_uid: str
    restarts: int = 0
    failed_starts: int = 0
    checks: int = 0
    runs: int = 1
    last_status: int | None = None
    last_error: str | None = None
    last_healthy_at: datetime | None = None
    next_check_at: datetime | None = None
    m3u8_check_due_at: datetime | None = None
    m3u8_tries: int = 0
    probes: list[FailoverProbe] = Field(default_factory=list)
    stop_trigger: StopTrigger | None = None
    # The noticeIds of the latest callbacks taken, so a resent or duplicated callback never acts twice.
    seen_notices: list[str] = Field(default_factory=list)
    callbacks: int = 0


class RecordingInput(BaseModel):
    """The workflow's single input: the request, plus the carried state after a continue-as-new."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: RecordingRequest
    state: RecordingState | None = None
    # A redundant recording's second line, carried across continue-as-new like `state`.
    second_line: RecordingState | None = None


class LineStatus(BaseModel):
    """One recorder line of a redundant recording: its phase and the recorder it runs now."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    line: int
    phase: Phase
    uid: str | None
    sid: str | None
    up: bool = Field(description="a confirmed recorder is running on this line")
    restarts: int


class RecordingStatus(BaseModel):
    """What the status query answers: the live view of a recording."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str
    mode: RecordingMode
    phase: Phase
    uid: str | None
    sid: str | None
    resource_id: str | None
    restarts: int
    failed_starts: int
    checks: int
    runs: int
    last_status: int | None
    last_error: str | None
    m3u8_names: list[str]
    segments: int
    started_at: datetime
    planned_end: datetime | None
    # Redundant recordings: each line and whether its recorder is up (empty for a single recorder).
    lines: list[LineStatus] = Field(default_factory=list)
    # While stopping: what the workflow still waits for before it finishes (a stop's answer, a failover window).
    waiting_for: list[str] = Field(default_factory=list)
    # Agora's callbacks taken so far (resends and duplicates not counted).
    callbacks: int = 0


class StopRequest(BaseModel):
    """Input of the stop update and signal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = "stop requested"


class RecorderEvent(BaseModel):
    """One of Agora's Cloud Recording callbacks (NCS), reduced to what the workflow needs; never a secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notice_id: str
    event_type: int
    app_id: str | None = Field(default=None, description="the App ID the receiver serves (the inbox is per App ID)")
    cname: str
    sid: str
    uid: str | None = None
    sequence: int | None = None
    happened_at: datetime | None = Field(default=None, description="when the event happened (payload.sendts)")
    status: int | None = None
    exit_status: int | None = None
    leave_code: int | None = None
    error_level: int | None = None
    error_code: int | None = None
    progress: int | None = Field(default=None, description="upload progress, 0..10000 (hundredths of a percent)")
    new_uid: str | None = None
    file_names: list[str] = Field(default_factory=list)


class InboxEvent(BaseModel):
    """A callback about a sid no running workflow owns, as the App ID's inbox keeps it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    received_at: datetime
    event: RecorderEvent


class InboxView(BaseModel):
    """What the callback inbox holds: the latest unowned callbacks, and how many of each type it has taken."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    events: list[InboxEvent]
    counts: dict[int, int]
    total: int


class JoinRequest(BaseModel):
    """Input of the join update, the update half of start-or-join (update-with-start)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wait_until_up: bool = Field(
        default=False,
        description="answer once a recorder is confirmed (phase recording) or the recording has ended, instead of "
        "at once",
    )


class JoinResult(BaseModel):
    """What the join update answers: whether this call started the recording, and its status."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    started: bool = Field(description="True when the recording was started by this start-or-join call")
    status: RecordingStatus


class SubscriptionUpdate(BaseModel):
    """Input of the update_subscription update: replaces the recorder's subscription lists."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subscribe_audio_uids: list[str] | None = None
    subscribe_video_uids: list[str] | None = None


class LayoutUpdate(_Layout):
    """Input of the update_layout update (mix mode): replaces the whole layout (a field left out is Agora's default)."""


# --- activity inputs and outputs -------------------------------------------------------------------------------


class AcquireInput(_Frozen):
    """Ask Agora for a resource for one recorder uid."""

    channel: str
    uid: str
    mode: RecordingMode
    resource_expired_hour: int
    exclude_resource_ids: list[str] = Field(default_factory=list)


class AcquireResult(_Frozen):
    """The resourceId Agora gave (valid for 5 minutes and one start)."""

    resource_id: str


class StartInput(_Frozen):
    """Start a recorder on a resource; the activity adds storage keys and the token from the worker's settings."""

    request: RecordingRequest
    uid: str
    resource_id: str
    token_expire_seconds: int
    # The resource's life, which a web recorder's maxRecordingHour must not exceed (absent in older histories).
    resource_expired_hour: int | None = None


class StartResult(_Frozen):
    """Agora's sid, and the M3U8 names spliced from it."""

    sid: str
    resource_id: str
    recovered: bool = False
    m3u8_names: list[str] = Field(default_factory=list)


class QueryInput(_Frozen):
    """Query one recorder."""

    channel: str
    mode: RecordingMode
    resource_id: str
    sid: str


class QueryResult(_Frozen):
    """What query said: found=False is Agora's 404 (absent, exited or migrating)."""

    found: bool
    status: int | None = None
    uid: str | None = None
    file_names: list[str] = Field(default_factory=list)
    m3u8_names: list[str] = Field(default_factory=list)


class _OneRecorder(_Frozen):
    """The fields that name one running recorder to Agora: its channel, uid and mode, its resource and its sid."""

    channel: str
    uid: str
    mode: RecordingMode
    resource_id: str
    sid: str


class StopInput(_OneRecorder):
    """Stop one recorder."""


class StopResult(_Frozen):
    """How the stop ended: the file list and upload status, or why there were none."""

    outcome: Literal["stopped", "already_gone", "no_recorded_data", "already_exiting"]
    uploading_status: str | None = None
    file_names: list[str] = Field(default_factory=list)
    detail: str | None = None


class UpdateInput(_OneRecorder):
    """Change a running recorder's subscription or layout."""

    subscription: SubscriptionUpdate | None = None
    layout: LayoutUpdate | None = None


class UpdateResult(_Frozen):
    """Agora accepted the update."""

    sid: str
