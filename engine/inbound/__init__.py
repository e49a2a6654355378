"""HG → marketplace: webhook events received, kept in an inbox, applied to marketplace tables.

May import: connectors, engine.definitions, engine.mapping, engine.store and the kernel;
never engine.outbound, engine.service or engine.cli.
"""
