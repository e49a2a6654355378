"""Marketplace → HG: one run of a pipeline, from its source to recorded outcomes.

plan (read, render, diff into the spool) → deliver (send, commit each outcome) → run (lock,
cursor, summary). May import: connectors, engine.definitions, engine.mapping, engine.store
and the kernel; never engine.service or engine.cli.
"""
