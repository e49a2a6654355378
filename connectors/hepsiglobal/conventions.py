"""What HG's examples do without the documentation making it a rule: warnings, never rejections.

An order item number is ``<order_number>_<sku>`` in the Create Order and Cancel examples, but the
Create Refund example uses ``order_number: "mp_order123"`` with ``order_item_number: "oi1"``
(``spec/hepsiglobal-api.md``). A request that breaks the convention is sent; ``hgsync validate``
shows the warning so that an operator can tell a slip from a deliberate numbering.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _warn(order_number: Any, item_number: Any, where: str, sku: Any = None) -> list[str]:
    if not isinstance(order_number, str) or not isinstance(item_number, str) or not order_number:
        return []
    expected = f"{order_number}_{sku}" if isinstance(sku, str) and sku else f"{order_number}_..."
    fits = item_number == expected if expected[-3:] != "..." else item_number.startswith(order_number + "_")
    if fits:
        return []
    return [
        f"{where}: {item_number!r} is not {expected!r}, the <order_number>_<sku> form of HG's "
        "examples (a convention, not a rule: it is sent as it is)"
    ]


def advice(operation: str, params: Mapping[str, Any], body: Any) -> list[str]:
    """Warnings about ``body`` (and path ``params``) of ``operation``; [] when it follows the examples."""
    found: list[str] = []
    if operation in ("cancel_order_item", "order_item_delivery"):
        found += _warn(params.get("order_number"), params.get("order_item_number"), "path.order_item_number")
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        return found
    for index, item in enumerate(body["items"]):
        if not isinstance(item, dict):
            continue
        if operation == "create_order":
            found += _warn(
                body.get("order_number"),
                item.get("item_number"),
                f"items[{index}].item_number",
                item.get("sku"),
            )
        elif operation == "create_refund":
            found += _warn(
                body.get("order_number"), item.get("order_item_number"), f"items[{index}].order_item_number"
            )
    return found
