"""Kairos: dbt-centric reverse ETL for just-in-time marketing."""

__version__ = "0.1.0"
