"""Flowdesk's engine: run cases of compiled flows on business-hours calendars.

The embedding API is `Engine`; `FlowRuntime` is the pure step function underneath.
"""

from engine.case import AuditRecord, Case, Notification, Notifier
from engine.clock import Clock, SimulatedClock, SystemClock
from engine.engine import Engine
from engine.errors import (
    ConflictError,
    EventRefused,
    FlowdeskError,
    FlowLoadError,
    FlowRuntimeError,
    InvalidData,
    NoGuardHolds,
    RoleNotAllowed,
    StoreError,
    TaskNotReady,
    UnknownCase,
    UnknownEvent,
    UnknownFlow,
)
from engine.runtime import FlowRuntime, Step

__all__ = [
    "AuditRecord",
    "Case",
    "Clock",
    "ConflictError",
    "Engine",
    "EventRefused",
    "FlowLoadError",
    "FlowRuntime",
    "FlowRuntimeError",
    "FlowdeskError",
    "InvalidData",
    "NoGuardHolds",
    "Notification",
    "Notifier",
    "RoleNotAllowed",
    "SimulatedClock",
    "Step",
    "StoreError",
    "SystemClock",
    "TaskNotReady",
    "UnknownCase",
    "UnknownEvent",
    "UnknownFlow",
]
