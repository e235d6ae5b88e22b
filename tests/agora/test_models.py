"""Wire models: request serialisation and lenient response parsing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agora.models import (
    AcquireClientRequest,
    FileInfo,
    QueryResponse,
    RecordingConfig,
    ServerResponse,
    StartResponse,
    StopResponse,
    StorageConfig,
    UpdateClientRequest,
)


def test_recording_config_sends_unsubscribe_spelling_and_accepts_both():
    """Deny-lists serialise as unSubscribe… and the unsubscribe… spelling is accepted on input."""
    config = RecordingConfig.model_validate({"unsubscribeAudioUids": ["5"], "subscribeVideoUids": ["#allstream#"]})
    wire = config.to_wire()
    assert wire["unSubscribeAudioUids"] == ["5"]
    assert wire["subscribeVideoUids"] == ["#allstream#"]
    assert wire["maxIdleTime"] == 30
    assert "unsubscribeAudioUids" not in wire


def test_request_models_are_frozen():
    """Request models cannot be mutated after validation."""
    config = RecordingConfig()
    with pytest.raises(ValidationError):
        config.max_idle_time = 60  # type: ignore[misc]


def test_acquire_defaults_on_the_wire():
    """An empty acquire request sends scene 0 and resourceExpiredHour 72 only."""
    assert AcquireClientRequest().to_wire() == {"scene": 0, "resourceExpiredHour": 72}


def test_model_level_error_does_not_echo_storage_keys():
    """A model-level validation error on StorageConfig does not print the keys it was given."""
    with pytest.raises(ValidationError) as info:
        StorageConfig(vendor=11, region=0, bucket="b", access_key="AKIAWIREKEY", secret_key="WIRESECRET99")
    assert "extensionParams.endpoint" in str(info.value)
    assert "AKIAWIREKEY" not in str(info.value)
    assert "WIRESECRET99" not in str(info.value)


def test_update_storage_config_is_a_valid_update():
    """An update carrying only a refreshed storageConfig (new stsToken) reveals it on the wire."""
    storage = StorageConfig(
        vendor=1,
        region=0,
        bucket="b",
        access_key="AKIAWIREKEY",
        secret_key="WIRESECRET99",
        sts_token="STSTOKEN1",
    )
    wire = UpdateClientRequest(storage_config=storage).to_wire()
    assert wire["storageConfig"]["stsToken"] == "STSTOKEN1"


# -- responses --------------------------------------------------------------------------------------------


def test_file_list_as_plain_string():
    """Mix HLS-only: fileList "<sid>_<cname>.m3u8" becomes one FileInfo."""
    sr = ServerResponse.model_validate({"fileListMode": "string", "fileList": "sid1_room.m3u8", "status": 5})
    assert [f.file_name for f in sr.file_list] == ["sid1_room.m3u8"]
    assert sr.status == 5


@pytest.mark.parametrize("value", ["", None])
def test_file_list_empty_string_or_null(value):
    """An empty-string or null fileList (no slice yet) becomes an empty list."""
    assert ServerResponse.model_validate({"fileListMode": "string", "fileList": value}).file_list == []


def test_file_list_missing():
    """A serverResponse without fileList (individual with screenshots) has an empty list."""
    sr = ServerResponse.model_validate({"status": 5, "sliceStartTime": 1619172632821})
    assert sr.file_list == []
    assert sr.slice_start_time == 1619172632821


def test_file_list_json_individual():
    """Individual json fileList keeps every documented field, with an int uid coerced to str."""
    sr = ServerResponse.model_validate(
        {
            "fileListMode": "json",
            "fileList": [
                {
                    "fileName": "s_c__uid_s_5__uid_e_audio.m3u8",
                    "trackType": "audio",
                    "uid": 5,
                    "mixedAllUser": False,
                    "isPlayable": True,
                    "sliceStartTime": 1619172632821,
                }
            ],
        }
    )
    (info,) = sr.file_list
    assert info == FileInfo(
        file_name="s_c__uid_s_5__uid_e_audio.m3u8",
        track_type="audio",
        uid="5",
        mixed_all_user=False,
        is_playable=True,
        slice_start_time=1619172632821,
    )


def test_web_extension_service_state_with_filename():
    """Web stop: the web recorder's `filename` list is folded into file_list and uploadingStatus lifted."""
    sr = ServerResponse.model_validate(
        {
            "extensionServiceState": [
                {"serviceName": "upload_service", "payload": {"uploadingStatus": "uploaded"}},
                {
                    "serviceName": "web_recorder_service",
                    "payload": {
                        "fileList": [
                            {"filename": "sid_web.m3u8", "sliceStartTime": 1},
                            {"filename": "sid_web_0.mp4", "sliceStartTime": 1},
                        ],
                        "onhold": False,
                        "state": "exit",
                    },
                },
            ]
        }
    )
    assert [f.file_name for f in sr.file_list] == ["sid_web.m3u8", "sid_web_0.mp4"]
    assert sr.uploading_status == "uploaded"
    assert sr.extension_service_state is not None
    assert sr.extension_service_state[1].payload is not None
    assert sr.extension_service_state[1].payload.state == "exit"


def test_extra_fields_are_kept_and_missing_fields_are_none():
    """Unknown fields are tolerated on responses; file entries without optional fields parse."""
    sr = ServerResponse.model_validate(
        {"status": 5, "newField": {"x": 1}, "fileList": [{"fileName": "a.m3u8", "futureField": 1}, {}]}
    )
    assert sr.model_extra == {"newField": {"x": 1}}
    assert sr.file_list[0].file_name == "a.m3u8"
    assert sr.file_list[0].track_type is None
    assert sr.file_list[1].file_name is None
    assert sr.sub_service_status is None


def test_query_response_with_and_without_echoed_fields():
    """Query parses both the current shape (cname, uid echoed) and the older one (sid, resourceId only)."""
    full = QueryResponse.model_validate(
        {"cname": "c", "uid": "9", "resourceId": "r", "sid": "s", "serverResponse": {"status": 4}}
    )
    assert (full.cname, full.uid, full.server_response.status) == ("c", "9", 4)
    old = QueryResponse.model_validate({"resourceId": "r", "sid": "s", "serverResponse": {"status": 5}})
    assert old.cname is None


def test_stop_response_with_screenshots_only_uploading_status():
    """A stop answer with only uploadingStatus parses with an empty file list."""
    stop = StopResponse.model_validate(
        {"sid": "s", "resourceId": "r", "serverResponse": {"uploadingStatus": "backuped"}}
    )
    assert stop.server_response.uploading_status == "backuped"
    assert stop.server_response.file_list == []


def test_start_response_requires_a_sid():
    """StartResponse refuses an empty or missing sid."""
    for body in ({"resourceId": "r"}, {"resourceId": "r", "sid": ""}):
        with pytest.raises(ValidationError):
            StartResponse.model_validate(body)
