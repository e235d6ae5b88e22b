"""Recorded file names: predicted from the naming rules, and read from query/stop answers."""

from __future__ import annotations

from collections.abc import Sequence

from agora.errors import invalid, refused_before_sending
from agora.models import RecordingMode, ServerResponse
from workflows import limits

# Agora's file-naming page: in web mode these characters of the cname become "-" in file names.
WEB_CNAME_REPLACED = "!@#$%^&*()+_.=[]{}~|,;:?<>"
_WEB_TABLE = str.maketrans(dict.fromkeys(WEB_CNAME_REPLACED, "-"))


def _file_cname(cname: str, mode: RecordingMode) -> str:
    # The replacement is documented for web mode only, and the note is ambiguous about the other modes.
    # For individual and mix we keep the cname verbatim: that is the "<sid>_<cname>.m3u8" splicing recipe
    # Agora's best-practices page recommends for mix, and query/stop file lists remain the authority.
    return cname.translate(_WEB_TABLE) if mode == "web" else cname


def expected_m3u8_names(
    *,
    sid: str,
    cname: str,
    mode: RecordingMode,
    uids: Sequence[str] = (),
    stream_types: int = 2,
    file_name_prefix: Sequence[str] = (),
) -> list[str]:
    """The M3U8 object keys Agora writes for a session without failover (no bak<n>_ names)."""
    if not sid:
        raise invalid("sid", sid, "a non-empty sid returned by start")
    if stream_types not in (0, 1, 2):
        raise invalid("streamTypes", stream_types, "0 (audio), 1 (video) or 2 (both)")
    with refused_before_sending():
        limits.check_mode(mode)
        limits.check_cname(cname, web=mode == "web")
        prefix = "".join(f"{part}/" for part in limits.check_file_name_prefix(file_name_prefix))
        uid_names = [limits.check_uid(uid) for uid in uids]
    base = f"{prefix}{sid}_{_file_cname(cname, mode)}"
    if mode != "individual":
        return [f"{base}.m3u8"]
    tracks = [t for t, on in (("audio", stream_types in (0, 2)), ("video", stream_types in (1, 2))) if on]
    return [f"{base}__uid_s_{uid}__uid_e_{track}.m3u8" for uid in uid_names for track in tracks]


def file_names(server_response: ServerResponse) -> list[str]:
    """Every file name in any fileList shape (web payloads included), M3U8 first, order otherwise kept."""
    seen: dict[str, None] = {}
    states = server_response.extension_service_state or ()
    lists = [server_response.file_list, *(s.payload.file_list for s in states if s.payload is not None)]
    for file_list in lists:
        for info in file_list:
            if info.file_name:
                seen.setdefault(info.file_name, None)
    names = list(seen)
    return [n for n in names if n.endswith(".m3u8")] + [n for n in names if not n.endswith(".m3u8")]


def m3u8_names(server_response: ServerResponse) -> list[str]:
    """The M3U8 names in a query/stop answer, in order."""
    return [name for name in file_names(server_response) if name.endswith(".m3u8")]
