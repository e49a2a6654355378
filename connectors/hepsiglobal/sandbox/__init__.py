"""The built-in HG sandbox: a local stand-in for HepsiGlobal's MP→HG API, for demos and tests.

``with Sandbox().start() as sb:`` serves on a free loopback port (``sb.url``), issues tokens,
checks request bodies against the documented rules (:mod:`.rules`), records what it accepted
(``sb.records()``) and injects faults on demand (:class:`Faults`).
"""

from connectors.hepsiglobal.sandbox.faults import Faults
from connectors.hepsiglobal.sandbox.server import Sandbox

__all__ = ["Faults", "Sandbox"]
