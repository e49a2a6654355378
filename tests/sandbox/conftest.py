"""One sandbox for the whole sandbox test package, reset before each test; clients over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from connectors.hepsiglobal.sandbox import Faults, Sandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0, client_id="mp-client", client_secret="s3cret-value") as sb:
        yield sb


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> None:
    if "sandbox" in request.fixturenames:
        sb: Sandbox = request.getfixturevalue("sandbox")
        sb.set_faults(Faults())
        sb.reset()


@pytest.fixture(scope="session")
def anon(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """A client without a token."""
    with httpx.Client(base_url=sandbox.url, timeout=5) as client:
        yield client


@pytest.fixture(scope="session")
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """A client with a valid bearer token."""
    headers = {"Authorization": f"Bearer {sandbox.issue_token()}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=5) as client:
        yield client
