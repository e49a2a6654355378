"""Clients of the session's sandbox (``sandbox_server`` in tests/conftest.py), over real HTTP.

Every test here starts with the sandbox emptied and without faults (the ``sandbox`` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from connectors.hepsiglobal.sandbox import Sandbox


@pytest.fixture(autouse=True)
def _fresh(sandbox: Sandbox) -> None:
    """Reset the shared sandbox before each test (the ``sandbox`` fixture does it)."""


@pytest.fixture(scope="session")
def anon(sandbox_server: Sandbox) -> Iterator[httpx.Client]:
    """A client without a token."""
    with httpx.Client(base_url=sandbox_server.url, timeout=5) as client:
        yield client


@pytest.fixture(scope="session")
def api(sandbox_server: Sandbox) -> Iterator[httpx.Client]:
    """A client with a valid bearer token."""
    headers = {"Authorization": f"Bearer {sandbox_server.issue_token()}"}
    with httpx.Client(base_url=sandbox_server.url, headers=headers, timeout=5) as client:
        yield client
