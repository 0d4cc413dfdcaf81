"""``identity-report``: accuracy of identity stitching against the generator's ground truth.

Compares ``intermediate.int_identities_stitched`` (identifier -> customer_key)
with ``truth.identifiers`` (identifier -> person) and prints JSON:

* pairwise precision, recall and F1: over every pair of evaluated
  identifiers, a pair is *predicted* together when both carry the same
  customer_key and *truly* together when both belong to the same person;
  precision = correct predicted pairs / predicted pairs, recall = correct
  predicted pairs / true pairs;
* the clusters (customer keys) and persons involved, how many persons are
  split over several keys and how many keys mix several persons, with examples;
* per identifier type: identifiers evaluated, truth identifiers the stitching
  never saw (e.g. a phone typed so badly that it cannot be normalised), and the
  shared identifiers (family tablets, POS terminals) caught or missed.

Evaluated identifiers are those present on both sides, joined on
``(identifier_type, truth.normalised_value)``; identifiers the truth marks
shared (or whose normalised value several persons use) have no single person
and are left out of the pairs, as are the truth's anonymous-only identifiers
when ``--persons`` restricts the persons. An identifier the stitching left
without a key (shared or blocked) counts as a cluster of its own.

Wire into ``kairos.cli`` with ``add_identity_report_parser(sub)``. Exit code 0,
2 when the warehouse lacks the tables (run the generator and ``dbt build``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

STITCHED_SQL = (
    "select identifier_type, identifier_value, customer_key, is_shared_identifier, is_blocked_identifier "
    "from intermediate.int_identities_stitched"
)
TRUTH_SQL = (
    "select identifier_type, normalised_value, person_id, is_shared, owner_person_id, identifier_kind "
    "from truth.identifiers"
)


class MissingTablesError(RuntimeError):
    """The warehouse has no stitched identifiers or no ground truth yet."""


def _pairs(counts) -> int:
    """Sum of n*(n-1)/2 over a sequence or Series of group sizes."""
    import numpy as np

    n = np.asarray(counts, dtype="int64")
    return int((n * (n - 1) // 2).sum())


def evaluate(stitched, truth, examples: int = 5) -> dict[str, Any]:
    """Pairwise accuracy of ``stitched`` against ``truth`` (both pandas DataFrames, columns as the SQL above).

    Pure: no warehouse access, so tests can feed hand-made frames.
    """
    import pandas as pd

    truth = truth.copy()
    truth = truth[truth["normalised_value"].notna()]
    # one truth row per (type, normalised value): several raw spellings map to one value;
    # a value used by several persons, or marked shared, has no single owner
    truth["null_person"] = truth["person_id"].isna()
    truth["is_shared"] = truth["is_shared"].fillna(False).astype(bool)
    grouped = truth.groupby(["identifier_type", "normalised_value"], sort=False).agg(
        persons=("person_id", "nunique"),
        person_id=("person_id", "first"),
        any_shared=("is_shared", "max"),
        any_null_person=("null_person", "max"),
        kind=("identifier_kind", "first"),
    )
    grouped["truly_shared"] = grouped["any_shared"] | grouped["any_null_person"] | (grouped["persons"] > 1)
    grouped = grouped.reset_index()

    stitched = stitched.copy()
    stitched["customer_key"] = stitched["customer_key"].astype(object)
    merged = stitched.merge(
        grouped,
        left_on=["identifier_type", "identifier_value"],
        right_on=["identifier_type", "normalised_value"],
        how="left",
    )
    matched = merged[merged["normalised_value"].notna()].copy()
    matched["truly_shared"] = matched["truly_shared"].astype(bool)
    unmatched_predicted = int(merged["normalised_value"].isna().sum())

    evaluated = matched[~matched["truly_shared"]].copy()
    # an identifier without a key is a cluster of its own
    singleton = evaluated["customer_key"].isna()
    evaluated["cluster"] = evaluated["customer_key"].where(
        ~singleton, "single:" + evaluated["identifier_type"] + ":" + evaluated["identifier_value"]
    )
    both = evaluated.groupby(["cluster", "person_id"], sort=False).size()
    per_cluster = evaluated.groupby("cluster", sort=False).size()
    per_person = evaluated.groupby("person_id", sort=False).size()
    true_positive = _pairs(both)
    predicted_pairs = _pairs(per_cluster)
    true_pairs = _pairs(per_person)
    precision = true_positive / predicted_pairs if predicted_pairs else 1.0
    recall = true_positive / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    clusters_per_person = evaluated.groupby("person_id", sort=False)["cluster"].nunique()
    persons_per_cluster = evaluated.groupby("cluster", sort=False)["person_id"].nunique()
    split_persons = clusters_per_person[clusters_per_person > 1]
    merged_clusters = persons_per_cluster[persons_per_cluster > 1]

    def identifiers_of(frame) -> list[str]:
        return sorted(f"{t}:{v}" for t, v in zip(frame["identifier_type"], frame["identifier_value"]))

    split_examples = []
    for person in split_persons.sort_values(ascending=False).index[:examples]:
        rows = evaluated[evaluated["person_id"] == person]
        split_examples.append(
            {
                "person_id": person,
                "clusters": {
                    str(cluster): identifiers_of(group) for cluster, group in rows.groupby("cluster", sort=True)
                },
            }
        )
    merge_examples = []
    for cluster in merged_clusters.sort_values(ascending=False).index[:examples]:
        rows = evaluated[evaluated["cluster"] == cluster]
        merge_examples.append(
            {
                "customer_key": cluster,
                "persons": {str(person): identifiers_of(group) for person, group in rows.groupby("person_id", sort=True)},
            }
        )

    # truth identifiers (personal) that the stitching never saw, per kind
    seen = set(zip(matched["identifier_type"], matched["normalised_value"]))
    personal = grouped[~grouped["truly_shared"]]
    missing_mask = [(t, v) not in seen for t, v in zip(personal["identifier_type"], personal["normalised_value"])]
    missing = personal[pd.Series(missing_mask, index=personal.index, dtype=bool)]

    shared_truth = matched[matched["truly_shared"]]
    flagged = matched["is_shared_identifier"].fillna(False).astype(bool)
    by_type = {}
    for identifier_type, group in evaluated.groupby("identifier_type", sort=True):
        by_type[identifier_type] = {
            "evaluated": int(len(group)),
            "without_key": int(group["customer_key"].isna().sum()),
            "never_seen_by_stitching": int((missing["identifier_type"] == identifier_type).sum()),
        }

    return {
        "pairwise_precision": round(precision, 6),
        "pairwise_recall": round(recall, 6),
        "pairwise_f1": round(f1, 6),
        "true_positive_pairs": true_positive,
        "predicted_pairs": predicted_pairs,
        "true_pairs": true_pairs,
        "identifiers_evaluated": int(len(evaluated)),
        "identifiers_stitched": int(len(stitched)),
        "identifiers_not_in_truth": unmatched_predicted,
        "truth_personal_identifiers_never_seen": int(len(missing)),
        "never_seen_by_kind": {str(k): int(v) for k, v in missing["kind"].value_counts().sort_index().items()},
        "clusters": int(per_cluster.size),
        "persons": int(per_person.size),
        "persons_split_over_several_keys": int(split_persons.size),
        "keys_mixing_several_persons": int(merged_clusters.size),
        "shared_identifiers": {
            "truly_shared_seen": int(len(shared_truth)),
            "flagged_shared_by_stitching": int(flagged.sum()),
            "truly_shared_and_flagged": int(shared_truth["is_shared_identifier"].fillna(False).astype(bool).sum()),
            "personal_but_flagged": int((flagged & ~matched["truly_shared"].astype(bool)).sum()),
            "blocked_by_stitching": int(matched["is_blocked_identifier"].fillna(False).astype(bool).sum()),
        },
        "by_type": by_type,
        "split_examples": split_examples,
        "merge_examples": merge_examples,
    }


def identity_report(settings=None, examples: int = 5) -> dict[str, Any]:
    """Read the stitched identifiers and the truth from the warehouse and :func:`evaluate` them."""
    from kairos.warehouse import connect

    with connect(settings, read_only=(settings or _settings()).target == "duckdb") as wh:
        for schema, table in (("intermediate", "int_identities_stitched"), ("truth", "identifiers")):
            if not wh.table_exists(schema, table):
                raise MissingTablesError(f"{schema}.{table} does not exist: generate the sample shop and run dbt build first")
        with wh.transaction():
            stitched = wh.fetch_arrow(STITCHED_SQL).to_pandas()
            truth = wh.fetch_arrow(TRUTH_SQL).to_pandas()
    report = evaluate(stitched, truth, examples=examples)
    return report


def _settings():
    from kairos.settings import load_settings

    return load_settings()


def run_identity_report(args: argparse.Namespace) -> int:
    """Run ``identity-report`` from parsed arguments (the ``func`` of the sub-parser)."""
    try:
        report = identity_report(examples=args.examples)
    except MissingTablesError as exc:
        print(f"identity-report: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2, default=str)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    print(text)
    return 0


def add_identity_report_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``identity-report`` sub-command to an ``add_subparsers()`` object (sets ``func``)."""
    parser = subparsers.add_parser(
        "identity-report",
        help="pairwise precision/recall of identity stitching against the generator's truth, as JSON",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--examples", type=int, default=5, help="split and merge examples to show (default 5)")
    parser.add_argument("--output", default=None, help="also write the JSON to this file")
    parser.set_defaults(func=run_identity_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m kairos.identity_report [--examples N] [--output FILE]``."""
    parser = argparse.ArgumentParser(prog="kairos identity-report", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    add_identity_report_parser(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "identity-report":
        argv = ["identity-report", *argv]
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
