"""Dagster orchestration of Kairos: raw loaders, dbt assets, Great Expectations
checks, sync assets, jobs and schedules. The ``Definitions`` object is
:data:`orchestration.definitions.defs`; import that module, not this package,
to load them (importing this package stays cheap)."""
