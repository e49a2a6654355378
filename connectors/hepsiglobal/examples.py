"""Example bodies of the MP→HG operations, shown by ``hgsync ops NAME``.

Values follow the HG documentation's examples: a sale of 24.97 EUR at rate 1.05 is
23.78 USD (USD = original / rate), item numbers are ``<order_number>_<sku>``. A test checks
that each one passes its payload model.
"""

from __future__ import annotations

from typing import Any

ORDER_NUMBER = "1001"
SKU = "HBV00000ABCD1"
ITEM_NUMBER = f"{ORDER_NUMBER}_{SKU}"

TOKEN_REQUEST: dict[str, Any] = {
    "grant_type": "client_credentials",
    "client_id": "your-client-id",
    "client_secret": "your-client-secret",
}

PRODUCT_STATUS: dict[str, Any] = {"sku": SKU, "status": "ENABLED"}

CREATE_ORDER: dict[str, Any] = {
    "order_number": ORDER_NUMBER,
    "marketplace": "hepsiglobal",
    "order_date": "2024-07-13T16:01:26+00:00",
    "shipping_type": 1,
    "delivery_point_code": "DP001",
    "order_amount": 23.78,
    "currency": "USD",
    "original_order_amount": 24.97,
    "original_currency": "EUR",
    "currency_rate": 1.05,
    "customer": {"name": "Jane Doe", "phone": "+16172531000", "email": "jane.doe@example.com"},
    "shipping_address": {
        "name": "Jane Doe",
        "phone": "+16172531000",
        "country_code": "US",
        "city": "Cambridge",
        "district": "MA",
        "address_line1": "77 Massachusetts Ave",
        "address_line2": "Building 10",
        "postal_code": "02139",
    },
    "items": [
        {
            "item_number": ITEM_NUMBER,
            "esd": "2024-07-15T16:01:26+00:00",
            "company_id": 12345,
            "spu": "HB0000144QYJ",
            "sku": SKU,
            "product_name": "Ceramic coffee mug, 350 ml",
            "quantity": 1,
            "unit_product_price": 23.78,
            "total_amount_excl_vat": 19.82,
            "total_amount": 23.78,
            "vat_amount": 3.96,
            "currency": "USD",
            "original_total_amount": 24.97,
            "original_currency": "EUR",
            "base_price": 23.78,
            "campaign": {},
        }
    ],
}

ORDER_ITEM_DELIVERY: dict[str, Any] = {"delivered_at": "2024-07-20T11:30:00+03:00"}

CANCEL_ORDER_ITEM: dict[str, Any] = {"reason": "customer_demand"}

SHIPMENT_LABEL: dict[str, Any] = {
    "shipment_label_url": "https://labels.example.com/1001/label.pdf",
    "shipment_label_base64": None,
    "tracking_number": "1Z999AA10123456784",
}

SHIPMENT_STATUS: dict[str, Any] = {
    "status": "IN_TRANSIT",
    "status_date": "2024-07-16T09:00:00+03:00",
}

CREATE_REFUND: dict[str, Any] = {
    "refund_number": "R-5001",
    "order_number": ORDER_NUMBER,
    "refund_date": "2024-07-25T10:00:00+03:00",
    "items": [
        {
            "order_item_number": ITEM_NUMBER,
            "quantity": 1,
            "reason": "incorrect_order",
            "amount": 23.78,
            "currency": "USD",
            "customer_explanation": "Wrong colour",
        }
    ],
}
