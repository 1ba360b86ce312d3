"""Store credit as a Saleor payment method, through Saleor's Transactions API the way
its built-in gift card gateway does (saleor/giftcard/gateway.py).

Apply = ledger hold + a plugin-owned TransactionItem with AUTHORIZATION_SUCCESS; the
reservation follows the cart (`apply`). Capture when the order is confirmed (by a
Celery worker after that commit, `settle_order`), never more than the order still
needs; partial charge and cancel keep the rest reserved; refunds return credit
(`order`). The sweeper settles every hold by the state of its checkout or order
(`sweeper`). `gateway` lists store credit in Saleor's
`paymentGatewayInitialize`.
"""

from ..saleor_tx import GATEWAY_ID, ON_ACCOUNT_ID, PAYMENT_METHOD_NAME
from .apply import (
    applied_hold,
    apply_to_checkout,
    available_for,
    follow_cart,
    left_to_pay,
    prepare_completion,
    remove_from_checkout,
)
from .order import (
    cancel_item,
    capture_for_order,
    charge_requested,
    follow_order,
    may_need_capture,
    refund_item,
    release_for_cancelled_order,
    settle_order,
)
from .sweeper import release_abandoned_holds

__all__ = [
    "GATEWAY_ID",
    "ON_ACCOUNT_ID",
    "PAYMENT_METHOD_NAME",
    "applied_hold",
    "apply_to_checkout",
    "available_for",
    "cancel_item",
    "capture_for_order",
    "charge_requested",
    "follow_cart",
    "follow_order",
    "left_to_pay",
    "may_need_capture",
    "prepare_completion",
    "refund_item",
    "release_abandoned_holds",
    "release_for_cancelled_order",
    "remove_from_checkout",
    "settle_order",
]
