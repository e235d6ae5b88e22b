"""AccessToken2 RTC tokens: Agora's published vectors, round trips, signatures, expiry and validation."""

from __future__ import annotations

import base64
import time
import zlib

import pytest

from agora.tokens import (
    RTC_SERVICE_TYPE,
    ParsedToken,
    RtcPrivilege,
    RtcRole,
    build_rtc_token,
    parse_token,
    verify_token,
)

# Fixed inputs of Agora's published AccessToken2 tests
# (AgoraIO/Tools, DynamicKey/AgoraDynamicKey/python3/test/AccessToken2Test.py).
APP_ID = "970CA35de60c44645bbae8a215061b33"
APP_CERTIFICATE = "5CFd2fd1755d40ecb72977518be15d3b"
CHANNEL = "7d72365eb983485397e3e3f9d460bdda"
UID = 2882341273
EXPIRE = 600
SALT = 1
ISSUED_AT = 1111111

# The expected strings published for those inputs: join privilege only, for uid 2882341273 and for uid 0.
VECTOR_UID = (
    "007eJxTYBBbsMMnKq7p9Hf/HcIX5kce9b518kCiQgSr5Zrp4X1Tu6UUGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcw"
    "Mk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiVwMRhYWRsYmhkbmxgDCaiTj"
)
VECTOR_UID_0 = (
    "007eJxTYLhzZP08Lxa1Pg57+TcXb/3cZ3wi4V6kbpbOog0G2dOYk20UGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcw"
    "Mk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiQwMADacImo="
)
# Published multi-service token (RTC with all four privileges, RTM, streaming, RTNS, chat), same inputs.
VECTOR_MULTI_SERVICE = (
    "007eJxTYAh5UWu1drfhsnu9etvupS0v/iFs+3PC/Sbl8gdht55xSusqMFiaGzg7GpumpJoZJJuYmJmYJiUlplokGhmaGpg"
    "ZJhkbu38RYIhgYmBgZGBgYAWSLEAM4jOBSWYwyQImFRjMU8yNjM1MU5MsLYxNLEyNLc1TjVON0yxTTMwMklJSErkYjCwsj"
    "IxNDI3MjZmA5kBM4mQoSS0uiS8tTi1iZmBCMZ40I1mgToSYgCwDAGL1OcI="
)

OTHER_CERTIFICATE = "0123456789abcdef0123456789ABCDEF"


def _vector_token(uid: object = UID, **overrides: object) -> str:
    kwargs: dict[str, object] = {
        "app_id": APP_ID,
        "app_certificate": APP_CERTIFICATE,
        "channel": CHANNEL,
        "uid": uid,
        "token_expire_seconds": EXPIRE,
        "privilege_expire_seconds": EXPIRE,
        "issued_at": ISSUED_AT,
        "salt": SALT,
    }
    kwargs.update(overrides)
    return build_rtc_token(**kwargs)  # type: ignore[arg-type]


# --- the published vectors -------------------------------------------------------------------------------


def test_published_vector_for_integer_uid_reproduces_byte_for_byte() -> None:
    """A subscriber token for uid 2882341273 equals Agora's published string exactly."""
    assert _vector_token(UID) == VECTOR_UID


def test_published_vector_for_user_account_reproduces_byte_for_byte() -> None:
    """The uid given as the string "2882341273" yields the same published token as the integer."""
    assert _vector_token(str(UID)) == VECTOR_UID


def test_published_vector_for_uid_zero_reproduces_byte_for_byte() -> None:
    """Uid 0 is stored as an empty uid and yields Agora's published uid-0 token exactly."""
    assert _vector_token(0) == VECTOR_UID_0


def test_default_role_and_privilege_expiry_match_the_published_subscriber_vector() -> None:
    """Leaving role and privilege expiry at their defaults gives the join-only published token."""
    token = build_rtc_token(
        app_id=APP_ID,
        app_certificate=APP_CERTIFICATE,
        channel=CHANNEL,
        uid=UID,
        token_expire_seconds=EXPIRE,
        issued_at=ISSUED_AT,
        salt=SALT,
    )
    assert token == VECTOR_UID


def test_published_vector_parses_to_its_inputs() -> None:
    """Parsing Agora's published token recovers every input it was built from."""
    parsed = parse_token(VECTOR_UID)
    assert parsed.app_id == APP_ID
    assert parsed.issued_at == ISSUED_AT
    assert parsed.expire == EXPIRE
    assert parsed.salt == SALT
    assert parsed.channel == CHANNEL
    assert parsed.uid == str(UID)
    assert parsed.services == {RTC_SERVICE_TYPE: {RtcPrivilege.JOIN_CHANNEL: EXPIRE}}
    assert len(parsed.signature) == 32


def test_published_vectors_verify_with_the_published_certificate_only() -> None:
    """All published tokens, multi-service included, verify with their certificate and fail with another."""
    for token in (VECTOR_UID, VECTOR_UID_0, VECTOR_MULTI_SERVICE):
        assert verify_token(token, APP_CERTIFICATE) is True
        assert verify_token(token, OTHER_CERTIFICATE) is False


def test_multi_service_token_is_refused_by_the_rtc_parser_with_a_clear_error() -> None:
    """A token carrying services other than RTC is rejected by parse_token, naming the service type."""
    with pytest.raises(ValueError, match="service type 2 is not RTC"):
        parse_token(VECTOR_MULTI_SERVICE)


# --- roles, uids, round trips ----------------------------------------------------------------------------


def test_publisher_role_grants_all_four_rtc_privileges() -> None:
    """A publisher token carries join and the three publish privileges, each with its expiry."""
    token = _vector_token(UID, role=RtcRole.PUBLISHER, token_expire_seconds=900, privilege_expire_seconds=700)
    parsed = parse_token(token)
    assert parsed.services == {RTC_SERVICE_TYPE: {privilege: 700 for privilege in RtcPrivilege}}
    assert parsed.expire == 900
    assert verify_token(token, APP_CERTIFICATE) is True


def test_subscriber_role_grants_join_only() -> None:
    """A subscriber token (the recorder's) grants no publish privilege."""
    parsed = parse_token(_vector_token(UID, role=RtcRole.SUBSCRIBER))
    assert set(parsed.services[RTC_SERVICE_TYPE]) == {RtcPrivilege.JOIN_CHANNEL}
    assert parsed.privilege_expires_at(RtcPrivilege.PUBLISH_AUDIO_STREAM) is None


def test_round_trip_with_generated_salt_and_clock() -> None:
    """A token built with the default clock and random salt parses back to its inputs and verifies."""
    before = int(time.time())
    token = build_rtc_token(
        app_id=APP_ID,
        app_certificate=APP_CERTIFICATE,
        channel="room 42 ✓",
        uid="recorder-account",
        token_expire_seconds=7200,
    )
    after = int(time.time())
    parsed = parse_token(token)
    assert token.startswith("007")
    assert before <= parsed.issued_at <= after
    assert 1 <= parsed.salt <= 99_999_999
    assert parsed.channel == "room 42 ✓"
    assert parsed.uid == "recorder-account"
    assert verify_token(token, APP_CERTIFICATE) is True


def test_tokens_for_different_uids_differ_and_carry_their_own_uid() -> None:
    """The token for uid A differs from the token for uid B, and each names its own uid."""
    token_a = _vector_token(527841)
    token_b = _vector_token(527842)
    assert token_a != token_b
    assert parse_token(token_a).uid == "527841"
    assert parse_token(token_b).uid == "527842"


def test_random_salt_makes_each_token_unique() -> None:
    """Two tokens built for the same inputs and second still differ, because each gets a fresh salt."""
    tokens = {_vector_token(UID, salt=None) for _ in range(5)}
    assert len(tokens) == 5


# --- expiry ----------------------------------------------------------------------------------------------


def test_expiry_is_stored_as_seconds_from_issue_time() -> None:
    """A six-hour token expires six hours after its issue time, and its join privilege with it."""
    six_hours = 6 * 3600
    parsed = parse_token(_vector_token(UID, token_expire_seconds=six_hours, privilege_expire_seconds=None))
    assert parsed.expire == six_hours
    assert parsed.expires_at == ISSUED_AT + six_hours
    assert parsed.privilege_expires_at(RtcPrivilege.JOIN_CHANNEL) == ISSUED_AT + six_hours


def test_shorter_privilege_expiry_is_honoured() -> None:
    """A privilege expiry shorter than the token's is stored as given, separately from the token's."""
    parsed = parse_token(_vector_token(UID, token_expire_seconds=3600, privilege_expire_seconds=1800))
    assert parsed.expires_at == ISSUED_AT + 3600
    assert parsed.privilege_expires_at(RtcPrivilege.JOIN_CHANNEL) == ISSUED_AT + 1800


def test_expiry_is_covered_by_the_signature() -> None:
    """Stretching the expiry inside a signed token makes it fail verification."""
    packed = bytearray(zlib.decompress(base64.b64decode(VECTOR_UID[3:])))
    # uint16 signature length, 32-byte signature, uint16 app id length, app id, issued_at, then expire.
    expire_offset = 2 + 32 + 2 + len(APP_ID) + 4
    assert int.from_bytes(packed[expire_offset : expire_offset + 4], "little") == EXPIRE
    packed[expire_offset : expire_offset + 4] = (86_400).to_bytes(4, "little")
    tampered = "007" + base64.b64encode(zlib.compress(bytes(packed))).decode()
    assert parse_token(tampered).expire == 86_400
    assert verify_token(tampered, APP_CERTIFICATE) is False


# --- validation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"app_id": "970CA35de60c"}, "app_id must be 32 hexadecimal characters, got 12 characters"),
        ({"app_id": "z" * 32}, "app_id must be 32 hexadecimal characters"),
        ({"app_certificate": APP_CERTIFICATE[:-1]}, "app_certificate must be 32 hexadecimal characters"),
        ({"app_certificate": APP_CERTIFICATE[:-1] + "g"}, "app_certificate must be 32 hexadecimal"),
        ({"app_certificate": APP_CERTIFICATE[:16] + " " * 16}, "app_certificate must be 32 hexadecimal"),
        ({"token_expire_seconds": 0}, "token_expire_seconds must be greater than 0"),
        ({"token_expire_seconds": -5}, "token_expire_seconds must be greater than 0"),
        ({"token_expire_seconds": 2**32}, "token_expire_seconds must be greater than 0 and at most"),
        ({"privilege_expire_seconds": 0}, "privilege_expire_seconds must be greater than 0"),
        ({"privilege_expire_seconds": EXPIRE + 1}, "must not exceed token_expire_seconds"),
        ({"uid": -1}, "uid must be from 0 to 4294967295"),
        ({"uid": 2**32}, "uid must be from 0 to 4294967295"),
        ({"uid": ""}, "uid as a string"),
        ({"uid": "x" * 256}, "uid as a string"),
        ({"uid": 1.5}, "uid must be an int or a str"),
        ({"uid": True}, "uid must be an int or a str"),
        ({"channel": ""}, "channel must be a non-empty string"),
        ({"issued_at": -1}, "issued_at must be"),
        ({"salt": 0}, "salt must be an integer"),
    ],
)
def test_invalid_input_is_refused_with_a_clear_message_without_the_certificate(
    overrides: dict[str, object], message: str
) -> None:
    """Each invalid input raises ValueError naming the problem, and no message contains the certificate."""
    with pytest.raises(ValueError, match=message) as caught:
        _vector_token(**overrides)
    certificate = str(overrides.get("app_certificate", APP_CERTIFICATE))
    assert certificate not in str(caught.value)
    assert APP_CERTIFICATE not in str(caught.value)
    assert APP_CERTIFICATE[:16] not in str(caught.value)


def test_verify_refuses_a_malformed_certificate_without_echoing_it() -> None:
    """verify_token rejects a certificate that is not 32 hex characters, and the message omits it."""
    bad_certificate = "secret-but-not-hex-0123456789abc"
    with pytest.raises(ValueError, match="app_certificate must be 32 hexadecimal") as caught:
        verify_token(VECTOR_UID, bad_certificate)
    assert bad_certificate not in str(caught.value)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("006abc", "must start with '007'"),
        ("007not base64!", "not valid base64"),
        ("007" + base64.b64encode(b"plain bytes").decode(), "not zlib data"),
        ("007" + base64.b64encode(zlib.compress(b"\x20\x00short")).decode(), "truncated"),
        ("007" + base64.b64encode(zlib.compress(b"\x00" * 100_000)).decode(), "exceeds"),
    ],
)
def test_malformed_tokens_are_refused_by_parse_and_fail_verification(token: str, message: str) -> None:
    """A malformed token makes parse_token raise a clear ValueError and verify_token return False."""
    with pytest.raises(ValueError, match=message) as caught:
        parse_token(token)
    assert token not in str(caught.value)
    assert verify_token(token, APP_CERTIFICATE) is False


def test_trailing_bytes_after_the_services_are_refused() -> None:
    """Bytes left over after the last service make the token malformed rather than silently ignored."""
    packed = zlib.decompress(base64.b64decode(VECTOR_UID[3:])) + b"\x00"
    with pytest.raises(ValueError, match="unexpected bytes"):
        parse_token("007" + base64.b64encode(zlib.compress(packed)).decode())


def test_parsed_token_repr_omits_the_signature() -> None:
    """The parsed token's repr shows its fields but not the signature bytes."""
    parsed = parse_token(VECTOR_UID)
    assert isinstance(parsed, ParsedToken)
    assert "signature" not in repr(parsed)
    assert CHANNEL in repr(parsed)
