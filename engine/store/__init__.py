"""Durable storage of cases, timers, audit records and the notification outbox."""

from engine.store.sqlstore import ConflictError, SchemaError, Store, StoreError

__all__ = ["ConflictError", "SchemaError", "Store", "StoreError"]
