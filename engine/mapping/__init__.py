"""Rows into request bodies: the sandboxed Jinja environment, its filters, and ``$each``.

May import: the kernel (engine.errors, engine.logging) only.
"""
