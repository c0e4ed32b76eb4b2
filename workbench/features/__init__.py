"""Event log to analysis tables, written as Ibis expressions."""

from ._tables import require_tables
from .overview import StoreOverview, store_overview

__all__ = ["StoreOverview", "require_tables", "store_overview"]
