"""What talks to the outside world: sources of rows, sinks for inbound rows, and HepsiGlobal.

May import: engine.definitions (the contracts and config models they implement), engine.mapping,
engine.store and the kernel (engine.errors, engine.logging, engine.http_server); never
engine.outbound, engine.inbound, engine.service or engine.cli, which use connectors.
"""
