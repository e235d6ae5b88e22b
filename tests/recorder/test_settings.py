"""The product's settings: clear errors that name the variable, secrets never shown, a .env file read for all."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorder.settings import SettingsError, load_settings

BASE = {"app_id": "a" * 32, "customer_id": "cust", "customer_secret": "s3cret-customer", "_env_file": None}


def test_missing_credentials_are_named(monkeypatch: pytest.MonkeyPatch):
    """Missing AGORA_CUSTOMER_ID and AGORA_CUSTOMER_SECRET are both named in one error."""
    for name in ("AGORA_CUSTOMER_ID", "AGORA_CUSTOMER_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SettingsError) as exc:
        load_settings(app_id="x", _env_file=None)
    assert "AGORA_CUSTOMER_ID is missing" in str(exc.value)
    assert "AGORA_CUSTOMER_SECRET is missing" in str(exc.value)


def test_certificate_needs_a_hex_app_id_and_never_echoes_itself():
    """With a certificate, a non-hex App ID or a malformed certificate is refused, never showing the certificate."""
    with pytest.raises(SettingsError) as exc:
        load_settings(**{**BASE, "app_id": "not-hex", "app_certificate": "b" * 32})
    assert "AGORA_APP_ID" in str(exc.value) and "b" * 32 not in str(exc.value)
    with pytest.raises(SettingsError) as exc:
        load_settings(**{**BASE, "app_certificate": "zz-secret-cert"})
    assert "32 hex" in str(exc.value) and "zz-secret-cert" not in str(exc.value)


def test_storage_profile_from_single_variables_and_json():
    """AGORA_STORAGE_* make the 'default' profile; AGORA_STORAGE_PROFILES adds named ones; a half profile is refused."""
    s = load_settings(
        **BASE,
        storage_vendor=1,
        storage_bucket="b",
        storage_access_key="ak-1",
        storage_secret_key="sk-1",
        storage_profiles='{"eu": {"vendor": 1, "region": 3, "bucket": "e", "access_key": "ak-2", "secret_key": "sk-2"}}',  # noqa: E501
    )
    assert sorted(s.profiles()) == ["default", "eu"]
    assert {"s3cret-customer", "ak-1", "sk-1", "ak-2", "sk-2"} <= set(s.secrets())
    assert "sk-1" not in repr(s) and "s3cret-customer" not in repr(s)
    with pytest.raises(SettingsError) as exc:
        load_settings(**BASE, storage_bucket="b").profiles()
    assert "AGORA_STORAGE_VENDOR" in str(exc.value)
    with pytest.raises(SettingsError) as exc:
        load_settings(**BASE, storage_profiles="{not json")
    assert "AGORA_STORAGE_PROFILES is not valid JSON" in str(exc.value)


def test_a_dotenv_file_sets_recorder_values_and_the_log_level(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """RECORDER_* and LOG_LEVEL are read from .env like AGORA_*, and a variable in the environment wins over it."""
    for name in ("RECORDER_TASK_QUEUE", "RECORDER_UID", "RECORDER_CACHED_RECORDINGS", "LOG_LEVEL", "AGORA_APP_ID"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text(
        "AGORA_APP_ID=app-from-dotenv\nRECORDER_TASK_QUEUE=queue-from-dotenv\nRECORDER_UID=527841\n"
        "RECORDER_CACHED_RECORDINGS=321\nLOG_LEVEL=debug\n"
    )
    monkeypatch.chdir(tmp_path)
    s = load_settings(require=())
    assert (s.app_id, s.task_queue, s.uid, s.cached_recordings, s.log_level) == (
        "app-from-dotenv",
        "queue-from-dotenv",
        "527841",
        321,
        "DEBUG",
    )
    monkeypatch.setenv("RECORDER_TASK_QUEUE", "queue-from-environment")
    assert load_settings(require=()).task_queue == "queue-from-environment"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ncs-secret-only-one", ["ncs-secret-only-one"]),
        (" ncs-secret-new , ncs-secret-old ", ["ncs-secret-new", "ncs-secret-old"]),
        ("", []),
        (" , ", []),
    ],
    ids=["one", "two-with-spaces", "empty", "only-separators"],
)
def test_ncs_secrets_are_comma_separated_and_kept_secret(
    value: str, expected: list[str], monkeypatch: pytest.MonkeyPatch
):
    """AGORA_NCS_SECRET gives one secret, or several trimmed ones for a rotation, or none when empty; each is masked in
    the settings' repr and listed among the secrets the logs scrub."""
    monkeypatch.setenv("AGORA_NCS_SECRET", value)
    s = load_settings(require=(), _env_file=None)
    assert [secret.get_secret_value() for secret in s.ncs_secrets] == expected
    assert set(expected) <= set(s.secrets())
    assert not any(secret in repr(s) for secret in expected)


def test_the_ncs_path_defaults_to_agora_ncs_and_a_bad_one_is_one_line(monkeypatch: pytest.MonkeyPatch):
    """RECORDER_NCS_PATH defaults to /agora/ncs, takes another absolute path, and refuses anything else by name."""
    monkeypatch.delenv("RECORDER_NCS_PATH", raising=False)
    assert load_settings(require=(), _env_file=None).ncs_path == "/agora/ncs"
    monkeypatch.setenv("RECORDER_NCS_PATH", "/hooks/agora-ncs.v2")
    assert load_settings(require=(), _env_file=None).ncs_path == "/hooks/agora-ncs.v2"
    for bad in ("agora/ncs", "/", "/agora/ncs/", "/agora/ncs?x=1", "/agora ncs", "https://example.com/ncs"):
        monkeypatch.setenv("RECORDER_NCS_PATH", bad)
        with pytest.raises(SettingsError) as exc:
            load_settings(require=(), _env_file=None)
        assert str(exc.value) == (
            f"settings: RECORDER_NCS_PATH must be an absolute URL path such as /agora/ncs, got {bad!r}"
        )
