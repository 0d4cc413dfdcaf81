"""One Dagster asset per sync: the delivery of a ``sync_*`` model to a channel.

Syncs are declared one per file in ``syncs/definitions/`` (see
:mod:`syncs.config`); each becomes the asset ``["destinations", <sync name>]``
in group ``destinations``, depending on the dbt model it reads (keyed
``["syncs", <model>]`` by the translator, hence the different prefix). The
asset runs :func:`syncs.engine.run_sync`; its materialisation carries the
run's counts and the files or URLs it produced, and a failed sync fails the
step (and so the run).

Because a sync depends on its dbt model, and dbt on the raw tables guarded by
blocking checks, nothing reaches a channel in a run whose inputs failed a
blocking check. Later blocking checks (volume drops, a contract on the
``sync_*`` model) slot in the same way.
"""

# No `from __future__ import annotations` here: Dagster reads the Config and
# context annotations of decorated functions when they are defined.

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from dagster_dbt import get_asset_key_for_model

from orchestration.resources import WarehouseResource
from orchestration.translator import owner_tag

if TYPE_CHECKING:
    from syncs.config import SyncConfig
    from syncs.engine import SyncResult

DESTINATIONS_PREFIX = "destinations"
DESTINATIONS_GROUP = "destinations"


def sync_asset_key(sync_name: str) -> AssetKey:
    """``["destinations", <sync name>]``."""
    return AssetKey([DESTINATIONS_PREFIX, sync_name])


def load_syncs() -> dict[str, "SyncConfig"]:
    """Every declared sync; none when the definitions folder does not exist yet.

    An invalid definition raises (naming the file and field): better a
    definitions load that fails loudly than a sync that silently vanishes.
    """
    from syncs.config import default_definitions_dir, load_sync_configs

    if not default_definitions_dir().is_dir():
        return {}
    return load_sync_configs()


def result_metadata(result: "SyncResult") -> dict[str, Any]:
    """The run's counts as Dagster metadata (lists and dicts as JSON, outputs as paths)."""
    metadata: dict[str, Any] = {}
    for key, value in result.as_metadata().items():
        if isinstance(value, bool) or value is None:
            metadata[key] = MetadataValue.bool(bool(value)) if isinstance(value, bool) else MetadataValue.null()
        elif isinstance(value, int):
            metadata[key] = MetadataValue.int(value)
        elif isinstance(value, float):
            metadata[key] = MetadataValue.float(value)
        elif isinstance(value, str):
            metadata[key] = MetadataValue.text(value)
        else:
            metadata[key] = MetadataValue.json(value)
    metadata["dagster/row_count"] = MetadataValue.int(int(result.sent))
    return metadata


def build_sync_asset(
    config: "SyncConfig", dbt_assets: Sequence[AssetsDefinition], gated_by: Sequence[AssetKey] = ()
) -> AssetsDefinition:
    """The asset delivering one sync; ``dbt_assets`` resolve its model's key.

    ``gated_by``: upstream assets whose blocking checks must pass before the
    sync may run. Dagster gates a step on the blocking checks of its direct
    inputs only, so each of these becomes a dependency of the sync asset.
    """
    try:
        model_key = get_asset_key_for_model(list(dbt_assets), config.model)
    except Exception as exc:  # a KeyError-like error from dagster-dbt with a poor message
        raise ValueError(
            f"sync {config.name!r} ({config.path}) reads model {config.model!r}, which is not a dbt model "
            "of this project"
        ) from exc
    kinds = {config.destination.kind}
    tags = {tag: "" for tag in config.tags}
    if config.channel:
        tags["channel"] = config.channel

    @asset(
        key=sync_asset_key(config.name),
        deps=[model_key, *[k for k in gated_by if k != model_key]],
        group_name=DESTINATIONS_GROUP,
        kinds=kinds,
        owners=[owner_tag(config.owner)] if config.owner else None,
        tags=tags,
        description=(config.description or f"Sync {config.name}")
        + f"\n\nReads `{config.schema}.{config.model}`, mode `{config.mode}`, key `{config.primary_key}`,"
        f" destination `{config.destination.type}`.",
        metadata={
            "sync/model": f"{config.schema}.{config.model}",
            "sync/mode": config.mode,
            "sync/primary_key": config.primary_key,
            "sync/destination": config.destination.type,
            **({"sync/gated_by": ", ".join(k.to_user_string() for k in gated_by)} if gated_by else {}),
            **({"sync/definition": str(config.path)} if config.path else {}),
        },
        op_tags={"kairos/sync": config.name},
    )
    def _sync(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        from syncs.engine import SyncFailed, run_sync

        def progress(p: Any) -> None:
            # the engine calls this every few seconds of a long sync
            context.log.info(
                f"{config.name}: handed over {p.handed_over}, sent {p.sent}, rejected {p.rejected}, failed {p.failed}"
            )

        try:
            result = run_sync(config, settings=warehouse.settings(), progress=progress)
        except SyncFailed as exc:
            raise Failure(description=str(exc), metadata=result_metadata(exc.result)) from exc
        context.log.info(result.summary_line())
        if getattr(result, "alert", None):
            # a rejection rate above the definition's threshold: delivered, but look at it
            context.log.warning(f"{config.name}: {result.alert}")
        return MaterializeResult(metadata=result_metadata(result))

    return _sync


def build_sync_assets(
    dbt_assets: Sequence[AssetsDefinition], checks: Sequence[Any] = ()
) -> list[AssetsDefinition]:
    """One asset per declared sync, sorted by name.

    Each is gated by the blocking checks (``checks``: Python asset checks, e.g.
    the Great Expectations suites) on dbt models upstream of its model: a
    failed "no intent without consent" check stops every message sync.
    """
    from orchestration.dbt_assets import dbt_ancestors

    # checks on raw tables already gate dbt itself; the ones on dbt models must gate the syncs
    checked = {spec.asset_key for check in checks for spec in check.check_specs
               if spec.blocking and spec.asset_key.path[0] != "raw"}
    assets = []
    for config in load_syncs().values():
        try:
            model_key = get_asset_key_for_model(list(dbt_assets), config.model)
            gates = sorted((checked & dbt_ancestors(model_key)) - {model_key}, key=lambda k: k.to_user_string())
        except Exception:  # noqa: BLE001 - build_sync_asset reports an unknown model properly
            gates = []
        assets.append(build_sync_asset(config, dbt_assets, gated_by=gates))
    return assets
