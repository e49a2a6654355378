"""HepsiGlobal's API: the operation catalog and payload models, the async client (tokens,
rate limit, retries), and the sandbox that stands in for HG in demos and tests.

The catalog is registered under the ``hgsync.operations`` entry point group. May import
what ``connectors`` may; not the other connector packages.
"""
