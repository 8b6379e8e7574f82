"""The door: Flowdesk over HTTP — a JSON API for programs, a console for staff, webhooks out.

A host over `engine.service.Service`, like the CLI and the worker: every rule stays in the
`.flow` files. `app.create_app` wires the pieces; `flow serve` runs it on uvicorn.
"""
