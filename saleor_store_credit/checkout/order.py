"""Store credit on an order: capture at confirmation, staff charge/cancel/refund
requests, cancellation, and following staff edits of an unconfirmed order.

Rules, all under the lock of the order's store-credit TransactionItem (every path
that resolves its hold takes that lock first, so the checks below cannot go stale):
- never charge more than the order still needs after its other payments
  (Saleor's charge-status rule: total − granted refunds, saleor/order/utils.py);
- a partial charge or cancel keeps the rest reserved: the ledger's active hold and
  Saleor's authorized amount are always equal;
- refunds never exceed what was charged.
"""

from decimal import Decimal

from django.db import transaction
from django.db.models import F, OuterRef, Subquery, Sum

from saleor.payment import TransactionEventType
from saleor.payment.models import TransactionItem

from .. import saleor_tx as tx
from ..ledger import Actor, Refs, capture_hold, credit, release_hold, resize_hold
from ..ledger.idempotency import internal_key
from ..models import Entry, EntryKind, Hold, HoldStatus
from ..queries import scalar
from .apply import active_hold_of

SYSTEM = Actor.system("store credit")
_ZERO = Decimal(0)


def _locked_items(order_pk, **filters):
    return list(
        TransactionItem.objects.select_for_update(of=("self",))
        .filter(order_id=order_pk, app_identifier=tx.GATEWAY_ID, **filters)
        .order_by("pk")
    )


def _needed_annotations(order_ref="order_id", item_ref="pk") -> dict:
    """Annotations of a TransactionItem for `still_needed`: the order's granted
    refunds, everything charged on it, what its other payments have authorized."""
    from saleor.order.models import OrderGrantedRefund

    transactions = TransactionItem.objects.filter(order_id=OuterRef(order_ref))
    return {
        "sc_granted": scalar(OrderGrantedRefund.objects.filter(order_id=OuterRef(order_ref)),
                             "SUM", F("amount_value"), default=0),
        "sc_charged": scalar(transactions, "SUM", F("charged_value"), default=0),
        "sc_pending": scalar(transactions.exclude(pk=OuterRef(item_ref)), "SUM",
                             F("authorized_value") + F("authorize_pending_value")
                             + F("charge_pending_value"), default=0),
    }


def _needed_from(order, annotated) -> Decimal:
    paid = annotated.sc_granted + annotated.sc_charged + annotated.sc_pending
    return max(order.total_gross_amount - paid, _ZERO)


def still_needed(order, item) -> Decimal:
    """What `order` still needs from `item`: its total minus granted refunds, minus
    everything charged, minus what its other payments have authorized (Saleor's
    charge-status rule, saleor/order/utils.py). One query."""
    annotated = TransactionItem.objects.annotate(**_needed_annotations()).get(pk=item.pk)
    return _needed_from(order, annotated)


def _locked_with_holds(order_pk):
    """The order's store-credit authorizations, locked, each with its active hold
    (`sc_hold`, or None) and what the order still needs (`sc_needed_*`): one query."""
    holds = Hold.objects.filter(transaction_id=OuterRef("token"), status=HoldStatus.ACTIVE)
    items = list(
        TransactionItem.objects.select_for_update(of=("self",))
        .filter(order_id=order_pk, app_identifier=tx.GATEWAY_ID, authorized_value__gt=0)
        .annotate(sc_hold_pk=Subquery(holds.values("pk")[:1]),
                  sc_hold_account=Subquery(holds.values("account_id")[:1]),
                  sc_hold_amount=Subquery(holds.values("amount")[:1]),
                  **_needed_annotations())
        .order_by("pk")
    )
    for item in items:
        item.sc_hold = None
        if item.sc_hold_pk is not None:
            item.sc_hold = Hold(id=item.sc_hold_pk, account_id=item.sc_hold_account,
                                amount=item.sc_hold_amount, status=HoldStatus.ACTIVE)
            item.sc_hold._state.adding = False
    return items


def _charge(order, item, hold: Hold, amount: Decimal, *, keep_rest: bool,
            request_event=None):
    entry = capture_hold(
        hold=hold, actor=SYSTEM, amount=None if amount == hold.amount else amount,
        keep_rest=keep_rest,
        refs=Refs(order_id=order.pk, transaction_id=item.token),
        reason=f"Order {order.number}", savepoint=False,
    )
    rest = hold.amount - amount
    tx.charge(item, amount, f"Store credit charged (entry {entry.pk}).",
              still_authorized=keep_rest and rest > 0, request_event=request_event)
    tx.timeline(order, f"Store credit charged: {tx.fmt(amount, item.currency)}.",
                f"store-credit-entry:{entry.pk}")
    return entry


# Orders in these states are neither confirmed nor finished: their holds wait.
ORDER_WAITING = ("unconfirmed", "draft")
ORDER_ENDED = ("canceled", "expired")


def may_need_capture(order, *, store_credit_seen: bool | None = None) -> bool:
    """Whether a just confirmed order may carry store credit to capture. No query for
    an order with nothing authorized, nor when the checkout's completion gate has
    just looked (`store_credit_seen`, `apply.prepare_completion`); else one.

    A reservation placed after the gate looked (a shopper's apply racing the order
    creation) is captured by the sweeper, which settles every hold on a confirmed
    order (`sweeper.release_abandoned_holds`)."""
    if getattr(order, "total_authorized_amount", None) == 0:
        return False
    if store_credit_seen is not None:
        return store_credit_seen
    return TransactionItem.objects.filter(
        order_id=order.pk, app_identifier=tx.GATEWAY_ID, authorized_value__gt=0
    ).exists()


def settle_order(order_id) -> int:
    """The capture requested when the order was confirmed, run by a Celery worker
    after that commit (as a payment app charges after Saleor's request), so the
    shopper's `checkoutComplete` does not wait for it: by the order's state when it
    runs, captured if it is confirmed, released if it ended meanwhile, left alone
    while it waits. Exactly once, as `capture_for_order`; a lost task is made up by
    the sweeper."""
    from saleor.order.models import Order

    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        return 0
    if order.status in ORDER_ENDED:
        return release_for_cancelled_order(order, reason=f"order {order.status}")
    if order.status in ORDER_WAITING:
        return 0
    return capture_for_order(order)


def capture_for_order(order) -> int:
    """Charge each store-credit authorization of a confirmed order, never more than
    the order still needs; what it does not need is released. Exactly once: under the
    item lock a resolved hold is simply not there any more. Costs no query for an
    order with nothing authorized, one for an order authorized by other methods."""
    if getattr(order, "total_authorized_amount", None) == 0:
        return 0
    if hasattr(order, "_prefetched_objects_cache"):
        order._prefetched_objects_cache.pop("payment_transactions", None)
    captured = 0
    # Saleor calls this after the order commit, so this is normally the outermost
    # transaction; nested (e.g. a test's transaction) it adds no savepoint.
    with transaction.atomic(savepoint=False):
        for number, item in enumerate(_locked_with_holds(order.pk)):
            hold = item.sc_hold
            if hold is None:
                continue
            # after a first charge the figures read with the lock are out of date
            needed = _needed_from(order, item) if number == 0 else still_needed(order, item)
            amount = min(hold.amount, needed)
            if amount > 0:
                _charge(order, item, hold, amount, keep_rest=False)
                captured += 1
            else:
                release_hold(hold=hold, actor=SYSTEM, reason="the order is paid otherwise")
            if amount < hold.amount:
                tx.cancel(item, hold.amount - amount,
                          "Store credit released: the order does not need it.",
                          still_authorized=False)
                tx.timeline(order, "Store credit released, not needed by the order: "
                                   f"{tx.fmt(hold.amount - amount, item.currency)}.")
    return captured


def charge_requested(item: TransactionItem, request_event) -> None:
    """A staff charge request (transactionRequestAction CHARGE, maybe partial)."""
    from saleor.order.models import Order

    with transaction.atomic():
        item = TransactionItem.objects.select_for_update(of=("self",)).get(pk=item.pk)
        hold = active_hold_of(item)
        if item.order_id is None:
            return tx.fail(request_event, TransactionEventType.CHARGE_FAILURE,
                           "Store credit is charged when the order is placed.")
        if hold is None:
            return tx.fail(request_event, TransactionEventType.CHARGE_FAILURE,
                           "No store credit is reserved for this payment.")
        order = Order.objects.get(pk=item.order_id)
        amount = min(request_event.amount_value, hold.amount, still_needed(order, item))
        if amount <= 0:
            return tx.fail(request_event, TransactionEventType.CHARGE_FAILURE,
                           "The order does not need more payment.")
        _charge(order, item, hold, amount, keep_rest=True, request_event=request_event)


def cancel_item(item: TransactionItem, request_event) -> None:
    """A cancel request (Dashboard, Saleor's release of funds, maybe partial):
    release exactly the requested part of the reservation."""
    with transaction.atomic():
        item = TransactionItem.objects.select_for_update(of=("self",)).get(pk=item.pk)
        hold = active_hold_of(item)
        if hold is None:
            return tx.fail(request_event, TransactionEventType.CANCEL_FAILURE,
                           "Nothing reserved to cancel.")
        amount = min(request_event.amount_value, hold.amount)
        if amount <= 0:
            return tx.fail(request_event, TransactionEventType.CANCEL_FAILURE,
                           "Nothing to cancel.")
        resize_hold(hold=hold, amount=hold.amount - amount, actor=SYSTEM,
                    reason="authorization cancelled")
        tx.cancel(item, amount, "Store credit released.",
                  still_authorized=amount < hold.amount, request_event=request_event)


def charged_amount(item) -> Decimal:
    return Entry.objects.filter(
        transaction_id=item.token, kind=EntryKind.PAYMENT
    ).aggregate(total=Sum("amount"))["total"] or _ZERO


def refund_item(item: TransactionItem, request_event) -> bool:
    """Return charged store credit to the balance, never more than was charged."""
    amount = request_event.amount_value
    with transaction.atomic():
        item = TransactionItem.objects.select_for_update(of=("self",)).get(pk=item.pk)
        capture = Entry.objects.filter(
            transaction_id=item.token, kind=EntryKind.PAYMENT
        ).select_related("account").first()
        charged = charged_amount(item)
        refunded = Entry.objects.filter(
            transaction_id=item.token, kind=EntryKind.REFUND
        ).aggregate(total=Sum("amount"))["total"] or _ZERO
        if capture is None or amount <= 0 or refunded + amount > charged:
            tx.fail(request_event, TransactionEventType.REFUND_FAILURE,
                    "Refund exceeds the store credit charged.")
            return False
        entry = credit(
            account=capture.account, amount=amount, kind=EntryKind.REFUND,
            actor=SYSTEM, reason="Refund of order payment",
            refs=Refs(order_id=item.order_id, transaction_id=item.token),
            idempotency_key=internal_key("refund", request_event.pk),
        )
        tx.timeline(
            item.order_id,
            "Store credit refunded to the customer's balance: "
            f"{tx.fmt(entry.amount, item.currency)}.",
            f"store-credit-entry:{entry.pk}",
        )
        left = charged - refunded - amount
        tx.answer(
            request_event, TransactionEventType.REFUND_SUCCESS, amount,
            "Store credit refunded.",
            actions=[tx.REFUND] if left > 0 else [],
        )
    return True


def release_for_cancelled_order(order, reason="order cancelled") -> int:
    released = 0
    with transaction.atomic():
        for item in _locked_items(order.pk, authorized_value__gt=0):
            hold = active_hold_of(item)
            if hold is None:
                continue
            release_hold(hold=hold, actor=SYSTEM, reason=reason)
            tx.cancel(item, hold.amount, f"Store credit released: {reason}.",
                      still_authorized=False)
            tx.timeline(order.pk, "Store credit reservation released: "
                                  f"{tx.fmt(hold.amount, item.currency)}.",
                        f"store-credit-hold:{hold.pk}")
            released += 1
    return released


def follow_order(order, manager) -> int:
    """After staff edit an unconfirmed order: a reservation larger than what the
    order still needs shrinks to it. No query for orders without an authorization."""
    from saleor.order import OrderStatus

    if order.status != OrderStatus.UNCONFIRMED or not order.total_authorized_amount:
        return 0
    from ..compat import refresh_order_prices

    if not TransactionItem.objects.filter(
        order_id=order.pk, app_identifier=tx.GATEWAY_ID, authorized_value__gt=0
    ).exists():
        return 0
    refresh_order_prices(order, manager)
    changed = 0
    with transaction.atomic():
        for item in _locked_items(order.pk, authorized_value__gt=0):
            hold = active_hold_of(item)
            if hold is None:
                continue
            needed = still_needed(order, item)
            if hold.amount <= needed:
                continue
            resize_hold(hold=hold, amount=needed, actor=SYSTEM, reason="the order changed")
            tx.cancel(item, hold.amount - needed,
                      "Store credit released: the order needs less.",
                      still_authorized=needed > 0)
            tx.timeline(order, "Store credit released after the order was edited: "
                               f"{tx.fmt(hold.amount - needed, item.currency)}.")
            changed += 1
    return changed

