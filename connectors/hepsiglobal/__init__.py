"""HepsiGlobal's API: the operation catalogs and payload models (MP→HG calls in ``catalog``,
HG→MP webhooks in ``webhooks``), the async client (tokens, rate limit, retries), and the
sandbox that stands in for HG in demos and tests.

Both catalogs are registered under the ``hgsync.operations`` entry point group. May import
what ``connectors`` may; not the other connector packages.
"""
