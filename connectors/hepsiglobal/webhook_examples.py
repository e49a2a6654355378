"""Example bodies of the HG → MP webhooks, shown by ``hgsync ops NAME``.

Field names and values follow the spec's [doc] and [example] facts: HG product codes look like
``HB0000144QYJ`` (spu) and ``HBCV...`` (variant sku), webhook item numbers like
``NMSAC3R37F2891PN-IO-1_HBCV...``, carriers are ``hepsijet`` or ``wwe``. Where the spec
names fields only in a title, the example uses the [inferred] names of
:mod:`connectors.hepsiglobal.webhook_models`. A test checks each one passes its model.
"""

from __future__ import annotations

from typing import Any

COMPANY_ID = 12345
SPU = "HB0000144QYJ"
SKU = "HBCV00000ABCD1"
MP_SKU = "MP-MUG-350-BLUE"
ORDER_NUMBER = "NMSAC3R37F2891PN"
ORDER_ITEM_NUMBER = f"{ORDER_NUMBER}-IO-1_{SKU}"

PRODUCT_UPDATE: dict[str, Any] = {
    "product": {
        "spu": SPU,
        "name": "Ceramic coffee mug",
        "brand": "Example Porcelain",
        "variant_axes": ["Color", "Volume"],
        "category_trail": "Home > Kitchen > Mugs",
        "product_id": 987654,
        "updated_at": "2024-07-13T16:01:26+00:00",
    },
    "variants": [
        {"sku": SKU, "barcode": "8690000000011", "attributes": {"Color": "Blue", "Volume": "350 ml"}},
        {
            "sku": "HBCV00000ABCD2",
            "barcode": "8690000000028",
            "attributes": {"Color": "Red", "Volume": "350 ml"},
        },
    ],
}

PRODUCT_CREATE: dict[str, Any] = PRODUCT_UPDATE  # the same shape [inferred]

VARIANT_UPDATE: dict[str, Any] = {
    "sku": SKU,
    "spu": SPU,
    "name": "Ceramic coffee mug, blue, 350 ml",
    "barcode": "8690000000011",
    "attributes": {"Color": "Blue", "Volume": "350 ml"},
    "description": "<p>Dishwasher-safe <b>porcelain</b> mug.</p>",
}

VARIANT_CREATE: dict[str, Any] = VARIANT_UPDATE  # alike [inferred]

PRODUCT_ENABLE_DISABLE: dict[str, Any] = {"company_id": COMPANY_ID, "spu": SPU, "status": "DISABLED"}

LISTING_PRIORITY: dict[str, Any] = {"company_id": COMPANY_ID, "sku": SKU, "priority": 1}

STOCK_UPDATE: dict[str, Any] = {
    "items": [
        {"sku": SKU, "company_id": COMPANY_ID, "stock": 42},
        {"sku": "HBCV00000ABCD2", "company_id": COMPANY_ID, "stock": 0},
    ]
}

PRICE_UPDATE: dict[str, Any] = {
    "items": [
        {
            "sku": SKU,
            "company_id": COMPANY_ID,
            "price": 19.9,
            "retail_price": 24.9,
            "currency": "USD",
            "channel": "web",
            "discount_percentage": 20,
        }
    ]
}

BULK_MERCHANT_ACTIVE: dict[str, Any] = {"company_ids": [COMPANY_ID, 12346]}

BULK_MERCHANT_INACTIVE: dict[str, Any] = {"company_ids": [12347]}

VARIANT_LISTING_STATUS: dict[str, Any] = {
    "company_id": COMPANY_ID,
    "sku": [SKU],
    "mp_status": "ENABLED",
    "report_date": "2024-07-13",
    "page": 1,
    "size": 100,
}

VARIANT_LISTING_STATUS_ANSWER: dict[str, Any] = {
    "items": [
        {
            "company_id": COMPANY_ID,
            "sku": SKU,
            "mp_sku": MP_SKU,
            "status": "ENABLED",
            "report_date": "2024-07-13",
        }
    ],
    "page": 1,
    "size": 100,
    "total": 1,
}

VARIANT_LISTING_COUNT: dict[str, Any] = {"company_id": str(COMPANY_ID), "mp_status": "ENABLED"}

VARIANT_LISTING_COUNT_ANSWER: dict[str, Any] = {
    "count": 1,
    "filters": {"company_id": COMPANY_ID, "mp_status": "ENABLED"},
}

SEND_INVOICE: dict[str, Any] = {
    "order_number": ORDER_NUMBER,
    "invoice_number": "INV-2024-000123",
    "invoice_url": "https://invoices.example.com/NMSAC3R37F2891PN.pdf",
}

ORDER_CANCEL_BY_SELLER: dict[str, Any] = {
    "cancel_id": 556677,
    "order_number": ORDER_NUMBER,
    "order_item_number": ORDER_ITEM_NUMBER,
    "cancel_quantity": 1,
    "reason": "out_of_stock",
}

CREATE_SHIPMENT: dict[str, Any] = {
    "order_number": ORDER_NUMBER,
    "tracking": [
        {
            "carrier": "hepsijet",
            "tracking_number": "HJ1234567890",
            "is_first_mile": True,
            "is_default": False,
        },
        {"carrier": "wwe", "tracking_number": "WWE0987654321", "is_first_mile": False, "is_default": True},
    ],
}

SHIPMENT_STATUS_BY_HG: dict[str, Any] = {
    "shipment_id": "SHP-778899",
    "order_number": ORDER_NUMBER,
    "status": "IN_TRANSIT",
    "status_date": "2024-07-16T09:00:00+03:00",
}

CANCEL_SHIPMENT: dict[str, Any] = {
    "shipment_id": "SHP-778899",
    "order_number": ORDER_NUMBER,
    "reason": "order_cancelled",
}

REFUND_CREATE_RESULT: dict[str, Any] = {
    "request_id": "rfq-0001",
    "refund_number": "R-5001",
    "status": "ACCEPTED",
}
