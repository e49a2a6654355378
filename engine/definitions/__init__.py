"""The files an operator writes: YAML with positions, the config and pipeline models, the
loader that checks them all at once, and the contracts connectors plug into (operations,
source kinds, found by entry point).

May import: engine.mapping, engine.store, the kernel (errors, logging). Never a connector:
those register through entry points (:mod:`.plugins`), so built-ins and add-ons are equal.
"""
