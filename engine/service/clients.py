"""The daemon's clients: one per target (HG's or a marketplace's), shared by the runs of every pipeline."""

from __future__ import annotations

from typing import Any

from connectors.hepsiglobal.client import HGClient
from connectors.hepsiglobal.push_client import client_for
from engine.definitions.target_kinds import MarketplaceTarget
from engine.definitions.targets import TargetSettings


class ClientPool:
    """One HG client per target, shared by runs: its token, rate limit and concurrency hold
    across pipelines. A target whose settings changed gets a new client; old ones close at the end."""

    def __init__(self, on_attempt: Any = None) -> None:
        self._clients: dict[str, tuple[TargetSettings | MarketplaceTarget, HGClient]] = {}
        self._retired: list[HGClient] = []
        self._on_attempt = on_attempt  # every HTTP attempt, for the metrics

    async def get(self, name: str, settings: TargetSettings | MarketplaceTarget) -> HGClient:
        held = self._clients.get(name)
        if held is not None and held[0] == settings:
            return held[1]
        if held is not None:
            self._retired.append(held[1])
        client = await client_for(settings, on_attempt=self._on_attempt).__aenter__()
        self._clients[name] = (settings, client)
        return client

    def discard(self, name: str) -> None:
        """Forget a target's client (its credentials were refused): the next run asks again."""
        held = self._clients.pop(name, None)
        if held is not None:
            self._retired.append(held[1])

    async def close(self) -> None:
        for client in [*self._retired, *(c for _, c in self._clients.values())]:
            await client.__aexit__(None, None, None)
        self._clients.clear()
        self._retired.clear()
