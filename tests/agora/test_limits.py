"""Agora's limits: pure validators (workflows.limits), raised by the REST client as its own error."""

from __future__ import annotations

import pytest

from agora.errors import RequestValidationError, refused_before_sending
from workflows import limits
from workflows.limits import LimitError


def test_uid_error_message_is_exactly_the_documented_one():
    """check_uid's message names the field, the value and the allowed range in the house wording."""
    with pytest.raises(LimitError) as info:
        limits.check_uid("0")
    assert str(info.value) == (
        "uid '0' is not allowed: a recorder uid is a decimal string for an integer in 1..4294967295"
    )
    assert info.value.field == "uid"


@pytest.mark.parametrize(("value", "expected"), [(1, "1"), ("42", "42"), ("007", "7"), (2**32 - 1, "4294967295")])
def test_uid_normalises(value, expected):
    """Valid uids come back as a canonical decimal string."""
    assert limits.check_uid(value) == expected


@pytest.mark.parametrize("value", ["0", 0, "4294967296", "-1", "", " 1", "1.0", "١٢", True, "abc"])
def test_uid_rejects(value):
    """Zero, out-of-range, signed, padded, non-ASCII digits and booleans are refused."""
    with pytest.raises(LimitError):
        limits.check_uid(value)


def test_cname_length_and_characters():
    """A 63-byte cname with documented punctuation passes; 64 bytes or '/' fails; web allows 1024 bytes."""
    assert limits.check_cname("a" * 63) == "a" * 63
    assert limits.check_cname("Class 1 !#$%&()+-:;<=.>?@[]^_{}|~,") is not None
    for bad in ("a" * 64, "a/b", "é", ""):
        with pytest.raises(LimitError):
            limits.check_cname(bad)
    assert limits.check_cname("https://x/y?z=1" + "a" * 1000, web=True)
    with pytest.raises(LimitError, match="1024"):
        limits.check_cname("a" * 1025, web=True)


def test_ranges():
    """Range validators accept the documented bounds and refuse one past them."""
    assert limits.check_max_idle_time(5) == 5
    assert limits.check_max_idle_time(2_592_000) == 2_592_000
    assert limits.check_resource_expired_hour(1) == 1
    assert limits.check_resource_expired_hour(720) == 720
    for fn, bad in (
        (limits.check_max_idle_time, 4),
        (limits.check_max_idle_time, 2_592_001),
        (limits.check_resource_expired_hour, 0),
        (limits.check_resource_expired_hour, 721),
    ):
        with pytest.raises(LimitError):
            fn(bad)


def test_file_name_prefix():
    """Prefix parts must be alphanumeric and total at most 128 characters with slashes."""
    assert limits.check_file_name_prefix(("rec", "2024")) == ["rec", "2024"]
    assert limits.check_file_name_prefix(["a" * 64, "b" * 63]) == ["a" * 64, "b" * 63]
    for bad in (["a" * 64, "b" * 64], ["a_b"], [""], "abc"):
        with pytest.raises(LimitError, match="fileNamePrefix"):
            limits.check_file_name_prefix(bad)


def test_the_client_raises_a_broken_limit_as_its_own_error_naming_the_operation():
    """Inside refused_before_sending, a LimitError becomes a RequestValidationError with the same field and text."""
    with pytest.raises(RequestValidationError) as info, refused_before_sending("acquire"):
        limits.check_uid("0")
    assert (info.value.field, info.value.operation) == ("uid", "acquire")
    assert str(info.value).startswith("uid '0' is not allowed")
