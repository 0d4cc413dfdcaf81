"""The one translator from dbt nodes to Dagster assets.

Everything Dagster shows about a dbt node is decided here, so keys, groups,
owners and (later) automation change in one place:

* keys: ``[<layer schema>, <model name>]`` (``["staging", "stg_shop__events"]``,
  ``["syncs", "sync_file__abandoned_cart_intents"]``); sources are
  ``["raw", <table identifier>]`` so they are the very assets the raw loader
  materialises;
* groups: one per layer, the node's schema (``raw``, ``staging``,
  ``quarantine``, ``intermediate``, ``marts``, ``segments``, ``triggers``,
  ``decisions``, ``syncs``; seeds are ``reference``). The schema is set per
  folder in ``dbt_project.yml``, so folder, schema and group always agree;
* descriptions from the dbt docs, owners from ``meta.owner`` (default: the
  analytics-engineering team), kinds ``dbt`` + the warehouse + ``table`` or
  ``view``, the layer as a tag.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

from dagster import AssetKey, AssetSpec, AutomationCondition
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

if TYPE_CHECKING:
    from dagster_dbt import DbtProject

#: Schema (and group) of raw tables: what loaders write and dbt sources read.
RAW_SCHEMA = "raw"
#: Every layer, in pipeline order; each is a schema and a Dagster group.
LAYERS = (
    "raw",
    "reference",
    "staging",
    "quarantine",
    "intermediate",
    "marts",
    "segments",
    "triggers",
    "decisions",
    "syncs",
)
DEFAULT_OWNER = "team:analytics-engineering"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GROUP = re.compile(r"^[A-Za-z0-9_]+$")


def owner_tag(owner: str) -> str:
    """An owner as Dagster accepts it: an email, or ``team:<name>``."""
    owner = owner.strip()
    if _EMAIL.match(owner) or owner.startswith("team:"):
        return owner
    return f"team:{owner}"


class KairosDbtTranslator(DagsterDbtTranslator):
    """Keys, groups, descriptions, owners and kinds for every Kairos dbt node."""

    def __init__(self, settings: DagsterDbtTranslatorSettings | None = None) -> None:
        # dbt tests become asset checks (explicit, though it is the default now)
        super().__init__(settings or DagsterDbtTranslatorSettings(enable_asset_checks=True))

    # -- identity -------------------------------------------------------------
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        """``["raw", <identifier>]`` for sources, ``[<schema>, <name>]`` otherwise."""
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey([RAW_SCHEMA, dbt_resource_props["identifier"]])
        return AssetKey([self._layer(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """The layer (schema) of the node: one Dagster group per layer."""
        return self._layer(dbt_resource_props)

    # -- documentation ----------------------------------------------------------
    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        """The dbt description; dagster-dbt's default (the SQL) where there is none."""
        description = (dbt_resource_props.get("description") or "").strip()
        return description or super().get_description(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        """``meta.owner`` (node or config), a dbt group owner, else the default team."""
        meta = {**(dbt_resource_props.get("config", {}).get("meta") or {}), **(dbt_resource_props.get("meta") or {})}
        owners = meta.get("owner") or super().get_owners(dbt_resource_props) or [DEFAULT_OWNER]
        if isinstance(owners, str):
            owners = [owners]
        return [owner_tag(o) for o in owners]

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        """dbt tags plus the layer, so ``tag:layer=marts`` selects a layer."""
        return {**super().get_tags(dbt_resource_props), "layer": self._layer(dbt_resource_props)}

    # -- automation (later issues: sensors, declarative automation per layer) ----
    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> Optional[AutomationCondition]:
        """None for now: jobs and schedules drive runs. The hook for per-layer automation."""
        return None

    # -- the whole spec ---------------------------------------------------------
    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: Optional["DbtProject"]
    ) -> AssetSpec:
        """dagster-dbt's spec with Kairos kinds (``dbt``, the warehouse, table or
        view) and the raw tables a table reads through views as direct deps."""
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        kinds = {"dbt", manifest.get("metadata", {}).get("adapter_type") or "dbt"}
        materialized = (props.get("config") or {}).get("materialized")
        if props["resource_type"] == "seed":
            kinds.add("seed")
        elif materialized in ("table", "view", "incremental"):
            kinds.add("view" if materialized == "view" else "table")
        spec = spec.replace_attributes(kinds=kinds)
        if props["resource_type"] == "model" and materialized not in ("view", "ephemeral"):
            existing = {dep.asset_key for dep in spec.deps}
            extra = [k for k in self._sources_through_views(manifest, unique_id) if k not in existing]
            if extra:
                spec = spec.merge_attributes(deps=extra)
        return spec

    def _sources_through_views(self, manifest: Mapping[str, Any], unique_id: str) -> list[AssetKey]:
        """Raw tables a model reads through views (and ephemeral models).

        A view is read when the table on top of it is built, so the table
        depends on the raw table as directly as on the view. Making that a
        dependency lets a job that rebuilds the table but not the view (the
        real-time job) still run the raw loader, and the raw checks, first:
        Dagster orders and gates steps by direct dependencies only.
        """
        cache = self.__dict__.setdefault("_view_sources_cache", {})
        key = (id(manifest), unique_id)
        if key in cache:
            return cache[key]
        nodes = manifest.get("nodes", {})
        sources = manifest.get("sources", {})
        found: list[AssetKey] = []
        seen: set[str] = set()
        todo = [p for p in (nodes.get(unique_id, {}).get("depends_on") or {}).get("nodes", [])
                if (nodes.get(p, {}).get("config") or {}).get("materialized") in ("view", "ephemeral")]
        while todo:
            parent = todo.pop()
            if parent in seen:
                continue
            seen.add(parent)
            for grandparent in (nodes.get(parent, {}).get("depends_on") or {}).get("nodes", []):
                if grandparent in sources:
                    source_key = self.get_asset_key(sources[grandparent])
                    if source_key not in found:
                        found.append(source_key)
                elif (nodes.get(grandparent, {}).get("config") or {}).get("materialized") in ("view", "ephemeral"):
                    todo.append(grandparent)
        cache[key] = found
        return found

    # -- helpers -----------------------------------------------------------------
    def _layer(self, props: Mapping[str, Any]) -> str:
        if props["resource_type"] == "source":
            return RAW_SCHEMA
        schema = str(props.get("schema") or "")
        if schema in LAYERS:
            return schema
        # a model outside the per-folder schemas: fall back to its top folder
        fqn = props.get("fqn") or []
        folder = fqn[1] if len(fqn) > 2 else "dbt"
        return folder if _GROUP.match(folder) else "dbt"
