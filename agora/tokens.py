"""Agora RTC tokens (AccessToken2, version "007") for the recorder's own uid and channel.

With an App Certificate enabled, Cloud Recording's `start` needs an RTC token for the recorder uid. The token
cannot be renewed while the task runs, so it must be built to outlive the planned recording.

Byte layout (every integer little-endian; `bytes16` is a uint16 length followed by that many bytes):

    token     = "007" + base64(zlib(bytes16 signature + content))
    content   = bytes16 app_id + uint32 issued_at + uint32 expire + uint32 salt
                + uint16 service_count + service...
    service   = uint16 service_type + uint16 privilege_count + (uint16 privilege + uint32 expire)...
                + (RTC only) bytes16 channel + bytes16 uid
    key       = HMAC-SHA256(key=uint32 salt, msg=HMAC-SHA256(key=uint32 issued_at, msg=app_certificate))
    signature = HMAC-SHA256(key, content)

`expire` and every privilege expiry are durations in seconds counted from `issued_at`, not timestamps.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string
import struct
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType
from typing import TypeGuard

__all__ = [
    "RTC_SERVICE_TYPE",
    "TOKEN_VERSION",
    "ParsedToken",
    "RtcPrivilege",
    "RtcRole",
    "build_rtc_token",
    "parse_token",
    "verify_token",
]

TOKEN_VERSION = "007"
RTC_SERVICE_TYPE = 1

_UINT16_MAX = 0xFFFF
_UINT32_MAX = 0xFFFF_FFFF
# The published builder draws its salt from this range; any uint32 would verify, but staying inside it
# keeps our tokens indistinguishable from the reference ones.
_SALT_MAX = 99_999_999
# Agora limits a user account to 255 bytes.
_USER_ACCOUNT_MAX_BYTES = 255
# A real token is a few hundred bytes; refusing to inflate more than this stops a hostile token from
# turning a diagnostic call into a memory bomb.
_MAX_DECOMPRESSED_BYTES = 64 * 1024
_SIGNATURE_BYTES = hashlib.sha256().digest_size


class RtcRole(IntEnum):
    """What the uid may do in the channel; a recorder publishes nothing, so it is a subscriber."""

    PUBLISHER = 1
    SUBSCRIBER = 2


class RtcPrivilege(IntEnum):
    """Privileges of the RTC service, as numbered in AccessToken2."""

    JOIN_CHANNEL = 1
    PUBLISH_AUDIO_STREAM = 2
    PUBLISH_VIDEO_STREAM = 3
    PUBLISH_DATA_STREAM = 4


@dataclass(frozen=True)
class ParsedToken:
    """The readable content of an AccessToken2 token; building one never needs the certificate."""

    app_id: str
    issued_at: int
    expire: int
    salt: int
    services: Mapping[int, Mapping[int, int]]
    channel: str
    uid: str
    # Not secret, but of no use to a reader and noisy in logs.
    signature: bytes = field(repr=False)

    @property
    def expires_at(self) -> int:
        """Unix time after which Agora rejects the whole token."""
        return self.issued_at + self.expire

    def privilege_expires_at(self, privilege: RtcPrivilege) -> int | None:
        """Unix time at which an RTC privilege lapses, or None when the token does not grant it."""
        seconds = self.services.get(RTC_SERVICE_TYPE, {}).get(privilege)
        return None if seconds is None else self.issued_at + seconds


def build_rtc_token(
    *,
    app_id: str,
    app_certificate: str,
    channel: str,
    uid: str | int,
    token_expire_seconds: int,
    privilege_expire_seconds: int | None = None,
    role: RtcRole = RtcRole.SUBSCRIBER,
    issued_at: int | None = None,
    salt: int | None = None,
) -> str:
    """AccessToken2 RTC token for uid in channel; SUBSCRIBER grants join only (recorders publish nothing)."""
    _check_hex32("app_id", app_id)
    _check_hex32("app_certificate", app_certificate)
    channel_bytes = _channel_bytes(channel)
    uid_bytes = _uid_bytes(uid)
    _check_seconds("token_expire_seconds", token_expire_seconds)
    if privilege_expire_seconds is None:
        privilege_expire_seconds = token_expire_seconds
    _check_seconds("privilege_expire_seconds", privilege_expire_seconds)
    if privilege_expire_seconds > token_expire_seconds:
        # Agora caps every privilege at the token's own expiry, so a longer one only misleads the reader.
        raise ValueError(
            f"privilege_expire_seconds ({privilege_expire_seconds}) must not exceed "
            f"token_expire_seconds ({token_expire_seconds})"
        )
    role = RtcRole(role)
    if issued_at is None:
        issued_at = int(time.time())
    elif not _is_int(issued_at) or not 0 <= issued_at <= _UINT32_MAX:
        raise ValueError(f"issued_at must be a Unix time in seconds that fits in 32 bits, got {issued_at!r}")
    if salt is None:
        salt = secrets.randbelow(_SALT_MAX) + 1
    elif not _is_int(salt) or not 1 <= salt <= _UINT32_MAX:
        raise ValueError(f"salt must be an integer from 1 to {_UINT32_MAX}, got {salt!r}")

    privileges = [RtcPrivilege.JOIN_CHANNEL]
    if role is RtcRole.PUBLISHER:
        privileges += [
            RtcPrivilege.PUBLISH_AUDIO_STREAM,
            RtcPrivilege.PUBLISH_VIDEO_STREAM,
            RtcPrivilege.PUBLISH_DATA_STREAM,
        ]
    rtc_service = (
        _u16(RTC_SERVICE_TYPE)
        + _privilege_map({p: privilege_expire_seconds for p in privileges})
        + _bytes16(channel_bytes)
        + _bytes16(uid_bytes)
    )
    content = (
        _bytes16(app_id.encode("ascii"))
        + _u32(issued_at)
        + _u32(token_expire_seconds)
        + _u32(salt)
        + _u16(1)
        + rtc_service
    )
    signature = _sign(app_certificate, issued_at, salt, content)
    packed = _bytes16(signature) + content
    return TOKEN_VERSION + base64.b64encode(zlib.compress(packed)).decode("ascii")


def parse_token(token: str) -> ParsedToken:
    """Decode a "007" token's content (for tests and diagnostics); the signature is read, not checked."""
    return _decode(token)


def verify_token(token: str, app_certificate: str) -> bool:
    """Whether token was signed with app_certificate; a malformed token is simply not valid."""
    _check_hex32("app_certificate", app_certificate)
    # Only the header is read: the signature covers whatever services follow, known to us or not.
    try:
        reader = _Reader(_inflate(token))
        signature = reader.bytes16()
        content = reader.rest()
        header = _Reader(content)
        header.bytes16()
        issued_at = header.u32()
        header.u32()
        salt = header.u32()
    except ValueError:
        return False
    if len(signature) != _SIGNATURE_BYTES:
        return False
    return hmac.compare_digest(_sign(app_certificate, issued_at, salt, content), signature)


# --- signing ---------------------------------------------------------------------------------------------


def _sign(app_certificate: str, issued_at: int, salt: int, content: bytes) -> bytes:
    # The certificate's hex text, exactly as given (case included), is the HMAC input, not its decoded bytes.
    key = hmac.digest(_u32(issued_at), app_certificate.encode("ascii"), "sha256")
    key = hmac.digest(_u32(salt), key, "sha256")
    return hmac.digest(key, content, "sha256")


# --- validation (messages name the problem, never the certificate) -------------------------------------


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_hex32(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string of 32 hexadecimal characters, got {type(value).__name__}")
    if len(value) != 32:
        raise ValueError(f"{name} must be 32 hexadecimal characters, got {len(value)} characters")
    # Checked by hand: bytes.fromhex would let spaces through.
    if not all(c in string.hexdigits for c in value):
        raise ValueError(f"{name} must be 32 hexadecimal characters, got a non-hexadecimal character")


def _check_seconds(name: str, value: object) -> None:
    if not _is_int(value):
        raise ValueError(f"{name} must be an integer number of seconds, got {type(value).__name__}")
    if not 0 < value <= _UINT32_MAX:
        raise ValueError(f"{name} must be greater than 0 and at most {_UINT32_MAX}, got {value}")


def _channel_bytes(channel: object) -> bytes:
    if not isinstance(channel, str) or not channel:
        raise ValueError("channel must be a non-empty string")
    encoded = channel.encode("utf-8")
    if len(encoded) > _UINT16_MAX:
        raise ValueError(f"channel must be at most {_UINT16_MAX} bytes in UTF-8, got {len(encoded)}")
    return encoded


def _uid_bytes(uid: object) -> bytes:
    """The uid as the token stores it: a decimal string, or empty for uid 0 (any uid may join)."""
    if _is_int(uid):
        if not 0 <= uid <= _UINT32_MAX:
            raise ValueError(f"uid must be from 0 to {_UINT32_MAX} (a 32-bit unsigned integer), got {uid}")
        return b"" if uid == 0 else str(uid).encode("ascii")
    if isinstance(uid, str):
        # A string is a user account, stored verbatim; a numeric one such as the recorder's "527841"
        # therefore gives the same token as the integer uid.
        encoded = uid.encode("utf-8")
        if not 0 < len(encoded) <= _USER_ACCOUNT_MAX_BYTES:
            raise ValueError(
                f"uid as a string (user account) must be 1 to {_USER_ACCOUNT_MAX_BYTES} bytes in UTF-8, "
                f"got {len(encoded)}"
            )
        return encoded
    raise ValueError(f"uid must be an int or a str, got {type(uid).__name__}")


# --- packing ---------------------------------------------------------------------------------------------


def _u16(value: int) -> bytes:
    return struct.pack("<H", value)


def _u32(value: int) -> bytes:
    return struct.pack("<I", value)


def _bytes16(data: bytes) -> bytes:
    return _u16(len(data)) + data


def _privilege_map(privileges: Mapping[int, int]) -> bytes:
    # Privileges are packed in ascending order of their number, as the reference builder does.
    return _u16(len(privileges)) + b"".join(_u16(p) + _u32(privileges[p]) for p in sorted(privileges))


class _Reader:
    """Reads the packed fields back, with one clear error for any truncation."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def _take(self, size: int) -> bytes:
        end = self._pos + size
        if end > len(self._data):
            raise ValueError("malformed AccessToken2 token: content is truncated")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def u16(self) -> int:
        value: int = struct.unpack("<H", self._take(2))[0]
        return value

    def u32(self) -> int:
        value: int = struct.unpack("<I", self._take(4))[0]
        return value

    def bytes16(self) -> bytes:
        return self._take(self.u16())

    def text16(self) -> str:
        try:
            return self.bytes16().decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("malformed AccessToken2 token: a text field is not UTF-8") from None

    def rest(self) -> bytes:
        return self._take(len(self._data) - self._pos)

    def at_end(self) -> bool:
        return self._pos == len(self._data)


def _inflate(token: object) -> bytes:
    """The packed bytes inside a "007" token; errors never echo the token."""
    if not isinstance(token, str) or not token.startswith(TOKEN_VERSION):
        raise ValueError(f"not an AccessToken2 token: it must start with {TOKEN_VERSION!r}")
    try:
        compressed = base64.b64decode(token[len(TOKEN_VERSION) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("malformed AccessToken2 token: body is not valid base64") from None
    inflater = zlib.decompressobj()
    try:
        packed = inflater.decompress(compressed, _MAX_DECOMPRESSED_BYTES)
    except zlib.error:
        raise ValueError("malformed AccessToken2 token: body is not zlib data") from None
    if inflater.unconsumed_tail:
        raise ValueError(f"malformed AccessToken2 token: content exceeds {_MAX_DECOMPRESSED_BYTES} bytes")
    if not inflater.eof:
        raise ValueError("malformed AccessToken2 token: zlib data is truncated")
    return packed


def _decode(token: str) -> ParsedToken:
    """The fields of an RTC-only token; errors never echo the token."""
    reader = _Reader(_inflate(token))
    signature = reader.bytes16()
    try:
        app_id = reader.bytes16().decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("malformed AccessToken2 token: app id is not ASCII") from None
    issued_at = reader.u32()
    expire = reader.u32()
    salt = reader.u32()
    services: dict[int, Mapping[int, int]] = {}
    channel = ""
    uid = ""
    for _ in range(reader.u16()):
        service_type = reader.u16()
        # Each service type has its own trailing fields and no length prefix, so an unknown one cannot
        # be skipped; the recorder only ever deals in RTC tokens.
        if service_type != RTC_SERVICE_TYPE:
            raise ValueError(f"unsupported AccessToken2 token: service type {service_type} is not RTC")
        if service_type in services:
            raise ValueError("malformed AccessToken2 token: the RTC service appears twice")
        privileges: dict[int, int] = {}
        for _ in range(reader.u16()):
            privilege = reader.u16()
            privileges[privilege] = reader.u32()
        services[service_type] = MappingProxyType(privileges)
        channel = reader.text16()
        uid = reader.text16()
    if not reader.at_end():
        raise ValueError("malformed AccessToken2 token: unexpected bytes after the last service")
    return ParsedToken(
        app_id=app_id,
        issued_at=issued_at,
        expire=expire,
        salt=salt,
        services=MappingProxyType(services),
        channel=channel,
        uid=uid,
        signature=signature,
    )
