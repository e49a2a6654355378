"""The demo's pushes to a marketplace: a supplier's price file and a warehouse's stock file
dropped as CSV, which ``pipelines/prices-pushed.yaml`` and ``stock-pushed.yaml`` push to the
marketplace target in HG's format, batched. In the demo the marketplace is hgsync's own
receiver, so what is pushed lands in ``demo/marketplace.db`` through the inbound pipelines."""

from __future__ import annotations

import csv
import os
import random
import shutil
import time
from pathlib import Path

from engine.cli.demo_data import PRODUCTS
from engine.definitions.loader import Project
from engine.definitions.target_kinds import MarketplaceTarget

PRICE_DROP = Path("demo") / "price-drop"
STOCK_DROP = Path("demo") / "stock-drop"
PRICE_LINES = 2500  # past two requests of 1000: the third carries the rest
STOCK_LINES = 1200


def _fresh(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in [*folder.glob("*.csv"), folder / "archive", folder / "rejected"]:
        if leftover.is_dir():
            shutil.rmtree(leftover)
        elif leftover.exists():
            leftover.unlink()


def _skus(count: int) -> list[tuple[str, int]]:
    """The demo's products first, then made-up variants of its sellers."""
    known = [(sku, company) for _, sku, company, _, _ in PRODUCTS]
    made = [(f"HBV{n:010d}", 2001 + n % 4) for n in range(count - len(known))]
    return known + made


def _settled(path: Path) -> None:
    finished = time.time() - 60  # written a minute ago: the drop's settle time has passed
    os.utime(path, (finished, finished))


def write_supplier_drops(home: Path, *, seed: int = 11) -> tuple[int, int]:
    """A price file and a stock file in the demo's drop folders; returns their lines."""
    rng = random.Random(seed)
    prices, stock = home / PRICE_DROP, home / STOCK_DROP
    _fresh(prices)
    _fresh(stock)
    path = prices / "supplier-prices-20261120.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["sku", "company_id", "price", "retail_price", "currency"])
        for sku, company in _skus(PRICE_LINES):
            price = rng.randrange(300, 9000) / 100
            retail = "" if rng.random() < 0.3 else f"{price * 1.2:.2f}"
            writer.writerow([sku, company, f"{price:.2f}", retail, "USD"])
    _settled(path)
    path = stock / "warehouse-stock-20261120.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["sku", "company_id", "stock"])
        for sku, company in _skus(STOCK_LINES):
            writer.writerow([sku, company, rng.randrange(0, 250)])
    _settled(path)
    return PRICE_LINES, STOCK_LINES


def aim_marketplaces(project: Project, url: str) -> None:
    """Point every marketplace target at the demo's receiver, with the receiver's own auth."""
    settings = project.settings
    assert settings is not None and settings.receiver is not None
    targets = {
        name: target.model_copy(update={"base_url": url, "auth": settings.receiver.auth})
        if isinstance(target, MarketplaceTarget)
        else target
        for name, target in settings.targets.items()
    }
    project.settings = settings.model_copy(update={"targets": targets})
