"""The hold sweeper: every active hold is settled by the state of what it reserves.

- on a checkout: released when it outlived the configured lifetime (unless Saleor
  is completing the checkout) or when the checkout is gone;
- on an order: captured once the order is confirmed, released once it is cancelled
  or expired, kept while it is unconfirmed;
- reserving for a payment that no longer exists in Saleor: released, and reported.

This is also what puts things right after the plugin was switched off: Saleor then
calls none of its hooks, so orders confirmed or cancelled meanwhile were neither
charged nor released. The sweeper runs every few minutes and once when the plugin
is switched back on. What it cannot settle is reported with the webhook
`store_credit.hold_unresolved` and in the reconciliation report.
"""

import logging

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from saleor.checkout.lock_objects import checkout_qs_select_for_update
from saleor.payment.models import TransactionItem

from ..ledger import Actor, release_hold
from ..models import Hold, HoldStatus
from ..signals import store_credit_event
from .apply import _being_completed, release_checkout_hold
from .order import ORDER_ENDED, ORDER_WAITING, capture_for_order, release_for_cancelled_order

logger = logging.getLogger(__name__)

SYSTEM = Actor.system("store credit")
_WAITING = ORDER_WAITING
_ENDED = ORDER_ENDED


def release_abandoned_holds(*, now=None, batch_size: int = 500) -> int:
    """Settle active holds as described above; returns how many were settled."""
    now = now or timezone.now()
    items = TransactionItem.objects.filter(token=OuterRef("transaction_id"))
    candidates = (
        Hold.objects.filter(status=HoldStatus.ACTIVE, transaction_id__isnull=False)
        .annotate(
            on_waiting_order=Exists(items.filter(order__status__in=_WAITING)),
            on_checkout=Exists(items.filter(checkout_id__isnull=False)),
        )
        .filter(on_waiting_order=False)
        .order_by("pk")
    )
    settled = 0
    for hold in candidates[:batch_size]:
        if hold.on_checkout and (hold.expires_at is None or hold.expires_at > now):
            continue
        try:
            settled += _settle(hold, now)
        except Exception:  # one bad hold must not stop the pass
            logger.exception("Store credit hold %s could not be settled", hold.pk)
            report_unresolved(hold, "settling failed; see the worker log")
    return settled


def _settle(hold: Hold, now) -> int:
    from saleor.order.models import Order

    item = TransactionItem.objects.filter(token=hold.transaction_id).first()
    if item is not None and item.order_id is not None:
        order = Order.objects.get(pk=item.order_id)
        if order.status in _ENDED:
            return release_for_cancelled_order(order, reason=f"order {order.status}")
        if order.status in _WAITING:
            return 0
        captured = capture_for_order(order)
        if Hold.objects.filter(pk=hold.pk, status=HoldStatus.ACTIVE).exists():
            report_unresolved(hold, f"order {order.number} is {order.status}")
        return max(captured, 1)
    with transaction.atomic():
        if item is not None and item.checkout_id is not None:
            locked = checkout_qs_select_for_update().filter(pk=item.checkout_id).first()
            if locked is not None and locked.is_checkout_locked():
                return 0
            item = TransactionItem.objects.select_for_update(of=("self",)).filter(
                pk=item.pk).first()
        current = Hold.objects.select_for_update().get(pk=hold.pk)
        if current.status != HoldStatus.ACTIVE:
            return 0
        if item is None:
            release_hold(hold=current, actor=SYSTEM, reason="its payment no longer exists")
            report_unresolved(current, "the Saleor payment transaction no longer exists")
            return 1
        if item is not None and item.order_id is not None:
            return 0  # completed meanwhile: the next pass settles it by the order
        on_checkout = item.checkout_id is not None
        if on_checkout and _being_completed(current):
            return 0
        release_checkout_hold(
            current, item,
            "hold expired" if on_checkout else "checkout no longer exists",
            expired=on_checkout,
        )
        return 1


def report_unresolved(hold: Hold, why: str) -> None:
    """Tell finance about a hold the sweeper could not settle normally."""
    from saleor.order.models import Order

    order = (
        Order.objects.filter(checkout_token=str(hold.checkout_id)).only("pk", "number").first()
        if hold.checkout_id else None
    )
    logger.warning("Store credit hold %s: %s", hold.pk, why)
    store_credit_event.send(
        sender=Hold, event="hold_unresolved", currency=None,
        data={
            "hold_id": hold.pk, "account_id": hold.account_id,
            "amount": str(hold.amount), "status": hold.status, "reason": why,
            "checkout_id": str(hold.checkout_id) if hold.checkout_id else None,
            "transaction_id": str(hold.transaction_id) if hold.transaction_id else None,
            "order_id": str(order.pk) if order else None,
            "order_number": order.number if order else None,
        },
    )
