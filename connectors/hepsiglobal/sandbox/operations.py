"""The table of MP→HG operations the sandbox serves: method, path, check and answer of each.

Paths follow ``spec/hepsiglobal-api.md``; where the spec leaves a path [unknown] or
[inferred] the sandbox uses the same default as the project's operation catalog is expected
to (``/v1/orders/{order_number}/order_items/{order_item_number}/delivery``,
``/v1/shipments/{shipment_id}/status``, ``/v1/products/status``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from connectors.hepsiglobal.sandbox.order_rules import check_create_order
from connectors.hepsiglobal.sandbox.rules import (
    Check,
    check_cancel_order_item,
    check_create_refund,
    check_order_item_delivery,
    check_product_status,
    check_shipment_label,
    check_shipment_status,
    check_tracking_by_barcode,
    check_tracking_by_shipment_id,
)


def _tracking(params: dict[str, str], body: Any) -> dict[str, Any]:
    return {
        "delivery_info": [
            {
                "datetime": "2021-10-06 16:38:19",
                "detail": "Packaged",
                "eventCode": "00",
                "location": "Istanbul",
            }
        ]
    }


@dataclass(frozen=True)
class Operation:
    """One MP→HG operation the sandbox serves: where, how it is checked, what it answers."""

    name: str
    method: str
    path: str
    check: Check
    respond: Callable[[dict[str, str], Any], dict[str, Any]] = lambda params, body: {}
    status: int = 200
    message: str = "Successful Response"
    has_body: bool = True
    # what makes a request of a creating operation the same record (an order number...): with
    # ``refuse_repeats`` the sandbox answers a second one 409, as an API that knows it would
    identity: Callable[[dict[str, str], Any], str] | None = None
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = re.split(r"\{(\w+)\}", self.path)  # literal, name, literal, name, ...
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
        object.__setattr__(self, "pattern", re.compile(regex))

    def match(self, path: str) -> dict[str, str] | None:
        """The URL-decoded path parameters when ``path`` is this operation's, else None."""
        found = self.pattern.fullmatch(path)
        return None if found is None else {k: unquote(v) for k, v in found.groupdict().items()}


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "create_order",
        "POST",
        "/v1/orders",
        check_create_order,
        lambda params, body: {"order_number": body["order_number"]},
        message="Order created",
        identity=lambda params, body: f"order {body['order_number']}",
    ),
    Operation(
        "cancel_order_item",
        "PUT",
        "/v1/orders/{order_number}/order_items/{order_item_number}",
        check_cancel_order_item,
        message="Order item cancelled",
    ),
    Operation(
        "order_item_delivery",
        "PUT",
        "/v1/orders/{order_number}/order_items/{order_item_number}/delivery",
        check_order_item_delivery,
        message="Order item delivery saved",
    ),
    Operation(
        "shipment_label",
        "POST",
        "/v1/shipments/{shipment_id}/label",
        check_shipment_label,
        lambda params, body: {"shipment_id": params["shipment_id"]},
        message="Shipment label saved",
        identity=lambda params, body: f"label of shipment {params['shipment_id']}",
    ),
    Operation(
        "shipment_status",
        "PUT",
        "/v1/shipments/{shipment_id}/status",
        check_shipment_status,
        message="Shipment status saved",
    ),
    Operation(
        "tracking_by_barcode",
        "GET",
        "/v1/tracking/providers/{provider_name}/{tracking_barcode}",
        check_tracking_by_barcode,
        _tracking,
        has_body=False,
    ),
    Operation(
        "tracking_by_shipment_id",
        "GET",
        "/v1/tracking/packages/{shipment_id}",
        check_tracking_by_shipment_id,
        _tracking,
        has_body=False,
    ),
    Operation(
        "create_refund",
        "POST",
        "/v1/refunds",
        check_create_refund,
        lambda params, body: {"request_id": str(uuid.uuid4())},
        status=202,
        message="Refund request accepted; its result follows by webhook",
        identity=lambda params, body: f"refund {body['refund_number']}",
    ),
    Operation(
        "product_status",
        "PUT",
        "/v1/products/status",
        check_product_status,
        message="Product status saved",
    ),
)
OPERATION_NAMES = tuple(op.name for op in OPERATIONS)


def find_operation(
    method: str, path: str, table: tuple[Operation, ...] = OPERATIONS
) -> tuple[Operation | None, dict[str, str], list[str]]:
    """The operation of ``table`` for ``method`` and ``path`` with its path parameters; when
    there is none, the methods that ``path`` does allow (empty: an unknown path)."""
    allowed: list[str] = []
    for op in table:
        params = op.match(path)
        if params is None:
            continue
        if op.method == method:
            return op, params, []
        allowed.append(op.method)
    return None, {}, allowed
