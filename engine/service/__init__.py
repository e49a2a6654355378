"""The daemon: pipelines on their schedules, files reloaded live, status over HTTP.

May import: engine.outbound, engine.inbound, and everything they may; never engine.cli.
"""
