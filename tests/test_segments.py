"""Segments: the declarative registry, current memberships against the rules
evaluated independently on the profile, and the entry/exit history over two
builds at two decision times (a copy of the session's DuckDB build rebuilt
40 days later: people leave 'lifecycle_new', enter 'lifecycle_active', ...).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import timedelta

import pytest

from kairos.dbt import run_dbt

from test_dbt_models import END, PROJECT_ROOT, Build, records, shared_build

pytestmark = pytest.mark.slow

LATER = END + timedelta(days=40)
# what depends on the decision time, up to the segments
TIME_DEPENDENT = ["int_consents_resolved", "intermediate.profiles", "dim_customers", "segments"]


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Build:
    return shared_build(request.param, tmp_path_factory, request.config)


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Build:
    """A copy of the DuckDB build, rebuilt at LATER (segments incremental over the first build)."""
    duck = shared_build("duckdb", tmp_path_factory, pytestconfig)
    tmp = tmp_path_factory.mktemp("segments_later")
    shutil.copy(duck.settings.duckdb_path, tmp / "kairos.duckdb")
    settings = replace(duck.settings, duckdb_path=tmp / "kairos.duckdb", output_dir=tmp / "output")
    run_dbt(
        ["run", "--select", *TIME_DEPENDENT],
        settings,
        vars={"kairos__now": LATER.strftime("%Y-%m-%d %H:%M:%S")},
        target_path=tmp / "target",
    )
    return Build(settings, 0.0, set())


def test_registry_lists_the_declared_segments(built: Build) -> None:
    segments = built.frame("select * from segments.seg_segments")
    ids = set(segments["segment_id"])
    for expected in ("lifecycle_new", "lifecycle_lost", "winback_candidates", "rfm_champions", "high_value",
                     "discount_sensitive", "category_interest_coffee", "preferred_channel_email", "lookalike_seed"):
        assert expected in ids
    assert segments["owner"].notna().all() and segments["rule_sql"].notna().all()
    # one place to edit: the registry var in dbt_project.yml
    assert "kairos__segments:" in (PROJECT_ROOT / "dbt_project.yml").read_text()


def test_current_memberships_follow_the_rules(built: Build) -> None:
    profiles = {r["customer_key"]: r for r in records(built.frame("select * from marts.dim_customers"))}
    members = built.frame("select segment_id, customer_key from segments.seg_memberships_current")
    by_segment: dict[str, set] = {}
    for segment_id, key in zip(members["segment_id"], members["customer_key"]):
        by_segment.setdefault(segment_id, set()).add(key)

    def expect(predicate) -> set:
        return {k for k, p in profiles.items() if predicate(p)}

    for stage in ("prospect", "new", "active", "dormant", "lost"):
        assert by_segment.get(f"lifecycle_{stage}", set()) == expect(lambda p, s=stage: p["lifecycle_stage"] == s)
    assert by_segment.get("discount_sensitive", set()) == expect(lambda p: p["is_discount_sensitive"])
    assert by_segment.get("winback_candidates", set()) == expect(
        lambda p: p["lifecycle_stage"] in ("dormant", "lost") and p["revenue_orders_count"] >= 2
        and (p["email_reachable"] or p["push_reachable"] or p["sms_reachable"])
    )
    assert by_segment.get("lookalike_seed", set()) == expect(
        lambda p: p["rfm_segment"] in ("champions", "loyal") and p["ads_reachable"]
    )
    assert by_segment.get("category_interest_coffee", set()) == expect(
        lambda p: p["top_categories"] is not None and "coffee" in p["top_categories"].split(",")
    )
    # high value: the top 10% of buyers by historic CLV
    buyers = sorted((float(p["historic_clv"]), k) for k, p in profiles.items() if p["revenue_orders_count"] > 0)
    high = by_segment.get("high_value", set())
    assert 0 < len(high) <= len(buyers) * 0.12
    threshold = min(float(profiles[k]["historic_clv"]) for k in high)
    assert all(float(profiles[k]["historic_clv"]) >= threshold for k in high)
    assert {k for v, k in buyers if v > threshold} <= high


def test_first_build_opens_one_stay_per_membership(built: Build) -> None:
    current = built.scalar("select count(*) from segments.seg_memberships_current")
    open_stays = built.scalar("select count(*) from segments.seg_membership_history where exited_at is null")
    assert open_stays == current > 0


def test_second_build_records_exits_and_entries(two_builds: Build) -> None:
    history = two_builds.frame("select * from segments.seg_membership_history")
    later = LATER.replace(microsecond=0)
    # people who were new 40 days ago are not new any more: their stay is closed at LATER
    left_new = history[(history["segment_id"] == "lifecycle_new") & history["exited_at"].notna()]
    assert len(left_new) > 0
    assert (left_new["exit_reason"] == "left_segment").all()
    assert (left_new["exited_at"] == later).all() and (left_new["entered_at"] == END).all()
    # ... and entered the stage they are in now, at LATER
    moved = set(left_new["customer_key"])
    entered_later = history[(history["entered_at"] == later) & (history["entry_reason"] == "entered")]
    assert moved <= set(entered_later.loc[entered_later["segment_id"].str.startswith("lifecycle_"), "customer_key"])
    # the history keeps the first build's stays; the open ones are exactly the current memberships
    assert (history["entered_at"] == END).sum() > 0
    open_stays = history[history["exited_at"].isna()]
    current = two_builds.frame("select segment_id, customer_key from segments.seg_memberships_current")
    assert set(zip(open_stays["segment_id"], open_stays["customer_key"])) == set(
        zip(current["segment_id"], current["customer_key"])
    )
    assert not open_stays.duplicated(["segment_id", "customer_key"]).any()


def test_segment_sizes_over_time(two_builds: Build) -> None:
    sizes = two_builds.frame("select * from segments.seg_segment_sizes_daily")
    days = sorted(set(sizes["day"]))
    assert len(days) == 2  # the two build days
    first, second = days
    current = two_builds.frame("select segment_id, count(*) as n from segments.seg_memberships_current group by 1")
    now = sizes[sizes["day"] == second].set_index("segment_id")["members"]
    for segment_id, n in zip(current["segment_id"], current["n"]):
        assert now[segment_id] == n, segment_id
    new_then = sizes[(sizes["day"] == first) & (sizes["segment_id"] == "lifecycle_new")]["members"].iloc[0]
    new_now = now.get("lifecycle_new", 0)
    exited = sizes[(sizes["day"] == second) & (sizes["segment_id"] == "lifecycle_new")]["exited"].iloc[0]
    entered = sizes[(sizes["day"] == second) & (sizes["segment_id"] == "lifecycle_new")]["entered"].iloc[0]
    assert new_now == new_then - exited + entered and exited > 0
