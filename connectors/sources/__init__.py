"""Where rows come from: database tables and queries (:mod:`.sql`), CSV drop folders
(:mod:`.csv_drop`), and the contract every source implements (:mod:`.base`).

Each source kind is registered under the ``hgsync.sources`` entry point group. May import
what ``connectors`` may; not the other connector packages.
"""
