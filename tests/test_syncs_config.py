"""Sync definitions: loading and validation errors that name the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from syncs.config import SyncConfigError, load_sync_configs

VALID = {
    "description": "test sync",
    "model": "sync_file__abandoned_cart_intents",
    "mode": "insert",
    "primary_key": "intent_id",
    "destination": {"type": "file", "format": "csv"},
}


def write(directory: Path, name: str, body: dict | str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yml"
    path.write_text(body if isinstance(body, str) else yaml.safe_dump(body, sort_keys=False))
    return path


def load_error(tmp_path: Path, body: dict | str, name: str = "my_sync") -> str:
    path = write(tmp_path, name, body)
    with pytest.raises(SyncConfigError) as info:
        load_sync_configs(tmp_path)
    message = str(info.value)
    assert str(path) in message  # every error names the file
    return message


def test_project_definitions_load() -> None:
    configs = load_sync_configs()
    config = configs["abandoned_cart_email_file"]
    assert config.model == "sync_file__abandoned_cart_intents"
    assert config.schema == "syncs"
    assert config.mode == "insert"
    assert config.primary_key == "intent_id"
    assert config.destination.type == "file"
    assert config.destination.options["format"] == "csv"
    assert config.destination.options["folder"] == "abandoned_cart_email"
    assert config.destination.kind == "csv"
    assert config.channel == "email"


def test_defaults_and_fields_forms(tmp_path: Path) -> None:
    write(tmp_path, "a_list", VALID | {"fields": ["intent_id", "email"]})
    write(tmp_path, "b_map", VALID | {"fields": {"id": "intent_id", "address": "email"}, "tags": ["x"], "owner": "crm"})
    configs = load_sync_configs(tmp_path)
    assert list(configs) == ["a_list", "b_map"]
    a, b = configs["a_list"], configs["b_map"]
    assert a.fields == (("intent_id", "intent_id"), ("email", "email"))
    assert a.batch_size == 10_000 and a.schema == "syncs" and a.tags == () and a.owner is None
    assert b.fields == (("id", "intent_id"), ("address", "email"))
    assert b.tags == ("x",) and b.owner == "crm"
    assert a.destination.options["folder"] is None  # defaults to the sync name at run time


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"model": "x; drop table y"}, "model", "not a plain SQL identifier"),
        ({"schema": "syncs.other"}, "schema", "not a plain SQL identifier"),
        ({"primary_key": "intent id"}, "primary_key", "not a plain SQL identifier"),
        ({"fields": ["email", "x; drop table y"]}, "fields", "not a plain SQL identifier"),
        ({"fields": {"a": "email", "_kairos_x": "email"}}, "fields", "reserved"),
        ({"fields": []}, "fields", "must not be empty"),
        ({"mode": "merge"}, "mode", "unknown mode 'merge'"),
        ({"mode": "upsert", "destination": {"type": "fcm", "project_id": "my-app", "access_token_env": "X_TOKEN"}},
         "mode", "does not support mode 'upsert'"),
        ({"batch_size": 0}, "batch_size", "between 1 and"),
        ({"batch_size": "big"}, "batch_size", "between 1 and"),
        ({"channel": "E-Mail"}, "channel", "short lower-case name"),
        ({"tags": "email"}, "tags", "list of non-empty strings"),
        ({"colour": "blue"}, "colour", "unknown key"),
        ({"name": "other_name"}, "name", "must match the file name"),
        ({"destination": {"type": "carrier_pigeon"}}, "destination.type", "unknown destination type"),
        ({"destination": {"type": "file", "format": "xlsx"}}, "destination.format", "not one of"),
        ({"destination": {"type": "file", "folder": "../escape"}}, "destination.folder", "relative folder"),
        ({"destination": {"type": "file", "folder": "/abs"}}, "destination.folder", "relative folder"),
        ({"destination": {"type": "file", "bucket": "s3://x"}}, "destination.bucket", "unknown option"),
        ({"destination": "file"}, "destination", "must be a mapping"),
    ],
)
def test_invalid_field_is_named(tmp_path: Path, change: dict, field: str, words: str) -> None:
    message = load_error(tmp_path, VALID | change)
    assert f"{field}: " in message
    assert words in message


@pytest.mark.parametrize("missing", ["model", "mode", "primary_key", "destination"])
def test_missing_required_key(tmp_path: Path, missing: str) -> None:
    body = {k: v for k, v in VALID.items() if k != missing}
    message = load_error(tmp_path, body)
    assert f"{missing}: missing required key" in message


def test_all_errors_reported_at_once(tmp_path: Path) -> None:
    message = load_error(tmp_path, {"model": "bad name", "mode": "sideways", "destination": {"type": "file"}})
    assert "model: " in message and "mode: " in message and "primary_key: missing" in message


def test_bad_sync_name_and_bad_yaml(tmp_path: Path) -> None:
    assert "name: " in load_error(tmp_path / "a", VALID, name="Bad-Name")
    assert "not valid YAML" in load_error(tmp_path / "b", "model: [unclosed")
    assert "expected a mapping" in load_error(tmp_path / "c", "- just\n- a list\n")


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SyncConfigError, match="does not exist"):
        load_sync_configs(tmp_path / "nope")


def test_yaml_extension_is_not_silently_skipped(tmp_path: Path) -> None:
    (tmp_path / "my_sync.yaml").write_text(yaml.safe_dump(VALID))
    with pytest.raises(SyncConfigError, match="rename my_sync.yaml"):
        load_sync_configs(tmp_path)


# -- new keys (issue 5) ---------------------------------------------------------------------

def test_engine_options_and_defaults(tmp_path: Path) -> None:
    write(tmp_path, "plain", VALID)
    write(tmp_path, "tuned", VALID | {"mode": "mirror", "concurrency": 3, "alert_rejection_rate": 0.2,
                                      "commit_rows": 5000, "schedule": "*/15 * * * *"})
    write(tmp_path, "hook", VALID | {"mode": "upsert", "concurrency": 8, "rate_limit_per_second": 50,
                                     "trigger": "model_updated",
                                     "destination": {"type": "webhook", "url": "https://h.example.com/k",
                                                     "secret_env": "KAIROS_WEBHOOK_SECRET"}})
    configs = load_sync_configs(tmp_path)
    plain, tuned, hook = configs["plain"], configs["tuned"], configs["hook"]
    assert (plain.concurrency, plain.alert_rejection_rate, plain.commit_rows, plain.schedule) == (None, 0.05, 122_880, None)
    assert not plain.keeps_snapshot and tuned.keeps_snapshot
    assert (tuned.concurrency, tuned.alert_rejection_rate, tuned.commit_rows, tuned.schedule) == (3, 0.2, 5000,
                                                                                                  "*/15 * * * *")
    # top-level concurrency and rate limit size the API destination's pool and token bucket
    assert hook.destination.options["concurrency"] == 8 and hook.destination.options["rate_limit_per_second"] == 50
    assert hook.trigger == "model_updated"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"concurrency": 0}, "concurrency", "between 1 and 64"),
        ({"concurrency": "many"}, "concurrency", "between 1 and 64"),
        ({"alert_rejection_rate": 1.5}, "alert_rejection_rate", "between 0 and 1"),
        ({"commit_rows": 0}, "commit_rows", "between 1 and"),
        ({"rate_limit_per_second": -1}, "rate_limit_per_second", "positive number"),
        ({"rate_limit_per_second": 10}, "rate_limit_per_second", "has no rate limit"),  # files
        ({"schedule": "every hour"}, "schedule", "not a cron expression"),
        ({"trigger": "whenever"}, "trigger", "not one of"),
        ({"schedule": "@hourly", "trigger": "manual"}, "schedule", "not both"),
        ({"concurrency": 2, "destination": {"type": "webhook", "url": "https://h.example.com", "secret_env": "S",
                                            "concurrency": 4}}, "concurrency", "set it in one place"),
        ({"mode": "mirror", "destination": {"type": "twilio_sms", "account_sid_env": "A", "auth_token_env": "B",
                                            "from_number": "+15005550006"}}, "mode", "does not support mode"),
    ],
)
def test_invalid_engine_option_is_named(tmp_path: Path, change: dict, field: str, words: str) -> None:
    message = load_error(tmp_path, VALID | change)
    assert f"{field}: " in message and words in message


def test_every_api_destination_is_registered() -> None:
    from syncs.destinations.base import DESTINATION_TYPES, destination_class

    assert {"file", "feed", "webhook", "braze", "twilio_sms", "fcm", "meta_custom_audience",
            "google_customer_match"} <= set(DESTINATION_TYPES)
    for name in DESTINATION_TYPES:
        assert destination_class(name).type_name == name


def test_every_sync_has_a_dbt_exposure_and_vice_versa() -> None:
    """dbt_project/models/syncs/_syncs__exposures.yml lists exactly the declared syncs,
    each depending on the model it reads (regenerate: python -m syncs.cli --write-exposures)."""
    from syncs.config import EXPOSURES_PATH, render_exposures

    configs = load_sync_configs()
    document = yaml.safe_load(EXPOSURES_PATH.read_text())
    exposures = {e["name"]: e for e in document["exposures"]}
    assert set(exposures) == set(configs), "exposures out of date: run python -m syncs.cli --write-exposures"
    for name, config in configs.items():
        assert exposures[name]["depends_on"] == [f"ref('{config.model}')"]
        assert exposures[name]["config"]["meta"]["kairos_sync"]["destination"] == config.destination.type
    assert document == render_exposures(configs), "exposures out of date: run python -m syncs.cli --write-exposures"
