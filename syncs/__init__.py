"""Reverse ETL: deliver the ``sync_*`` dbt models to channels, exactly once.

* :mod:`syncs.config`: one YAML definition per sync (``syncs/definitions/``).
* :mod:`syncs.engine`: :func:`run_sync` streams a model in batches to a destination.
* :mod:`syncs.ledger`: what was sent, in the warehouse (``ops.sync_records``, ``ops.sync_runs``).
* :mod:`syncs.destinations`: one module per destination behind one interface.

Import from the submodules (``from syncs.engine import run_sync``): this
package stays empty so light commands (``kairos hash``) don't load the engine.
"""
