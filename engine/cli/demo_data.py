"""The demo marketplace: a small SQLite database shaped as a marketplace keeps its data.

Tables: customers, orders, order_items, cancellations, shipments, refunds. The numbers are
made up here, from a seeded random generator, so every demo database is the same. Prices
are in each order's own currency (USD, EUR, TRY, GBP) with the day's ``exchange_rate``
(USD = amount / rate), as a marketplace that sells abroad would hold them.
"""

from __future__ import annotations

import base64
import random
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

SCHEMA = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY, full_name TEXT NOT NULL, phone TEXT, email TEXT,
    country_code TEXT, city TEXT, district TEXT, address_line TEXT, postal_code TEXT
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY, order_number TEXT NOT NULL UNIQUE, customer_id INTEGER REFERENCES customers(id),
    ordered_at TEXT NOT NULL, currency TEXT NOT NULL, exchange_rate NUMERIC NOT NULL,
    shipping_type INTEGER NOT NULL, delivery_point_code TEXT, status TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE shipments (
    id INTEGER PRIMARY KEY, shipment_code TEXT NOT NULL UNIQUE, order_id INTEGER REFERENCES orders(id),
    carrier TEXT NOT NULL, tracking_number TEXT NOT NULL, label_url TEXT, label_base64 TEXT,
    status TEXT NOT NULL, shipped_at TEXT, delivered_at TEXT
);
CREATE TABLE order_items (
    id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id), sku TEXT NOT NULL, spu TEXT NOT NULL,
    company_id INTEGER NOT NULL, product_name TEXT NOT NULL, quantity INTEGER NOT NULL,
    unit_price NUMERIC NOT NULL, vat_rate NUMERIC NOT NULL, expected_ship_at TEXT NOT NULL,
    shipment_id INTEGER REFERENCES shipments(id), delivered_at TEXT, updated_at TEXT NOT NULL
);
CREATE TABLE cancellations (
    id INTEGER PRIMARY KEY, order_item_id INTEGER NOT NULL UNIQUE REFERENCES order_items(id),
    reason TEXT NOT NULL, cancelled_at TEXT NOT NULL
);
CREATE TABLE refunds (
    id INTEGER PRIMARY KEY, refund_number TEXT NOT NULL UNIQUE, order_item_id INTEGER NOT NULL REFERENCES order_items(id),
    quantity INTEGER NOT NULL, reason TEXT NOT NULL, amount NUMERIC NOT NULL, explanation TEXT, refunded_at TEXT NOT NULL,
    hg_request_id TEXT, hg_status TEXT, hg_reason TEXT  -- written back: HG's answer, then its result webhook
);
-- what HG's webhooks write (pipelines/*-received.yaml)
CREATE TABLE stock_levels (
    sku TEXT NOT NULL, company_id INTEGER NOT NULL, stock INTEGER, updated_at TEXT, PRIMARY KEY (sku, company_id)
);
CREATE TABLE prices (
    sku TEXT NOT NULL, company_id INTEGER NOT NULL, price NUMERIC, retail_price NUMERIC, currency TEXT,
    channel TEXT, updated_at TEXT, PRIMARY KEY (sku, company_id)
);
CREATE TABLE product_variants (
    sku TEXT PRIMARY KEY, spu TEXT, product_name TEXT, brand TEXT, category_trail TEXT, barcode TEXT,
    attributes TEXT, updated_at TEXT
);
CREATE TABLE seller_cancellations (
    cancel_id INTEGER PRIMARY KEY, order_number TEXT, order_item_number TEXT, quantity INTEGER, reason TEXT,
    received_at TEXT
);
CREATE TABLE tracking_events (
    shipment_code TEXT NOT NULL, happened_at TEXT NOT NULL, event_code TEXT NOT NULL, detail TEXT, location TEXT,
    PRIMARY KEY (shipment_code, happened_at, event_code)
);
CREATE TABLE listings (
    company_id INTEGER, sku TEXT, mp_sku TEXT, status TEXT, report_date TEXT
);
"""

RATES = {"USD": 1.0, "EUR": 0.93, "GBP": 0.79, "TRY": 34.2}
PRODUCTS = [
    ("HB0000144QYJ", "HBV00000ABCD1", 2001, "Ceramic coffee mug, 350 ml", 9.9),
    ("HB0000144QYJ", "HBV00000ABCD2", 2001, "Ceramic coffee mug, 500 ml", 12.5),
    ("HB00001BX7KL", "HBCV0000Q2W3", 2002, "Cotton bath towel, 70x140", 19.0),
    ("HB00002MN4PQ", "HBV0000ZX9Y8", 2003, "Turkish tea glass set of 6", 24.97),
    ("HB00003RT5UV", "HBV0000LM3N4", 2003, "Copper cezve, 2 cups", 31.4),
    ("HB00004WX6YZ", "HBCV0000P0O9", 2004, "Hand-woven kilim cushion cover", 27.0),
]
NAMES = [
    "Ayla Demir",
    "Jonas Weber",
    "Emily Clarke",
    "Mehmet Kaya",
    "Sofia Rossi",
    "Lukas Novak",
    "Chloe Martin",
    "Omar Haddad",
    "Hannah Schulz",
    "Deniz Aksoy",
    "Liam Byrne",
    "Elif Yildiz",
]
CITIES = [
    ("DE", "Berlin", "Mitte", "10115"),
    ("GB", "London", "Camden", "NW1 8NH"),
    ("TR", "Istanbul", "Kadikoy", "34710"),
    ("US", "Boston", "Back Bay", "02116"),
    ("IT", "Milano", "Brera", "20121"),
    ("FR", "Lyon", "Presqu'ile", "69002"),
]
CURRENCY_OF = {"DE": "EUR", "GB": "GBP", "TR": "TRY", "US": "USD", "IT": "EUR", "FR": "EUR"}
CANCEL_REASONS = ["customer_demand", "customer_demand", "late_shipment", "wrong_address"]
REFUND_REASONS = ["incorrect_order", "damaged_product", "customer_demand"]
LABEL_PDF = base64.b64encode(b"%PDF-1.4\n% hgsync demo shipping label\n%%EOF\n").decode()


def create_demo_database(path: Path, *, orders: int = 30, seed: int = 7) -> dict[str, int]:
    """(Re)create the demo database at ``path``; returns the row count of each table."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    try:
        db.executescript(SCHEMA)
        start = datetime(2026, 11, 1, 9, 0, 0)
        for cid, name in enumerate(NAMES, start=1):
            country, city, district, postal = CITIES[cid % len(CITIES)]
            handle = name.lower().replace(" ", ".")
            db.execute(
                "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    cid,
                    name,
                    f"+4915{rng.randrange(10**8, 10**9)}",
                    f"{handle}@example.com",
                    country,
                    city,
                    district,
                    f"{rng.randrange(1, 200)} Example Street",
                    postal,
                ),
            )
        item_id = shipment_id = 0
        for oid in range(1, orders + 1):
            cid = rng.randrange(1, len(NAMES) + 1)
            currency = CURRENCY_OF[CITIES[cid % len(CITIES)][0]]
            ordered = start + timedelta(hours=oid * 7, minutes=rng.randrange(60))
            number = f"{1000000 + oid * 37}"
            db.execute(
                "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    oid,
                    number,
                    cid,
                    f"{ordered:%Y-%m-%d %H:%M:%S}",
                    currency,
                    RATES[currency],
                    1,
                    f"DP{rng.randrange(100, 999)}",
                    "placed",
                    f"{ordered:%Y-%m-%d %H:%M:%S}",
                ),
            )
            shipped = oid % 3 != 0
            if shipped:
                shipment_id += 1
                carrier = rng.choice(["hepsijet", "wwe"])
                delivered = ordered + timedelta(days=4) if oid % 2 == 0 else None
                db.execute(
                    "INSERT INTO shipments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        shipment_id,
                        f"SHP{200000 + shipment_id}",
                        oid,
                        carrier,
                        f"{carrier[:2].upper()}{rng.randrange(10**9, 10**10)}",
                        f"https://labels.example.com/{shipment_id}.pdf" if shipment_id % 2 else None,
                        None if shipment_id % 2 else LABEL_PDF,
                        "delivered" if delivered else "in_transit",
                        f"{ordered + timedelta(days=1):%Y-%m-%d %H:%M:%S}",
                        f"{delivered:%Y-%m-%d %H:%M:%S}" if delivered else None,
                    ),
                )
            for spu, sku, company, title, usd_price in rng.sample(PRODUCTS, rng.randrange(1, 4)):
                item_id += 1
                price = round(usd_price * RATES[currency], 2)
                db.execute(
                    "INSERT INTO order_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        item_id,
                        oid,
                        sku,
                        spu,
                        company,
                        title,
                        rng.randrange(1, 4),
                        price,
                        0.2,
                        f"{ordered + timedelta(days=2):%Y-%m-%d %H:%M:%S}",
                        shipment_id if shipped else None,
                        f"{ordered + timedelta(days=4):%Y-%m-%d %H:%M:%S}"
                        if shipped and oid % 2 == 0
                        else None,
                        f"{ordered:%Y-%m-%d %H:%M:%S}",
                    ),
                )
                if not shipped and item_id % 2 == 0:
                    db.execute(
                        "INSERT INTO cancellations (order_item_id, reason, cancelled_at) VALUES (?, ?, ?)",
                        (
                            item_id,
                            rng.choice(CANCEL_REASONS),
                            f"{ordered + timedelta(hours=5):%Y-%m-%d %H:%M:%S}",
                        ),
                    )
                if shipped and oid % 2 == 0 and item_id % 5 == 0:
                    db.execute(
                        "INSERT INTO refunds (refund_number, order_item_id, quantity, reason, amount, explanation,"
                        " refunded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            f"RF{700000 + item_id}",
                            item_id,
                            1,
                            rng.choice(REFUND_REASONS),
                            price,
                            "Refunded after the customer returned the item",
                            f"{ordered + timedelta(days=9):%Y-%m-%d %H:%M:%S}",
                        ),
                    )
        db.executemany(
            "INSERT INTO listings VALUES (?, ?, ?, ?, ?)",
            [(company, sku, f"MP-{sku[-5:]}", "ENABLED", "2024-07-13") for _, sku, company, _, _ in PRODUCTS],
        )
        db.commit()
        tables = ["customers", "orders", "order_items", "cancellations", "shipments", "refunds"]
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        db.close()


def write_carrier_drop(db_path: Path, folder: Path) -> int:
    """A carrier's CSV file of items it delivered (those still in transit in the database),
    dropped in ``folder`` as a carrier would, finished a minute ago. Returns its rows."""
    import csv
    import os
    import shutil
    import time

    folder.mkdir(parents=True, exist_ok=True)
    for leftover in [*folder.glob("*.csv"), folder / "archive", folder / "rejected"]:
        if leftover.is_dir():
            shutil.rmtree(leftover)
        elif leftover.exists():
            leftover.unlink()
    db = sqlite3.connect(db_path)
    try:
        rows = db.execute(
            "SELECT o.order_number, i.sku, s.shipped_at FROM order_items i JOIN orders o ON o.id = i.order_id"
            " JOIN shipments s ON s.id = i.shipment_id WHERE s.status = 'in_transit' ORDER BY i.id"
        ).fetchall()
    finally:
        db.close()
    path = folder / "deliveries-20261120.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["order_number", "sku", "delivered_at"])
        for order_number, sku, shipped_at in rows:
            delivered = datetime.fromisoformat(shipped_at) + timedelta(days=3, hours=2)
            writer.writerow([order_number, sku, f"{delivered:%Y-%m-%d %H:%M:%S}"])
    finished = time.time() - 60
    os.utime(path, (finished, finished))
    return len(rows)
