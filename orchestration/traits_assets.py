"""Predictive traits as a Dagster asset: ``traits/customer_clv``.

The BG/NBD + Gamma-Gamma step (:func:`kairos.traits.score_traits`) reads
``marts.fct_orders`` and writes ``traits.customer_clv``. ``dim_customers``
left-joins the latest scoring (dbt source ``kairos_traits.customer_clv``,
looked up at run time so a first build works without it). The scoring is
not wired upstream of ``dim_customers`` in the asset graph on purpose: that
would put a Python step inside the dbt build (a cycle Dagster can only
resolve by splitting ``dbt build`` into several invocations, each paying
dbt's start-up). Traits are a daily batch product: a profile carries the
scores of the latest scoring run, which ``traits.customer_clv_fits`` dates.
"""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from orchestration.resources import WarehouseResource

TRAITS_KEY = AssetKey(["traits", "customer_clv"])
ORDERS_KEY = AssetKey(["marts", "fct_orders"])


@asset(
    key=TRAITS_KEY,
    deps=[ORDERS_KEY],
    group_name="traits",
    kinds={"python", "scipy"},
    owners=["team:analytics-engineering"],
    description=(
        "Predictive traits per customer_key (probability active, expected purchases in 90 days, "
        "predicted 12-month CLV, expected next order, churn-risk band) from a BG/NBD + Gamma-Gamma "
        "fit by maximum likelihood on marts.fct_orders. Below the data minimums every trait is null "
        "with trait_status insufficient_data, and traits.customer_clv_fits says why."
    ),
)
def customer_clv(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    """Fit the CLV models on the paid orders and write ``traits.customer_clv``."""
    from kairos.traits import score_traits

    summary = score_traits(warehouse.settings())
    fit = summary["fit"]
    context.log.info(f"traits: {summary['rows']} customers, fit {fit.get('status')} {fit.get('reason') or ''}".strip())
    return MaterializeResult(
        metadata={
            "dagster/row_count": summary["rows"],
            "fit_status": str(fit.get("status")),
            "fit_reason": str(fit.get("reason") or ""),
            "trait_status": MetadataValue.json(summary["trait_status"]),
            "parameters": MetadataValue.json({k: fit[k] for k in ("bg_nbd", "gamma_gamma") if k in fit}),
        }
    )
