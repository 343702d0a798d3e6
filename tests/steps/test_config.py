import os

import pytest

from steps.core.config import Config, get_config, override_config, set_config


def test_defaults_from_empty_environment():
    config = Config.from_env({})
    assert config.token_issuer == "stepauth"
    assert config.token_audience == "stepauth-api"
    assert config.access_token_ttl_seconds == 900
    assert config.refresh_token_ttl_seconds == 2_592_000
    assert (config.argon2_memory_kib, config.argon2_time_cost, config.argon2_parallelism) == (
        19_456,
        2,
        1,
    )
    assert (config.password_min_length, config.password_max_length) == (15, 128)
    assert config.service_name == "stepauth"
    assert config.max_body_bytes == 16_384


def test_values_read_from_environment():
    config = Config.from_env(
        {
            "TABLE_NAME": "users",
            "SIGNING_KEYS_SECRET_ID": "arn:aws:secretsmanager:eu-west-1:1:secret:k",
            "ACCESS_TOKEN_TTL_SECONDS": " 600 ",
            "PASSWORD_MIN_LENGTH": "12",
            "TOKEN_ISSUER": "https://auth.example.com",
        }
    )
    assert config.required_table_name == "users"
    assert config.required_signing_keys_secret_id.startswith("arn:")
    assert config.access_token_ttl_seconds == 600
    assert config.password_min_length == 12
    assert config.token_issuer == "https://auth.example.com"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"ACCESS_TOKEN_TTL_SECONDS": "15m"}, "ACCESS_TOKEN_TTL_SECONDS"),
        ({"ACCESS_TOKEN_TTL_SECONDS": "0"}, "ACCESS_TOKEN_TTL_SECONDS"),
        ({"PASSWORD_MIN_LENGTH": "7"}, "PASSWORD_MIN_LENGTH"),
        ({"PASSWORD_MAX_LENGTH": "63"}, "PASSWORD_MAX_LENGTH"),
        ({"PASSWORD_MIN_LENGTH": "80", "PASSWORD_MAX_LENGTH": "70"}, "PASSWORD_MAX_LENGTH"),
        ({"ARGON2_MEMORY_KIB": "4"}, "ARGON2_MEMORY_KIB"),
        ({"ARGON2_TIME_COST": "0"}, "ARGON2_TIME_COST"),
        ({"ARGON2_PARALLELISM": "x"}, "ARGON2_PARALLELISM"),
        ({"MAX_BODY_BYTES": "10"}, "MAX_BODY_BYTES"),
    ],
)
def test_bad_values_name_the_variable(env, variable):
    with pytest.raises(ValueError, match=variable):
        Config.from_env(env)


def test_required_values_raise_only_at_use():
    config = Config.from_env({})
    with pytest.raises(ValueError, match="TABLE_NAME"):
        _ = config.required_table_name
    with pytest.raises(ValueError, match="SIGNING_KEYS_SECRET_ID"):
        _ = config.required_signing_keys_secret_id


def test_override_and_reset(monkeypatch):
    base = get_config()
    with override_config(access_token_ttl_seconds=60) as changed:
        assert get_config() is changed
        assert changed.access_token_ttl_seconds == 60
        assert changed.table_name == base.table_name
    assert get_config() is base
    with (
        pytest.raises(ValueError, match="PASSWORD_MIN_LENGTH"),
        override_config(password_min_length=4),
    ):
        pass
    monkeypatch.setenv("TABLE_NAME", "from-env")
    set_config(None)
    assert get_config().table_name == "from-env"
    assert get_config() is get_config()  # cached


def test_environment_is_re_read_when_it_changes(monkeypatch):
    set_config(None)
    monkeypatch.setenv("TABLE_NAME", "first")
    assert get_config().table_name == "first"
    monkeypatch.setenv("TABLE_NAME", "second")
    monkeypatch.setenv("ACCESS_TOKEN_TTL_SECONDS", "120")
    config = get_config()
    assert (config.table_name, config.access_token_ttl_seconds) == ("second", 120)
    monkeypatch.setenv("PASSWORD_MIN_LENGTH", "3")
    with pytest.raises(ValueError, match="PASSWORD_MIN_LENGTH"):
        get_config()


def test_refresh_reuse_grace():
    assert Config.from_env({}).refresh_reuse_grace_seconds == 10
    assert (
        Config.from_env({"REFRESH_REUSE_GRACE_SECONDS": "300"}).refresh_reuse_grace_seconds == 300
    )
    for bad in ("-1", "301", "soon"):
        with pytest.raises(ValueError, match="REFRESH_REUSE_GRACE_SECONDS"):
            Config.from_env({"REFRESH_REUSE_GRACE_SECONDS": bad})


def test_environment_change_seen_however_it_is_made(monkeypatch):
    """The cheap snapshot (os.environ's encoded store) sees every way a variable changes."""
    from unittest import mock

    set_config(None)
    monkeypatch.setenv("TABLE_NAME", "one")
    assert get_config().table_name == "one"
    os.environ["TABLE_NAME"] = "two"
    assert get_config().table_name == "two"
    with mock.patch.dict(os.environ, {"TABLE_NAME": "three", "ACCESS_TOKEN_TTL_SECONDS": "90"}):
        assert (get_config().table_name, get_config().access_token_ttl_seconds) == ("three", 90)
    assert (get_config().table_name, get_config().access_token_ttl_seconds) == ("two", 900)
    monkeypatch.delenv("TABLE_NAME")
    assert get_config().table_name == ""
    monkeypatch.setenv("TABLE_NAME", "zürich-tables")  # not ASCII: compared as encoded bytes
    assert get_config().table_name == "zürich-tables"


def test_every_configuration_variable_is_in_the_snapshot(monkeypatch):
    from steps.core.config import ENV_VARS, _env_snapshot

    for name in ENV_VARS.values():
        before = _env_snapshot()
        monkeypatch.setenv(name, "a value no default has")
        assert _env_snapshot() != before, name
