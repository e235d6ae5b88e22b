"""Predicted M3U8 names and file names read from query/stop answers."""

from __future__ import annotations

import pytest

from agora.errors import RequestValidationError
from agora.files import expected_m3u8_names, file_names, m3u8_names
from agora.models import ServerResponse

SID = "38f8e3cfdc474cd56fc1ceba380d7e1a"


def test_mix_name():
    """Mix mode predicts exactly <sid>_<cname>.m3u8, cname verbatim."""
    assert expected_m3u8_names(sid=SID, cname="room_1", mode="mix") == [f"{SID}_room_1.m3u8"]


@pytest.mark.parametrize(("stream_types", "tracks"), [(0, ["audio"]), (1, ["video"]), (2, ["audio", "video"])])
def test_individual_names_per_track(stream_types, tracks):
    """Individual mode gives one name per uid and recorded track, in uid then track order."""
    names = expected_m3u8_names(sid=SID, cname="room", mode="individual", uids=["5", "77"], stream_types=stream_types)
    assert names == [f"{SID}_room__uid_s_{uid}__uid_e_{t}.m3u8" for uid in ("5", "77") for t in tracks]


def test_web_replaces_documented_characters():
    """Web mode turns the documented special characters of the cname into '-'."""
    names = expected_m3u8_names(sid=SID, cname="a!b@c_d.e f", mode="web")
    assert names == [f"{SID}_a-b-c-d-e f.m3u8"]


def test_prefix_is_joined_in_front():
    """fileNamePrefix parts are joined with '/' in front of the name."""
    names = expected_m3u8_names(sid=SID, cname="room", mode="mix", file_name_prefix=["dir1", "dir2"])
    assert names == [f"dir1/dir2/{SID}_room.m3u8"]


def test_no_bak_names():
    """Failover names (bak<n>_) are never predicted."""
    names = expected_m3u8_names(sid=SID, cname="room", mode="individual", uids=["1"])
    assert all("bak" not in name for name in names)
    assert len(names) == 2


def test_bad_inputs_are_refused():
    """An empty sid, a bad uid or a bad prefix part raise RequestValidationError."""
    with pytest.raises(RequestValidationError, match="sid"):
        expected_m3u8_names(sid="", cname="room", mode="mix")
    with pytest.raises(RequestValidationError, match="uid"):
        expected_m3u8_names(sid=SID, cname="room", mode="individual", uids=["#allstream#"])
    with pytest.raises(RequestValidationError, match="fileNamePrefix"):
        expected_m3u8_names(sid=SID, cname="room", mode="mix", file_name_prefix=["a/b"])


def test_file_names_m3u8_first_order_kept():
    """file_names lists every name once, M3U8 first, keeping order within each group."""
    sr = ServerResponse.model_validate(
        {
            "fileListMode": "json",
            "fileList": [
                {"fileName": "s_c_0.mp4"},
                {"fileName": "s_c.m3u8"},
                {"fileName": "s_c_1.mp4"},
                {"fileName": "t.m3u8"},
            ],
        }
    )
    assert file_names(sr) == ["s_c.m3u8", "t.m3u8", "s_c_0.mp4", "s_c_1.mp4"]
    assert m3u8_names(sr) == ["s_c.m3u8", "t.m3u8"]


def test_file_names_from_string_and_web_shapes():
    """String fileList, empty string and web extensionServiceState all yield their names."""
    assert file_names(ServerResponse.model_validate({"fileList": "x.m3u8"})) == ["x.m3u8"]
    assert file_names(ServerResponse.model_validate({"fileList": ""})) == []
    web = ServerResponse.model_validate(
        {
            "extensionServiceState": [
                {
                    "serviceName": "web_recorder_service",
                    "payload": {"fileList": [{"filename": "w_0.mp4"}, {"filename": "w.m3u8"}]},
                }
            ]
        }
    )
    assert file_names(web) == ["w.m3u8", "w_0.mp4"]
    assert m3u8_names(web) == ["w.m3u8"]
