"""Event log to analysis tables, written as Ibis expressions."""

from .overview import StoreOverview, store_overview

__all__ = ["StoreOverview", "store_overview"]
