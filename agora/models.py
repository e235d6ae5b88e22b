"""Pydantic v2 wire models of the Cloud Recording REST API.

Request models reject what they do not know (extra="forbid"), are frozen, take snake_case or the wire's
camelCase, and validate with Agora's limits (`workflows.limits`). Response models are lenient: Agora adds
fields over time and its documented shapes vary (fileList as a string or a list, `fileName` vs `filename`).

Secrets (token, storage keys, decryption secret) are `SecretStr`: reprs and ordinary dumps show
"**********"; only `to_wire()` reveals them, because Agora must receive them.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    SerializationInfo,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from agora.errors import RequestValidationError, invalid
from workflows import limits

RecordingMode = limits.RecordingMode
RECORDING_MODES = limits.RECORDING_MODES

_REVEAL = "reveal_secrets"
_MASK = "**********"


def _serialize_secret(value: SecretStr, info: SerializationInfo) -> str:
    if isinstance(info.context, dict) and info.context.get(_REVEAL):
        return value.get_secret_value()
    return _MASK


WireSecret = Annotated[SecretStr, PlainSerializer(_serialize_secret, return_type=str)]


def _int_to_str(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


LenientStr = Annotated[str, BeforeValidator(_int_to_str)]


class _Request(BaseModel):
    # hide_input_in_errors: a model-level error would otherwise echo the whole input, storage keys included.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        hide_input_in_errors=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON body part Agora expects, secrets revealed."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, context={_REVEAL: True})


class _SnakeRequest(_Request):
    # layoutConfig and backgroundConfig entries keep Agora's snake_case wire names (x_axis, render_mode).
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=None, hide_input_in_errors=True)


def secret_values(model: BaseModel) -> list[str]:
    """Every SecretStr value inside a model (to scrub them from error messages)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(model)
    return [s for s in found if s]


def _unsubscribe_alias(media: str) -> Any:
    # Send Agora's "unSubscribe…" spelling; accept the "unsubscribe…" one of the current EN reference too.
    wire = f"unSubscribe{media}Uids"
    return Field(
        default=None,
        validation_alias=AliasChoices(wire, f"unsubscribe{media}Uids", f"un_subscribe_{media.lower()}_uids"),
        serialization_alias=wire,
    )


def _address(field: str, value: str, schemes: tuple[str, ...], allowed: str) -> str:
    """`value` when it starts with one of `schemes`, else the refusal that names `field`."""
    if not value.startswith(schemes):
        raise invalid(field, value, allowed)
    return value


class LayoutConfig(_SnakeRequest):
    """One region of a custom mix layout (mixedVideoLayout 3)."""

    uid: str | None = None
    x_axis: float = Field(ge=0, le=1)
    y_axis: float = Field(ge=0, le=1)
    width: float = Field(ge=0, le=1)
    height: float = Field(ge=0, le=1)
    alpha: float | None = Field(default=None, ge=0, le=1)
    render_mode: Literal[0, 1] | None = None

    @field_validator("uid")
    @classmethod
    def _uid(cls, value: str | None) -> str | None:
        return None if value is None else limits.check_uid(value)


class BackgroundConfig(_SnakeRequest):
    """A background image for one user's region."""

    uid: str
    image_url: str = Field(min_length=1)
    render_mode: Literal[0, 1] | None = None

    @field_validator("uid")
    @classmethod
    def _uid(cls, value: str) -> str:
        return limits.check_uid(value)


class _LayoutFields(_Request):
    mixed_video_layout: Literal[0, 1, 2, 3] | None = None
    max_resolution_uid: str | None = None
    background_color: str | None = None
    background_image: str | None = None
    default_user_background_image: str | None = None
    layout_config: list[LayoutConfig] | None = Field(default=None, max_length=limits.MAX_LAYOUT_ENTRIES)
    background_config: list[BackgroundConfig] | None = Field(default=None, max_length=limits.MAX_LAYOUT_ENTRIES)

    @field_validator("background_color")
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        return None if value is None else limits.check_colour(value)

    @field_validator("max_resolution_uid")
    @classmethod
    def _max_uid(cls, value: str | None) -> str | None:
        return None if value is None else limits.check_uid(value, field="maxResolutionUid")

    @model_validator(mode="after")
    def _layout(self) -> Self:
        limits.check_layout(self.mixed_video_layout, self.max_resolution_uid, self.layout_config)
        return self


class TranscodingConfig(_LayoutFields):
    """Mix-mode video transcoding (width × height ≤ 1920 × 1080)."""

    width: int = Field(default=limits.TRANSCODING_WIDTH, gt=0)
    height: int = Field(default=limits.TRANSCODING_HEIGHT, gt=0)
    fps: int = Field(default=limits.TRANSCODING_FPS, gt=0)
    bitrate: int = Field(default=limits.TRANSCODING_BITRATE, gt=0)
    mixed_video_layout: Literal[0, 1, 2, 3] = limits.TRANSCODING_LAYOUT
    background_color: str = limits.TRANSCODING_BACKGROUND

    @model_validator(mode="after")
    def _size(self) -> Self:
        limits.check_canvas(self.width, self.height)
        return self


class RecordingConfig(_Request):
    """recordingConfig of start (individual and mix modes)."""

    channel_type: Literal[0, 1] = 0
    stream_types: Literal[0, 1, 2] = 2
    max_idle_time: int = limits.AGORA_DEFAULT_MAX_IDLE_TIME
    video_stream_type: Literal[0, 1] | None = None
    audio_profile: Literal[0, 1, 2] | None = None
    subscribe_audio_uids: list[str] | None = None
    un_subscribe_audio_uids: list[str] | None = _unsubscribe_alias("Audio")
    subscribe_video_uids: list[str] | None = None
    un_subscribe_video_uids: list[str] | None = _unsubscribe_alias("Video")
    subscribe_uid_group: int | None = Field(default=None, ge=0, le=5)
    stream_mode: Literal["default", "standard", "original"] | None = None
    decryption_mode: int | None = Field(default=None, ge=0, le=8)
    secret: WireSecret | None = None
    salt: WireSecret | None = None
    transcoding_config: TranscodingConfig | None = None

    @field_validator("max_idle_time")
    @classmethod
    def _idle(cls, value: int) -> int:
        return limits.check_max_idle_time(value)

    @field_validator(
        "subscribe_audio_uids", "un_subscribe_audio_uids", "subscribe_video_uids", "un_subscribe_video_uids"
    )
    @classmethod
    def _uids(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        return None if value is None else limits.check_uid_list(to_camel(info.field_name or ""), value)

    @model_validator(mode="after")
    def _lists(self) -> Self:
        audio = (
            ("subscribeAudioUids", self.subscribe_audio_uids),
            ("unSubscribeAudioUids", self.un_subscribe_audio_uids),
        )
        video = (
            ("subscribeVideoUids", self.subscribe_video_uids),
            ("unSubscribeVideoUids", self.un_subscribe_video_uids),
        )
        for pair in (audio, video):
            if all(values is not None for _, values in pair):
                raise invalid(f"{pair[0][0]}/{pair[1][0]}", "both set", "only one list per media type (allow or deny)")
        if self.stream_types == 1:
            for name, values in audio:
                if values is not None:
                    raise invalid(name, values, "no audio list when streamTypes is 1 (video only)")
        if self.stream_types == 0:
            for name, values in video:
                if values is not None:
                    raise invalid(name, values, "no video list when streamTypes is 0 (audio only)")
        return self


AvFileType = Literal["hls", "mp4"]


def _hls_only() -> list[AvFileType]:
    return ["hls"]


def _jpg_only() -> list[Literal["jpg"]]:
    return ["jpg"]


class RecordingFileConfig(_Request):
    """recordingFileConfig: ["hls"] or ["hls", "mp4"]."""

    av_file_type: list[AvFileType] = Field(default_factory=_hls_only)

    @field_validator("av_file_type")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        if "hls" not in value or len(set(value)) != len(value):
            raise invalid("avFileType", value, '["hls"] or ["hls", "mp4"] (["mp4"] alone is refused)')
        return value


class SnapshotConfig(_Request):
    """snapshotConfig (individual mode only)."""

    capture_interval: int = 10
    file_type: list[Literal["jpg"]] = Field(default_factory=_jpg_only, min_length=1, max_length=1)

    @field_validator("capture_interval")
    @classmethod
    def _interval(cls, value: int) -> int:
        return limits.check_capture_interval(value)


StorageVendor = Literal[1, 2, 3, 5, 6, 7, 8, 11]


class StorageConfig(_Request):
    """storageConfig: where Agora uploads the files; the keys reach Agora only through to_wire()."""

    vendor: StorageVendor
    region: int = Field(ge=0)
    bucket: str = Field(min_length=1)
    access_key: WireSecret
    secret_key: WireSecret
    sts_token: WireSecret | None = None
    sts_expiration: int | None = None
    file_name_prefix: list[str] | None = None
    extension_params: dict[str, Any] | None = None

    @field_validator("file_name_prefix")
    @classmethod
    def _prefix(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else limits.check_file_name_prefix(value)

    @model_validator(mode="after")
    def _endpoint(self) -> Self:
        if self.vendor == 11 and not (self.extension_params or {}).get("endpoint"):
            raise invalid("extensionParams.endpoint", None, "an endpoint URL, required for vendor 11")
        return self


class WebRecorderServiceParam(_Request):
    """serviceParam of web_recorder_service."""

    # start.mdx requires these four beside the url: Agora refuses a web recorder without them.
    url: str
    max_recording_hour: int
    audio_profile: Literal[0, 1, 2]
    video_width: int = Field(gt=0)
    video_height: int = Field(gt=0)
    video_bitrate: int | None = Field(default=None, gt=0)
    video_fps: int | None = Field(default=None, ge=5, le=60)
    mobile: bool | None = None
    max_video_duration: int | None = Field(default=None, ge=30, le=240)
    onhold: bool | None = None
    ready_timeout: int | None = Field(default=None, ge=0, le=60)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _address("url", value, ("http://", "https://"), "an http:// or https:// address of the page to record")

    @field_validator("max_recording_hour")
    @classmethod
    def _hours(cls, value: int) -> int:
        return limits.check_max_recording_hour(value)


class RtmpOutput(_Request):
    """One CDN push target."""

    rtmp_url: str

    @field_validator("rtmp_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _address("rtmpUrl", value, ("rtmp://", "rtmps://"), "an rtmp:// or rtmps:// address")


class RtmpPublishServiceParam(_Request):
    """serviceParam of rtmp_publish_service."""

    outputs: list[RtmpOutput] = Field(min_length=1, max_length=1)


class ExtensionService(_Request):
    """One entry of extensionServiceConfig.extensionServices."""

    service_name: Literal["web_recorder_service", "rtmp_publish_service"]
    error_handle_policy: str | None = None
    service_param: WebRecorderServiceParam | RtmpPublishServiceParam

    @model_validator(mode="after")
    def _matches(self) -> Self:
        expected = WebRecorderServiceParam if self.service_name == "web_recorder_service" else RtmpPublishServiceParam
        if not isinstance(self.service_param, expected):
            raise invalid("serviceParam", self.service_name, f"the {expected.__name__} fields")
        return self


class ExtensionServiceConfig(_Request):
    """extensionServiceConfig (web mode only)."""

    error_handle_policy: str = "error_abort"
    extension_services: list[ExtensionService] = Field(min_length=1)


def _mode_error(field: str, mode: str, allowed: str) -> RequestValidationError:
    return invalid(field, mode, allowed)


class StartClientRequest(_Request):
    """clientRequest of start (also acquire's startParameter)."""

    token: WireSecret | None = None
    recording_config: RecordingConfig | None = None
    recording_file_config: RecordingFileConfig | None = None
    snapshot_config: SnapshotConfig | None = None
    storage_config: StorageConfig
    extension_service_config: ExtensionServiceConfig | None = None

    def check_for_mode(self, mode: str) -> None:
        """Raise RequestValidationError when a part does not fit the recording mode."""
        limits.check_mode(mode)
        rc = self.recording_config
        if mode == "web":
            if self.extension_service_config is None:
                raise _mode_error("extensionServiceConfig", mode, "required in web mode")
            if rc is not None:
                raise _mode_error("recordingConfig", mode, "only in individual and mix modes")
        else:
            if rc is None:
                raise _mode_error("recordingConfig", mode, "required in individual and mix modes")
            if self.extension_service_config is not None:
                raise _mode_error("extensionServiceConfig", mode, "only in web mode")
        if self.snapshot_config is not None and mode != "individual":
            raise _mode_error("snapshotConfig", mode, "only in individual mode")
        files = self.recording_file_config
        if files is not None and "mp4" in files.av_file_type and mode == "individual":
            raise _mode_error("avFileType", mode, 'mp4 only in mix and web modes; individual takes ["hls"]')
        if rc is not None and mode != "mix":
            if rc.transcoding_config is not None:
                raise _mode_error("transcodingConfig", mode, "only in mix mode")
            if rc.audio_profile is not None:
                raise _mode_error("audioProfile", mode, "only in mix mode")
        if rc is not None and mode != "individual" and rc.stream_mode is not None:
            raise _mode_error("streamMode", mode, "only in individual mode")
        # start.mdx's required fields, which Agora refuses with code 2 when they are missing.
        if rc is not None and mode == "individual" and rc.subscribe_uid_group is None:
            raise invalid("subscribeUidGroup", None, "0..5 in individual mode: the peak number of subscribed uids")
        if files is None and self.snapshot_config is None:
            raise invalid("recordingFileConfig", None, "required unless the task takes screenshots only")
        if self.snapshot_config is not None and rc is not None:
            if rc.stream_types == 0:
                raise invalid("streamTypes", 0, "1 or 2 when taking screenshots")
            if rc.subscribe_audio_uids is not None and rc.subscribe_video_uids is None:
                raise invalid("subscribeVideoUids", None, "required with subscribeAudioUids when taking screenshots")


class AcquireClientRequest(_Request):
    """clientRequest of acquire."""

    # 0 realtime (individual, mix), 1 web page. Agora's 2 (postponed transcoding) needs start's appsCollection and
    # transcodeOptions, which this client cannot send: a scene-2 resource could only be started wrongly.
    scene: Literal[0, 1] = 0
    resource_expired_hour: int = limits.AGORA_DEFAULT_RESOURCE_EXPIRED_HOUR
    exclude_resource_ids: list[str] | None = None
    region_affinity: Literal[0, 1, 2, 3, 4] | None = None
    region: Literal["CN", "AP", "EU", "NA"] | None = None
    start_parameter: StartClientRequest | None = None

    @field_validator("resource_expired_hour")
    @classmethod
    def _hours(cls, value: int) -> int:
        return limits.check_resource_expired_hour(value)


class _UidList(_Request):
    """One of streamSubscribe's lists: the uids to subscribe to, or those to unsubscribe from (exactly one)."""

    # The list's name in the body, for the error that names it.
    _wire_name: ClassVar[str]

    @field_validator("*")
    @classmethod
    def _uids(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        return None if value is None else limits.check_uid_list(to_camel(info.field_name or ""), value)

    @model_validator(mode="after")
    def _one(self) -> Self:
        fields = type(self).model_fields
        if sum(getattr(self, name) is not None for name in fields) != 1:
            alternatives = ", ".join(field.serialization_alias or to_camel(name) for name, field in fields.items())
            raise invalid(self._wire_name, "", f"exactly one of {alternatives}")
        return self


class AudioUidList(_UidList):
    """streamSubscribe.audioUidList: one of the two lists."""

    _wire_name = "audioUidList"

    subscribe_audio_uids: list[str] | None = None
    un_subscribe_audio_uids: list[str] | None = _unsubscribe_alias("Audio")


class VideoUidList(_UidList):
    """streamSubscribe.videoUidList: one of the two lists."""

    _wire_name = "videoUidList"

    subscribe_video_uids: list[str] | None = None
    un_subscribe_video_uids: list[str] | None = _unsubscribe_alias("Video")


class StreamSubscribe(_Request):
    """update's streamSubscribe: replaces the current subscription lists."""

    audio_uid_list: AudioUidList | None = None
    video_uid_list: VideoUidList | None = None


class WebRecordingConfig(_Request):
    """update's webRecordingConfig: pause (onhold) or resume a web recording."""

    onhold: bool


class RtmpPublishConfig(_Request):
    """update's rtmpPublishConfig: at most one output."""

    outputs: list[RtmpOutput] = Field(max_length=1)


class UpdateClientRequest(_Request):
    """clientRequest of update; at least one part."""

    stream_subscribe: StreamSubscribe | None = None
    web_recording_config: WebRecordingConfig | None = None
    rtmp_publish_config: RtmpPublishConfig | None = None
    storage_config: StorageConfig | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise invalid(
                "clientRequest",
                {},
                "at least one of streamSubscribe, webRecordingConfig, rtmpPublishConfig, storageConfig",
            )
        return self

    def check_for_mode(self, mode: str) -> None:
        """Raise RequestValidationError when a part does not fit the recording mode."""
        limits.check_mode(mode)
        if self.stream_subscribe is not None and mode == "web":
            raise _mode_error("streamSubscribe", mode, "only in individual and mix modes")
        if mode != "web":
            if self.web_recording_config is not None:
                raise _mode_error("webRecordingConfig", mode, "only in web mode")
            if self.rtmp_publish_config is not None:
                raise _mode_error("rtmpPublishConfig", mode, "only in web mode")


class UpdateLayoutClientRequest(_LayoutFields):
    """clientRequest of updateLayout (mix only); each call replaces the whole layout."""


# ---------------------------------------------------------------------------------------------------------
# Responses: lenient.


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", alias_generator=to_camel, populate_by_name=True)


def _file_list(value: Any) -> Any:
    """fileList arrives as "name.m3u8", "", null, or a list of objects (or, defensively, of strings)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [{"fileName": value}]
    if isinstance(value, list):
        return [{"fileName": item} if isinstance(item, str) else item for item in value]
    return value


class FileInfo(_Response):
    """One recorded file as listed by query, stop or a web recorder payload."""

    file_name: str | None = Field(default=None, validation_alias=AliasChoices("fileName", "filename", "file_name"))
    track_type: str | None = None
    uid: LenientStr | None = None
    mixed_all_user: bool | None = None
    is_playable: bool | None = None
    slice_start_time: int | None = None


FileList = Annotated[list[FileInfo], BeforeValidator(_file_list)]


class ExtensionServicePayload(_Response):
    """payload of one extensionServiceState entry (web mode)."""

    file_list: FileList = Field(default_factory=list)
    onhold: bool | None = None
    state: str | None = None
    uploading_status: str | None = None


class ExtensionServiceState(_Response):
    """One entry of serverResponse.extensionServiceState (web mode)."""

    service_name: str | None = None
    payload: ExtensionServicePayload | None = None


class ServerResponse(_Response):
    """serverResponse of query and stop; web file lists are folded into file_list."""

    status: int | None = None
    file_list_mode: str | None = None
    file_list: FileList = Field(default_factory=list)
    slice_start_time: int | None = None
    uploading_status: str | None = None
    extension_service_state: list[ExtensionServiceState] | None = None
    sub_service_status: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _fold_web(self) -> Self:
        for state in self.extension_service_state or ():
            if state.payload is None:
                continue
            known = {f.file_name for f in self.file_list}
            self.file_list.extend(f for f in state.payload.file_list if f.file_name not in known)
            if self.uploading_status is None and state.payload.uploading_status is not None:
                self.uploading_status = state.payload.uploading_status
        return self


class AcquireResponse(_Response):
    """200 of acquire."""

    resource_id: str = Field(min_length=1)
    cname: str | None = None
    uid: LenientStr | None = None


class StartResponse(_Response):
    """200 of start."""

    sid: str = Field(min_length=1)
    resource_id: str = Field(min_length=1)
    cname: str | None = None
    uid: LenientStr | None = None


class UpdateResponse(_Response):
    """200 of update and updateLayout."""

    sid: str | None = None
    resource_id: str | None = None
    cname: str | None = None
    uid: LenientStr | None = None


class QueryResponse(UpdateResponse):
    """200 of query."""

    server_response: ServerResponse


class StopResponse(UpdateResponse):
    """200 of stop (an individual task with screenshots answers uploadingStatus only)."""

    server_response: ServerResponse = Field(default_factory=ServerResponse)
