"""Durable storage of cases, timers, audit records and the notification outbox."""

from engine.errors import ConflictError, SchemaError, StoreError
from engine.store.sqlstore import Store

__all__ = ["ConflictError", "SchemaError", "Store", "StoreError"]
