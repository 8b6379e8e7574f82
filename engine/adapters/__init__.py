"""Adapters that hand a compiled flow to other state-machine libraries."""
