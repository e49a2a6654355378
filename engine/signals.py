"""SIGTERM and SIGINT for long-running commands: the first asks for a clean stop, the second
for an immediate one.

Handlers are installed with :func:`signal.signal` rather than the event loop's own, and stay
installed after the loop closes; :func:`ignore_from_now` then ignores both signals for the
rest of the process, so a second signal that arrives after the stop it asked for already
happened (while the interpreter shuts down, when Python puts default handlers back) does
not kill the process with a non-zero status.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from types import FrameType


def install(
    on_first: Callable[[signal.Signals], None], on_second: Callable[[signal.Signals], None]
) -> Callable[[], None]:
    """Call ``on_first`` (then ``on_second`` for every later signal) in the running loop.
    Returns a function that puts the previous handlers back."""
    loop = asyncio.get_running_loop()
    received = 0

    def handle(number: int, _frame: FrameType | None) -> None:
        nonlocal received
        if loop.is_closed():
            return
        received += 1
        callback = on_first if received == 1 else on_second
        with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
            loop.call_soon_threadsafe(callback, signal.Signals(number))

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def ignore_from_now() -> None:
    """The process is ending: a further SIGTERM or SIGINT changes nothing."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
