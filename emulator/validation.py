"""Request validation as the reference documents it; every failure is a `ServiceError`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MODES = ("individual", "mix", "web")
MAX_UID = 4_294_967_295
STORAGE_VENDORS = frozenset({1, 2, 3, 5, 6, 7, 8, 11})
ALL_STREAMS = "#allstream#"
# Reference §5: RTC channel names may use these characters besides letters and digits.
_CNAME_RE = re.compile(r"^[A-Za-z0-9 !#$%&()+\-:;<=.>?@\[\]^_{}|~,]+$")
_UID_RE = re.compile(r"^[1-9][0-9]*$")
_PREFIX_PART_RE = re.compile(r"^[A-Za-z0-9]+$")
_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")


class ServiceError(Exception):
    """An Agora service error: HTTP status plus `{"code", "reason"}`."""

    def __init__(self, code: int, reason: str, http_status: int = 400) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.http_status = http_status

    def body(self) -> dict[str, Any]:
        """The JSON body Agora sends for this error."""
        return {"code": self.code, "reason": self.reason}


def bad(path: str, what: str) -> ServiceError:
    """A code 2 "invalid parameter" error naming the field."""
    return ServiceError(2, f"{path}: {what}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _refuse_if_required(path: str, required: bool) -> None:
    """An absent field is refused when it must be there."""
    if required:
        raise bad(path, "is required")


def get_obj(parent: dict[str, Any], key: str, path: str, required: bool = False) -> dict[str, Any] | None:
    """Return `parent[key]` when it is an object, None when absent (or null) and optional."""
    value = parent.get(key)
    if value is None:
        _refuse_if_required(path, required)
        return None
    if not isinstance(value, dict):
        raise bad(path, "must be an object")
    return value


def get_int(parent: dict[str, Any], key: str, path: str, lo: int, hi: int, default: int) -> int:
    """Return an integer field within [lo, hi], or the default when absent."""
    if key not in parent:
        return default
    value = parent[key]
    if not _is_int(value):
        raise bad(path, "must be an integer")
    if not lo <= value <= hi:
        raise bad(path, f"must be in [{lo}, {hi}]")
    return int(value)


def get_number(parent: dict[str, Any], key: str, path: str, lo: float, hi: float) -> float | None:
    """Return a number field within [lo, hi], or None when absent."""
    if key not in parent:
        return None
    value = parent[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(path, "must be a number")
    if not lo <= value <= hi:
        raise bad(path, f"must be in [{lo}, {hi}]")
    return float(value)


def get_str(parent: dict[str, Any], key: str, path: str, required: bool = False) -> str | None:
    """Return a non-empty string field, or None when absent and optional."""
    if key not in parent:
        _refuse_if_required(path, required)
        return None
    value = parent[key]
    if not isinstance(value, str):
        raise bad(path, "must be a string")
    if required and not value:
        raise bad(path, "must not be empty")
    return value


def check_uid(value: Any, path: str = "uid") -> str:
    """A uid is a decimal string for 1..4294967295."""
    if not isinstance(value, str):
        raise bad(path, "must be a string holding a decimal integer")
    if not _UID_RE.match(value) or int(value) > MAX_UID:
        raise bad(path, f"must be a decimal integer in [1, {MAX_UID}]")
    return value


def check_cname(value: Any, scene: int) -> str:
    """Channel names: reference §5 characters and < 64 bytes; a web task's label may be up to 1024 bytes."""
    invalid = ServiceError(401, "invalid_channel_name")
    if not isinstance(value, str) or not value:
        raise invalid
    size = len(value.encode("utf-8"))
    if scene == 1:
        if size > 1024:
            raise invalid
        return value
    if size >= 64 or not _CNAME_RE.match(value):
        raise invalid
    return value


@dataclass(frozen=True)
class AcquireRequest:
    """A validated acquire body."""

    cname: str
    uid: str
    scene: int
    resource_expired_hour: int
    start_parameter: dict[str, Any] | None


def parse_envelope(body: Any) -> tuple[Any, Any, dict[str, Any]]:
    """Split `{"cname","uid","clientRequest"}`; clientRequest must be an object."""
    if not isinstance(body, dict):
        raise bad("body", "must be a JSON object")
    client_request = get_obj(body, "clientRequest", "clientRequest", required=True)
    assert client_request is not None
    return body.get("cname"), body.get("uid"), client_request


def validate_acquire(body: Any) -> AcquireRequest:
    """Validate an acquire request body."""
    cname, uid, cr = parse_envelope(body)
    scene = get_int(cr, "scene", "clientRequest.scene", 0, 2, 0)
    cname = check_cname(cname, scene)
    uid = check_uid(uid)
    hours = cr.get("resourceExpiredHour", 72)
    if not _is_int(hours) or not 1 <= hours <= 720:
        raise ServiceError(2, "Acquire: invalid resourceExpiredHour value!")
    if "excludeResourceIds" in cr:
        ids = cr["excludeResourceIds"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise bad("clientRequest.excludeResourceIds", "must be a list of strings")
    if "region" in cr and cr["region"] not in ("CN", "AP", "EU", "NA"):
        raise bad("clientRequest.region", "must be one of CN, AP, EU, NA")
    get_int(cr, "regionAffinity", "clientRequest.regionAffinity", 0, 4, 0)
    start_parameter = get_obj(cr, "startParameter", "clientRequest.startParameter")
    return AcquireRequest(cname, uid, scene, int(hours), start_parameter)


@dataclass(frozen=True)
class Subscription:
    """Who a recorder subscribes to for one media type."""

    kind: str  # "all" | "none" | "allow" | "deny"
    uids: frozenset[str] = frozenset()

    def covers(self, uid: str) -> bool:
        """Whether `uid` is subscribed."""
        if self.kind == "all":
            return True
        if self.kind == "allow":
            return ALL_STREAMS in self.uids or uid in self.uids
        if self.kind == "deny":
            return uid not in self.uids
        return False


def _uid_list(value: Any, path: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(path, "must be a list of uid strings")
    if len(value) > 32:
        raise bad(path, "at most 32 entries")
    if not value:
        raise bad(path, "must not be empty")
    for i, uid in enumerate(value):
        if uid != ALL_STREAMS:
            check_uid(uid, f"{path}[{i}]")
    return list(value)


def lists_for(container: dict[str, Any], media: str, path: str) -> tuple[list[str] | None, list[str] | None]:
    """Return (subscribe, unsubscribe) lists for "Audio" or "Video"; accepts both unsubscribe spellings."""
    sub_key = f"subscribe{media}Uids"
    unsub_keys = [k for k in (f"unSubscribe{media}Uids", f"unsubscribe{media}Uids") if k in container]
    sub = _uid_list(container[sub_key], f"{path}.{sub_key}") if sub_key in container else None
    if len(unsub_keys) > 1:
        raise bad(f"{path}.unSubscribe{media}Uids", "given under both spellings")
    unsub = _uid_list(container[unsub_keys[0]], f"{path}.{unsub_keys[0]}") if unsub_keys else None
    if sub is not None and unsub is not None:
        raise bad(f"{path}.{sub_key}", f"only one of subscribe{media}Uids and unSubscribe{media}Uids")
    return sub, unsub


def subscriptions(
    audio: tuple[list[str] | None, list[str] | None],
    video: tuple[list[str] | None, list[str] | None],
    stream_types: int,
    path: str,
) -> tuple[Subscription, Subscription]:
    """Turn the four optional lists into rules, enforcing the streamTypes constraints."""
    if stream_types == 1 and (audio[0] is not None or audio[1] is not None):
        raise bad(f"{path}.subscribeAudioUids", "audio lists are invalid with streamTypes=1")
    if stream_types == 0 and (video[0] is not None or video[1] is not None):
        raise bad(f"{path}.subscribeVideoUids", "video lists are invalid with streamTypes=0")
    any_list = any(x is not None for x in (*audio, *video))

    def rule(lists: tuple[list[str] | None, list[str] | None], wanted: bool) -> Subscription:
        if not wanted:
            return Subscription("none")
        if lists[0] is not None:
            return Subscription("allow", frozenset(lists[0]))
        if lists[1] is not None:
            return Subscription("deny", frozenset(lists[1]))
        # A list for only one media type means nothing of the other type is subscribed.
        return Subscription("none") if any_list else Subscription("all")

    return rule(audio, stream_types in (0, 2)), rule(video, stream_types in (1, 2))


@dataclass
class StartSpec:
    """What a validated start request configures."""

    channel_type: int = 0
    stream_types: int = 2
    max_idle_time: int = 30
    audio: Subscription = field(default_factory=lambda: Subscription("all"))
    video: Subscription = field(default_factory=lambda: Subscription("all"))
    av_file_types: list[str] = field(default_factory=lambda: ["hls"])
    snapshot: bool = False
    prefix: list[str] = field(default_factory=list)
    onhold: bool = False
    layout: dict[str, Any] = field(default_factory=dict)
    # Web mode: the page recorder stops by itself after this many hours.
    max_recording_hour: int | None = None


def validate_storage(cr: dict[str, Any], path: str, required: bool) -> list[str] | None:
    """Validate a storageConfig; returns its fileNamePrefix parts (None when absent)."""
    sc = get_obj(cr, "storageConfig", path, required=required)
    if sc is None:
        return None
    vendor = sc.get("vendor")
    if not _is_int(vendor) or vendor not in STORAGE_VENDORS:
        raise bad(f"{path}.vendor", f"must be one of {sorted(STORAGE_VENDORS)}")
    if "region" not in sc or not _is_int(sc["region"]) or sc["region"] < 0:
        raise bad(f"{path}.region", "must be a non-negative integer")
    for key in ("bucket", "accessKey", "secretKey"):
        get_str(sc, key, f"{path}.{key}", required=True)
    ext = get_obj(sc, "extensionParams", f"{path}.extensionParams")
    if ext is not None and "sse" in ext and ext["sse"] not in ("kms", "aes256"):
        raise bad(f"{path}.extensionParams.sse", "must be kms or aes256")
    if vendor == 11 and (ext is None or not ext.get("endpoint")):
        raise bad(f"{path}.extensionParams.endpoint", "is required for vendor 11")
    prefix = sc.get("fileNamePrefix", [])
    if not isinstance(prefix, list) or not all(isinstance(p, str) for p in prefix):
        raise bad(f"{path}.fileNamePrefix", "must be a list of strings")
    for part in prefix:
        if not _PREFIX_PART_RE.match(part):
            raise bad(f"{path}.fileNamePrefix", "parts may hold only A-Z, a-z and 0-9")
    if len("/".join(prefix)) > 128:
        raise bad(f"{path}.fileNamePrefix", "longer than 128 characters in total")
    return list(prefix)


def validate_layout(layout: dict[str, Any], path: str, code: int = 2) -> dict[str, Any]:
    """Validate the layout fields shared by transcodingConfig and updateLayout."""
    try:
        mode = get_int(layout, "mixedVideoLayout", f"{path}.mixedVideoLayout", 0, 3, 0)
        if mode == 2:
            get_str(layout, "maxResolutionUid", f"{path}.maxResolutionUid", required=True)
        if "backgroundColor" in layout and not (
            isinstance(layout["backgroundColor"], str) and _COLOR_RE.match(layout["backgroundColor"])
        ):
            raise bad(f"{path}.backgroundColor", 'must look like "#RRGGBB"')
        entries = layout.get("layoutConfig", [])
        if not isinstance(entries, list) or len(entries) > 17:
            raise bad(f"{path}.layoutConfig", "must be a list of at most 17 entries")
        for i, entry in enumerate(entries):
            where = f"{path}.layoutConfig[{i}]"
            if not isinstance(entry, dict):
                raise bad(where, "must be an object")
            for key in ("x_axis", "y_axis", "width", "height", "alpha"):
                get_number(entry, key, f"{where}.{key}", 0.0, 1.0)
            get_int(entry, "render_mode", f"{where}.render_mode", 0, 1, 0)
        if "backgroundConfig" in layout and not isinstance(layout["backgroundConfig"], list):
            raise bad(f"{path}.backgroundConfig", "must be a list")
    except ServiceError as exc:
        raise ServiceError(code, exc.reason) from None
    return dict(layout)


def _validate_recording_config(mode: str, cr: dict[str, Any], spec: StartSpec) -> None:
    rc = get_obj(cr, "recordingConfig", "clientRequest.recordingConfig", required=True)
    assert rc is not None
    path = "clientRequest.recordingConfig"
    spec.channel_type = get_int(rc, "channelType", f"{path}.channelType", 0, 1, 0)
    spec.stream_types = get_int(rc, "streamTypes", f"{path}.streamTypes", 0, 2, 2)
    spec.max_idle_time = get_int(rc, "maxIdleTime", f"{path}.maxIdleTime", 5, 2_592_000, 30)
    get_int(rc, "videoStreamType", f"{path}.videoStreamType", 0, 1, 0)
    get_int(rc, "audioProfile", f"{path}.audioProfile", 0, 2, 0)
    if mode == "individual" and "subscribeUidGroup" not in rc:
        raise bad(f"{path}.subscribeUidGroup", "is required in individual mode")
    get_int(rc, "subscribeUidGroup", f"{path}.subscribeUidGroup", 0, 5, 0)
    get_int(rc, "decryptionMode", f"{path}.decryptionMode", 0, 8, 0)
    if "streamMode" in rc:
        if mode != "individual":
            raise bad(f"{path}.streamMode", "is for individual mode only")
        if rc["streamMode"] not in ("default", "standard", "original"):
            raise bad(f"{path}.streamMode", "must be default, standard or original")
    spec.audio, spec.video = subscriptions(
        lists_for(rc, "Audio", path), lists_for(rc, "Video", path), spec.stream_types, path
    )
    tc = get_obj(rc, "transcodingConfig", f"{path}.transcodingConfig")
    if tc is not None:
        if mode != "mix":
            raise bad(f"{path}.transcodingConfig", "is for mix mode only")
        tpath = f"{path}.transcodingConfig"
        width = get_int(tc, "width", f"{tpath}.width", 1, 10_000, 360)
        height = get_int(tc, "height", f"{tpath}.height", 1, 10_000, 640)
        if width * height > 1920 * 1080:
            raise bad(f"{tpath}.width", "width*height must not exceed 1920*1080")
        get_int(tc, "fps", f"{tpath}.fps", 1, 60, 15)
        get_int(tc, "bitrate", f"{tpath}.bitrate", 1, 100_000, 500)
        spec.layout = validate_layout(tc, tpath)


def _validate_web(cr: dict[str, Any], spec: StartSpec, expired_hour: int) -> None:
    path = "clientRequest.extensionServiceConfig"
    esc = get_obj(cr, "extensionServiceConfig", path, required=True)
    assert esc is not None
    services = esc.get("extensionServices")
    if not isinstance(services, list) or not all(isinstance(s, dict) for s in services):
        raise bad(f"{path}.extensionServices", "must be a list of objects")
    web = [s for s in services if s.get("serviceName") == "web_recorder_service"]
    for i, service in enumerate(services):
        if service.get("serviceName") not in ("web_recorder_service", "rtmp_publish_service"):
            raise bad(f"{path}.extensionServices[{i}].serviceName", "unknown service")
    if len(web) != 1:
        raise bad(f"{path}.extensionServices", "needs exactly one web_recorder_service")
    ppath = f"{path}.extensionServices.serviceParam"
    param = get_obj(web[0], "serviceParam", ppath, required=True)
    assert param is not None
    get_str(param, "url", f"{ppath}.url", required=True)
    for key in ("audioProfile", "videoWidth", "videoHeight", "maxRecordingHour"):
        if key not in param:
            raise bad(f"{ppath}.{key}", "is required")
    get_int(param, "audioProfile", f"{ppath}.audioProfile", 0, 2, 0)
    get_int(param, "videoWidth", f"{ppath}.videoWidth", 1, 10_000, 1280)
    get_int(param, "videoHeight", f"{ppath}.videoHeight", 1, 10_000, 720)
    hours = get_int(param, "maxRecordingHour", f"{ppath}.maxRecordingHour", 1, 720, 1)
    # A web recorder outliving its resource could no longer be stopped (acquire.mdx, webpage-best-practices.md).
    if hours > expired_hour:
        raise bad(f"{ppath}.maxRecordingHour", f"must not exceed resourceExpiredHour ({expired_hour})")
    spec.max_recording_hour = hours
    get_int(param, "videoFps", f"{ppath}.videoFps", 5, 60, 15)
    get_int(param, "maxVideoDuration", f"{ppath}.maxVideoDuration", 30, 240, 120)
    get_int(param, "readyTimeout", f"{ppath}.readyTimeout", 0, 60, 0)
    onhold = param.get("onhold", False)
    if not isinstance(onhold, bool):
        raise bad(f"{ppath}.onhold", "must be a boolean")
    spec.onhold = onhold


def validate_start(mode: str, cr: dict[str, Any], token_required: bool, expired_hour: int = 720) -> StartSpec:
    """Validate a start clientRequest for `mode`; `expired_hour` is the resource's resourceExpiredHour."""
    spec = StartSpec()
    if mode in ("individual", "mix"):
        if token_required and not (isinstance(cr.get("token"), str) and cr["token"]):
            raise ServiceError(2, "token required")
        _validate_recording_config(mode, cr, spec)
    else:
        _validate_web(cr, spec, expired_hour)
    rfc = get_obj(cr, "recordingFileConfig", "clientRequest.recordingFileConfig")
    if rfc is not None:
        types = rfc.get("avFileType", ["hls"])
        path = "clientRequest.recordingFileConfig.avFileType"
        if not isinstance(types, list) or not types or any(t not in ("hls", "mp4") for t in types):
            raise bad(path, 'must be ["hls"] or ["hls","mp4"]')
        if "hls" not in types:
            raise bad(path, '"mp4" needs "hls" as well')
        if "mp4" in types and mode == "individual":
            raise bad(path, "mp4 is for mix and web mode only")
        spec.av_file_types = sorted(set(types), key=["hls", "mp4"].index)
    snap = get_obj(cr, "snapshotConfig", "clientRequest.snapshotConfig")
    if snap is not None:
        path = "clientRequest.snapshotConfig"
        if mode != "individual":
            raise bad(path, "is for individual mode only")
        get_int(snap, "captureInterval", f"{path}.captureInterval", 5, 3600, 10)
        if snap.get("fileType", ["jpg"]) != ["jpg"]:
            raise bad(f"{path}.fileType", 'must be ["jpg"]')
        # start.mdx: with screenshots streamTypes must be 1 or 2, and an audio list needs a video list too.
        rc = cr["recordingConfig"]
        if spec.stream_types == 0:
            raise bad("clientRequest.recordingConfig.streamTypes", "must be 1 or 2 when taking screenshots")
        if "subscribeAudioUids" in rc and "subscribeVideoUids" not in rc:
            raise bad(
                "clientRequest.recordingConfig.subscribeVideoUids",
                "is required with subscribeAudioUids when taking screenshots",
            )
        spec.snapshot = True
    elif rfc is None:
        # start.mdx: recordingFileConfig is required in every case but screenshots only, where it must be left out.
        raise bad("clientRequest.recordingFileConfig", "is required unless the task takes screenshots only")
    prefix = validate_storage(cr, "clientRequest.storageConfig", required=True)
    spec.prefix = prefix or []
    return spec
