"""Identity resolution: the accuracy report (pure), stitching on the generated
shop against the generator's ground truth, key stability, and a merge of two
existing customers followed by everything downstream.

The dbt-level edge cases (shared device, blocked values, a chain longer than
naive propagation converges on, two existing customers merged by a new link,
splits) are dbt unit tests in
``dbt_project/models/intermediate/identity/_identity__models.yml``.
"""

from __future__ import annotations

import json

import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from kairos.dbt import run_dbt
from kairos.identity_report import evaluate
from kairos.warehouse import connect

from test_dbt_models import END, VARS, Build, shared_build  # the session's shared builds

# --------------------------------------------------------------------------- the report, pure


def _truth(rows):
    return pd.DataFrame(
        rows, columns=["identifier_type", "normalised_value", "person_id", "is_shared", "owner_person_id", "identifier_kind"]
    )


def _stitched(rows):
    frame = pd.DataFrame(rows, columns=["identifier_type", "identifier_value", "customer_key"])
    frame["is_shared_identifier"] = frame["customer_key"].isna()
    frame["is_blocked_identifier"] = False
    return frame


TRUTH = _truth(
    [
        ("customer_id", "c1", "P1", False, "P1", "customer_id"),
        ("email", "a@x.de", "P1", False, "P1", "email_primary"),
        # two raw spellings of one address: one identifier after normalisation
        ("email", "a@x.de", "P1", False, "P1", "email_primary"),
        ("anonymous_id", "cookie-1", "P1", False, "P1", "web_cookie"),
        ("customer_id", "c2", "P2", False, "P2", "customer_id"),
        ("email", "b@x.de", "P2", False, "P2", "email_primary"),
        # a family tablet: no single person, left out of the pairs
        ("anonymous_id", "tablet", None, True, "P1", "family_tablet"),
    ]
)


def test_report_perfect_stitching() -> None:
    stitched = _stitched(
        [
            ("customer_id", "c1", "k1"),
            ("email", "a@x.de", "k1"),
            ("anonymous_id", "cookie-1", "k1"),
            ("customer_id", "c2", "k2"),
            ("email", "b@x.de", "k2"),
            ("anonymous_id", "tablet", None),
        ]
    )
    report = evaluate(stitched, TRUTH)
    # P1 has 3 identifiers (3 pairs), P2 has 2 (1 pair)
    assert report["true_pairs"] == 4 and report["predicted_pairs"] == 4 and report["true_positive_pairs"] == 4
    assert report["pairwise_precision"] == 1.0 and report["pairwise_recall"] == 1.0 and report["pairwise_f1"] == 1.0
    assert report["identifiers_evaluated"] == 5
    assert report["shared_identifiers"]["truly_shared_seen"] == 1
    assert report["shared_identifiers"]["truly_shared_and_flagged"] == 1
    assert report["persons_split_over_several_keys"] == 0 and report["keys_mixing_several_persons"] == 0


def test_report_counts_a_wrong_merge_and_a_split() -> None:
    # the tablet merged both people (one key), and P1's cookie stayed apart
    stitched = _stitched(
        [
            ("customer_id", "c1", "k1"),
            ("email", "a@x.de", "k1"),
            ("anonymous_id", "cookie-1", "k9"),
            ("customer_id", "c2", "k1"),
            ("email", "b@x.de", "k1"),
            ("anonymous_id", "tablet", "k1"),
        ]
    )
    report = evaluate(stitched, TRUTH, examples=3)
    # predicted: k1 holds c1, a@, c2, b@ -> 6 pairs, of which (c1,a@) and (c2,b@) are right
    assert report["predicted_pairs"] == 6 and report["true_positive_pairs"] == 2
    assert report["pairwise_precision"] == pytest.approx(2 / 6, abs=1e-6)
    assert report["pairwise_recall"] == pytest.approx(2 / 4, abs=1e-6)
    assert report["persons_split_over_several_keys"] == 1
    assert report["keys_mixing_several_persons"] == 1
    assert report["merge_examples"][0]["customer_key"] == "k1"
    assert report["split_examples"][0]["person_id"] == "P1"


def test_report_treats_identifiers_without_key_as_singletons() -> None:
    stitched = _stitched(
        [
            ("customer_id", "c1", "k1"),
            ("email", "a@x.de", None),  # wrongly flagged shared: its own cluster
            ("anonymous_id", "cookie-1", "k1"),
            ("customer_id", "c2", "k2"),
            ("email", "b@x.de", "k2"),
        ]
    )
    report = evaluate(stitched, TRUTH)
    assert report["true_positive_pairs"] == 2 and report["predicted_pairs"] == 2
    assert report["pairwise_recall"] == pytest.approx(2 / 4, abs=1e-6)
    assert report["shared_identifiers"]["personal_but_flagged"] == 1
    assert report["by_type"]["email"]["without_key"] == 1


# --------------------------------------------------------------------------- on the generated shop


@pytest.fixture(scope="module")
def duck_build(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Build:
    return shared_build("duckdb", tmp_path_factory, pytestconfig)


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Build:
    return shared_build(request.param, tmp_path_factory, request.config)


def _report(build: Build) -> dict:
    stitched = build.frame(
        "select identifier_type, identifier_value, customer_key, is_shared_identifier, is_blocked_identifier "
        "from intermediate.int_identities_stitched"
    )
    truth = build.frame(
        "select identifier_type, normalised_value, person_id, is_shared, owner_person_id, identifier_kind "
        "from truth.identifiers"
    )
    return evaluate(stitched, truth)


@pytest.mark.slow
def test_stitching_is_accurate_against_ground_truth(built: Build) -> None:
    report = _report(built)
    print(f"\nidentity on {built.settings.target}: precision {report['pairwise_precision']:.4f}, "
          f"recall {report['pairwise_recall']:.4f}, F1 {report['pairwise_f1']:.4f}")
    # wrong merges are what hurts (messages to the wrong person): precision must be near perfect
    assert report["pairwise_precision"] >= 0.98, report["merge_examples"]
    # what is left unlinked is mostly cookies that never logged in: nothing links them
    assert report["pairwise_recall"] >= 0.85
    assert report["identifiers_evaluated"] > 500


@pytest.mark.slow
def test_kairos_identity_report_prints_the_same_figures_as_json(
    duck_build: Build, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kairos.cli import main as kairos_main

    monkeypatch.setenv("KAIROS_TARGET", "duckdb")
    monkeypatch.setenv("KAIROS_DUCKDB_PATH", str(duck_build.settings.duckdb_path))
    assert kairos_main(["identity-report", "--examples", "2"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = _report(duck_build)
    for key in ("pairwise_precision", "pairwise_recall", "identifiers_evaluated"):
        assert printed[key] == pytest.approx(expected[key]), key


@pytest.mark.slow
def test_every_stitched_identifier_of_a_person_has_one_key(built: Build) -> None:
    # customer ids of one CRM record never end up under two keys, and keys are never reused
    duplicated = built.scalar(
        "select count(*) from (select customer_key from intermediate.int_identities_stitched "
        "where customer_key is not null group by 1 having count(distinct component_id) > 1) as keys"
    )
    assert duplicated == 0
    blocked_with_key = built.scalar(
        "select count(*) from intermediate.int_identities_stitched where is_blocked_identifier and customer_key is not null"
    )
    assert blocked_with_key == 0


@pytest.mark.slow
def test_keys_do_not_change_when_nothing_changed(duck_build: Build) -> None:
    # the shared build ran the pipeline twice over the same raw data: the second run issued nothing
    runs = duck_build.frame(
        "select run_number, count(*) as n from intermediate.int_identity_assignments group by 1 order by 1"
    )
    assert list(runs["run_number"]) == [1], runs
    assert duck_build.scalar("select count(*) from intermediate.int_identity_merges") == 0


@pytest.mark.slow
@pytest.mark.postgres
def test_both_warehouses_give_every_identifier_the_same_key(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> None:
    duck = shared_build("duckdb", tmp_path_factory, pytestconfig)
    pg = shared_build("postgres", tmp_path_factory, pytestconfig)
    sql = "select identifier_id, customer_key from intermediate.int_identities_stitched order by identifier_id"
    assert duck.frame(sql).equals(pg.frame(sql))


# --------------------------------------------------------------------------- a merge, end to end


@pytest.fixture(scope="module")
def merged(duck_build: Build, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A copy of the DuckDB build where a new login links two existing customers, rebuilt."""
    tmp = tmp_path_factory.mktemp("identity_merge")
    path = tmp / "kairos.duckdb"
    shutil.copy(duck_build.settings.duckdb_path, path)
    settings = replace(duck_build.settings, duckdb_path=path, output_dir=tmp / "output", landing_dir=tmp / "landing")
    build = Build(settings, 0.0, set())
    # two registered people, each a key of their own with a customer id and an email
    people = build.frame(
        "select customer_key, min(identifier_value) filter (where identifier_type = 'customer_id') as customer_id, "
        "min(identifier_value) filter (where identifier_type = 'email') as email "
        "from intermediate.int_identities_stitched where customer_key is not null group by 1 "
        "having count(*) filter (where identifier_type = 'customer_id') = 1 "
        "and count(*) filter (where identifier_type = 'email') = 1 "
        "and count(*) filter (where identifier_type = 'customer_id' and identifier_value in "
        "(select customer_id from staging.stg_crm__consents)) = 1 "
        "order by 1 limit 2"
    )
    assert len(people) == 2
    first, second = people.iloc[0], people.iloc[1]
    before = {
        "keys": build.frame("select customer_key from marts.dim_customers"),
        "history_rows": build.scalar("select count(*) from segments.seg_membership_history"),
    }
    later = END + timedelta(hours=1)
    with connect(settings) as wh:
        # the second person signs in with the first person's email (an identify/login event)
        wh.execute(
            "insert into raw.events (event_id, event_name, source, anonymous_id, customer_id, email, session_id, "
            "event_ts, received_at) values ('merge-test-1', 'login', 'web', 'merge-test-cookie', ?, ?, 'merge-test-s', ?, ?)",
            [second["customer_id"], first["email"], later.strftime("%Y-%m-%dT%H:%M:%SZ"), later],
        )
    run_dbt(
        ["run", "--select", "int_events_staged+", "--exclude", "triggers", "decisions", "syncs"],
        settings,
        vars={"kairos__now": later.strftime("%Y-%m-%d %H:%M:%S")},
        target_path=tmp / "target",
    )
    return {"build": build, "first": first, "second": second, "before": before}


@pytest.mark.slow
def test_a_new_link_merges_two_existing_customers_and_keeps_the_older_key(merged: dict) -> None:
    build, first, second = merged["build"], merged["first"], merged["second"]
    keys = {first["customer_key"], second["customer_key"]}
    merges = build.frame("select * from intermediate.int_identity_merges")
    assert len(merges) == 1, merges
    merge = merges.iloc[0]
    # both keys were issued in run 1: the smaller key survives (deterministic tie-break)
    survivor, retired = min(keys), max(keys)
    assert (merge["merged_customer_key"], merge["into_customer_key"], merge["merge_kind"]) == (retired, survivor, "merge")
    stitched = build.frame(
        "select identifier_id, customer_key from intermediate.int_identities_stitched "
        f"where identifier_id in ('customer_id:{first['customer_id']}', 'customer_id:{second['customer_id']}', "
        "'anonymous_id:merge-test-cookie')"
    )
    assert set(stitched["customer_key"]) == {survivor} and len(stitched) == 3
    # every other person kept their key
    untouched = set(merged["before"]["keys"]["customer_key"]) - keys
    now = set(build.frame("select customer_key from marts.dim_customers")["customer_key"])
    assert untouched <= now and survivor in now and retired not in now


@pytest.mark.slow
def test_downstream_tables_follow_the_merge(merged: dict) -> None:
    build, first, second = merged["build"], merged["first"], merged["second"]
    survivor, retired = sorted({first["customer_key"], second["customer_key"]})
    key_map = build.frame("select * from marts.dim_customer_key_map").set_index("customer_key")
    assert key_map.loc[retired, "current_customer_key"] == survivor and not key_map.loc[retired, "is_current"]
    assert key_map.loc[survivor, "current_customer_key"] == survivor
    # consents recorded under either customer id now belong to the merged person
    consent_owners = build.frame(
        "select distinct r.customer_key from intermediate.int_consents_resolved as r "
        f"where r.consent_customer_id in ('{first['customer_id']}', '{second['customer_id']}')"
    )
    assert set(consent_owners["customer_key"]) <= {survivor}
    # the profile counts both people's orders
    orders = build.scalar(
        f"select orders_count from marts.dim_customers where customer_key = '{survivor}'"
    )
    expected = build.scalar(
        "select count(*) from marts.fct_orders where not is_cancelled and customer_id in "
        f"('{first['customer_id']}', '{second['customer_id']}')"
    )
    assert orders >= expected
    # segment stays of the retired key are closed as merged, none is left open
    open_retired = build.scalar(
        f"select count(*) from segments.seg_membership_history where customer_key = '{retired}' and exited_at is null"
    )
    assert open_retired == 0
    closed = build.frame(
        f"select exit_reason from segments.seg_membership_history where customer_key = '{retired}' and exited_at is not null"
    )
    assert len(closed) > 0 and set(closed["exit_reason"]) <= {"merged", "left_segment"}
    assert "merged" in set(closed["exit_reason"])
