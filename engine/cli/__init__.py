"""The `hgsync` command, and what it prints for people (reports, the demo).

The top: may import anything in hgsync. ``main`` is the console script.
"""

from engine.cli.commands import main

__all__ = ["main"]
