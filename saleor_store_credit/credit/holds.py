"""Credit checks on Saleor checkouts and orders: block, hold, release, reject.

- `check_checkout` runs in `preprocess_order_creation`: a firing *block* rule refuses
  `checkoutComplete`; otherwise the checkout's unpaid amount is reserved under the
  customer's credit lock so a concurrent checkout sees it.
- `on_order_created` runs in `order_created`. In a hold-enabled channel
  (`automaticallyConfirmAllNewOrders = false`) an order that passes is confirmed the
  way `orderConfirm` does; one where a hold (or block) rule fires stays UNCONFIRMED
  with an `OrderHold`, a timeline note, a private-metadata flag and a zero-amount
  "Credit hold" transaction, which also keeps Saleor's expire-orders task away from
  it (saleor/order/tasks.py:156 skips orders that have any TransactionItem).
- Staff release (optionally four-eyes) or reject; edits and a periodic task re-check
  held orders; confirmations/cancellations made elsewhere are detected and recorded.
"""

import logging
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..compat import transaction_payment_method_values
from ..errors import NotFound, StoreCreditError, StoreCreditErrorCode
from ..ledger import Actor
from . import audit
from . import exposure as exp
from . import forced_hold
from .models import (
    ACTIVE_HOLD_STATUSES,
    AuditKind,
    OrderHold,
    OrderHoldStatus,
    RuleAction,
)
from .rules import CUSTOMER_TEXT, NO_PAYMENT, Outcome, Subject, active_rules, evaluate

logger = logging.getLogger(__name__)

SYSTEM = Actor.system("credit management")
HOLD_ITEM_ID = "saleor-store-credit.credit-hold"
HOLD_ITEM_NAME = "Credit hold"
METADATA_KEY = "store_credit.credit_hold"


def _payment_methods(transactions, payments) -> frozenset:
    names = set()
    for item in transactions:
        for value in (item.app_identifier, item.name,
                      *transaction_payment_method_values(item)):
            if value:
                names.add(str(value).strip().lower())
    has_payment = bool(transactions)
    for payment in payments:
        has_payment = True
        for value in (payment.gateway, payment.payment_method_type):
            if value:
                names.add(str(value).strip().lower())
    if not has_payment:
        names.add(NO_PAYMENT)
    return frozenset(names)


def customer_subject(user_id, currency, *, profile=..., **kwargs) -> Subject:
    """A customer's credit subject; `profile`: their CreditProfile (or None) if loaded."""
    if profile is ...:
        profile = exp.profile_for(user_id)
    return Subject(
        user_id=user_id,
        group_id=profile.group_id if profile else None,
        on_hold=bool(profile and profile.on_hold),
        currency=currency,
        **kwargs,
    )


def order_subject(order) -> Subject:
    """The order as it stands; its unpaid part is already in the open-order exposure."""
    return customer_subject(
        order.user_id, order.currency,
        order_total=order.total_gross_amount,
        payment_methods=lambda: _payment_methods(
            [i for i in order.payment_transactions.all() if i.app_identifier != HOLD_ITEM_ID],
            list(order.payments.filter(is_active=True)),
        ),
    )


# --- block at checkout -------------------------------------------------------------------


def check_checkout(checkout_info, settings) -> None:
    """Refuse checkout completion when a block rule fires (ValidationError)."""
    from ..checkout.apply import left_to_pay

    if not settings.credit_checks_in(checkout_info.channel.slug):
        return
    rules = active_rules()
    if not rules:
        return
    checkout = checkout_info.checkout
    user_id = checkout_customer_id(checkout_info)
    with transaction.atomic():
        subject = customer_subject(
            user_id, checkout.currency,
            order_total=checkout.total_gross_amount,
            # checkoutComplete has just priced the checkout (fetch_checkout_data at
            # saleor/checkout/complete_checkout.py:1718), so the stored total is current
            pending_unpaid=left_to_pay(checkout, None, fresh=True),
            payment_methods=lambda: _payment_methods(
                list(checkout.payment_transactions.all()),
                list(checkout.payments.filter(is_active=True)),
            ),
            checkout_token=checkout.token,
        )
        exp.lock_scope(user_id, subject.group_id)
        outcome = evaluate(subject, rules)
        blocked = outcome.with_action(RuleAction.BLOCK)
        if not blocked and user_id is not None and subject.pending_unpaid > 0:
            exp.reserve(checkout.token, user_id, checkout.currency, subject.pending_unpaid)
    if not blocked:
        return
    audit.record(
        AuditKind.CHECKOUT_BLOCKED, SYSTEM, f"Checkout refused: {outcome.summary()}",
        user_id=user_id, data={"checkout": str(checkout.token), **_decision(outcome)},
    )
    why = "; ".join(sorted({CUSTOMER_TEXT[r.rule_type] for r in blocked}))
    raise ValidationError(
        f"This order cannot be placed on account: {why}. Please pay for the order "
        "now or contact us.",
        code=checkout_error_code(),
    )


def checkout_customer_id(checkout_info):
    """The customer the order will belong to, resolved the way Saleor resolves it.

    A guest checkout whose e-mail belongs to an active customer becomes that customer's
    order: `assign_checkout_user` (saleor/checkout/complete_checkout.py) looks the
    e-mail up with `retrieve_user_by_email` (saleor/account/utils.py, case-insensitive)
    when the checkout has no user. `checkoutComplete` has already done so when this
    hook runs; `orderCreateFromCheckout` does it only afterwards, so the lookup is
    repeated here, and the rules judge that customer, not an anonymous guest.
    """
    from saleor.account.utils import retrieve_user_by_email

    checkout = checkout_info.checkout
    if checkout.user_id:
        return checkout.user_id
    user = getattr(checkout_info, "user", None)
    if user is None and checkout.email:
        user = retrieve_user_by_email(checkout.email)
    return user.pk if user is not None and user.is_active else None


def checkout_error_code() -> str:
    """CHECKOUT_NOT_FULLY_PAID for `checkoutComplete`; `orderCreateFromCheckout`'s
    enum has no payment code, and an unknown code fails its whole response."""
    from saleor.checkout.error_codes import (
        CheckoutErrorCode,
        OrderCreateFromCheckoutErrorCode,
    )

    if _from_order_create_from_checkout():
        return OrderCreateFromCheckoutErrorCode.GRAPHQL_ERROR.value
    return CheckoutErrorCode.CHECKOUT_NOT_FULLY_PAID.value


def _from_order_create_from_checkout() -> bool:
    """The hook gets no caller, and the two mutations' error enums differ:
    `orderCreateFromCheckout` (via checkout/checkout_cleaner.py:203, its only user)
    has no payment code, and an unknown code fails the whole response."""
    import os
    import sys

    suffix = os.path.join("checkout", "checkout_cleaner.py")
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "validate_checkout" and code.co_filename.endswith(suffix):
            return True
        frame = frame.f_back
    return False


def _decision(outcome: Outcome) -> dict:
    return {
        "action": outcome.action,
        "reasons": [r.as_dict() for r in outcome.reasons],
        "figures": outcome.figures,
    }


# --- hold on order creation ---------------------------------------------------------------


def _note(order, message: str, user=None, app=None) -> None:
    from saleor.order.events import order_note_added_event

    order_note_added_event(order=order, user=user, app=app, message=message)


def _flag(order, value: str | None) -> None:
    from saleor.order.models import Order

    locked = Order.objects.select_for_update().only("pk", "private_metadata").get(pk=order.pk)
    if value is None:
        locked.delete_value_from_private_metadata(METADATA_KEY)
    else:
        locked.store_value_in_private_metadata({METADATA_KEY: value})
    locked.save(update_fields=["private_metadata", "updated_at"])
    order.private_metadata = locked.private_metadata


def _hold_marker(order, outcome: Outcome) -> None:
    """A zero-amount transaction: visible on the order page, and it stops Saleor's
    expire-orders task from expiring the held order."""
    from saleor.payment import TransactionEventType
    from saleor.payment.models import TransactionEvent, TransactionItem

    item = TransactionItem.objects.filter(order_id=order.pk, app_identifier=HOLD_ITEM_ID).first()
    if item is None:
        item = TransactionItem.objects.create(
            order_id=order.pk, name=HOLD_ITEM_NAME, app_identifier=HOLD_ITEM_ID,
            psp_reference=f"credit-hold-{order.pk}", currency=order.currency,
            available_actions=[],
        )
    TransactionEvent.objects.create(
        transaction=item, type=TransactionEventType.INFO, currency=order.currency,
        amount_value=Decimal(0), app_identifier=HOLD_ITEM_ID,
        message=f"Held for credit review: {outcome.summary()}"[:512],
    )


def _reason_types(outcome: Outcome) -> list[str]:
    return sorted({r.rule_type for r in outcome.with_action(RuleAction.HOLD, RuleAction.BLOCK)})


def on_order_created(order, settings, manager) -> OrderHold | None:
    """`manager`: a callable returning Saleor's PluginsManager (built only if needed)."""
    from saleor.order import OrderStatus

    channel = order.channel
    if not settings.credit_checks_in(channel.slug):
        return None
    hold_channel = not channel.automatically_confirm_all_new_orders
    holdable = hold_channel and order.status == OrderStatus.UNCONFIRMED
    hold = None
    with transaction.atomic():
        subject = order_subject(order)
        exp.lock_scope(order.user_id, subject.group_id)
        exp.drop_reservation(order.checkout_token or None)
        # evaluated even without rules: a forced credit hold holds every order
        outcome = evaluate(subject, active_rules())
        stopping = outcome.with_action(RuleAction.HOLD, RuleAction.BLOCK)
        if holdable and stopping:
            hold = OrderHold.objects.create(
                forced=forced_hold.is_forced(outcome),
                order_id=order.pk, order_number=order.number, user_id=order.user_id,
                channel_slug=channel.slug, currency=order.currency,
                order_total=order.total_gross_amount,
                reasons=[r.as_dict() for r in outcome.reasons],
                reason_types=_reason_types(outcome),
                exposure=Decimal(outcome.figures.get("customer_exposure") or 0),
            )
            _hold_marker(order, outcome)
            _flag(order, "held: " + ", ".join(hold.reason_types))
            _note(order, f"Held for credit review: {outcome.summary()}")
            audit.record(
                AuditKind.ORDER_HELD, SYSTEM, f"Order held: {outcome.summary()}",
                event="order_held", currency=order.currency, **_refs(hold),
                data={**_decision(outcome), "order_number": order.number},
            )
        elif outcome.reasons:
            prefix = "Credit warning" if holdable or not stopping else (
                "Credit rules would hold this order, but the channel confirms "
                "orders automatically")
            _note(order, f"{prefix}: {outcome.summary()}")
            audit.record(
                AuditKind.CHECK_WARNED, SYSTEM, f"{prefix}: {outcome.summary()}",
                order_id=order.pk, user_id=order.user_id, data=_decision(outcome),
            )
        elif holdable:
            audit.record(
                AuditKind.CHECK_PASSED, SYSTEM, "Credit check passed.",
                order_id=order.pk, user_id=order.user_id, data=_decision(outcome),
            )
    if holdable and hold is None:
        confirm_order(order, manager())
    return hold


def _refs(hold: OrderHold) -> dict:
    return {"order_id": hold.order_id, "user_id": hold.user_id, "hold_id": hold.pk}


def confirm_order(order, manager, *, user=None, app=None) -> bool:
    """What Saleor's `orderConfirm` does (graphql/order/mutations/order_confirm.py):
    status from fulfilments, display prices, then `order_confirmed` with the
    confirmation email. Call outside a transaction: hooks run on commit. The caller's
    `order` gets the new status too (in `order_created` it is the object Saleor's
    `checkoutComplete` answers with)."""
    from saleor.order import OrderStatus
    from saleor.order.actions import order_confirmed
    from saleor.order.models import Order
    from saleor.order.utils import update_order_display_gross_prices, update_order_status

    passed = order
    order = Order.objects.select_related("channel").get(pk=order.pk)
    if order.status != OrderStatus.UNCONFIRMED or not order.lines.exists():
        return False
    update_order_status(order)
    update_order_display_gross_prices(order)
    order.save(update_fields=["updated_at", "display_gross_prices"])
    passed.status, passed.updated_at = order.status, order.updated_at
    passed.display_gross_prices = order.display_gross_prices
    order_confirmed(order, user, app, manager, send_confirmation_email=True)
    return True


# --- staff decisions ----------------------------------------------------------------------


def _lock_active(hold_id) -> OrderHold:
    hold = OrderHold.objects.select_for_update().filter(pk=hold_id).first()
    if hold is None:
        raise NotFound("Held order not found.", field="id")
    if not hold.is_active:
        raise StoreCreditError(
            f"This order is no longer held ({hold.get_status_display().lower()}).",
            field="id", code=StoreCreditErrorCode.ORDER_NOT_HELD,
        )
    return hold


def _resolve(hold: OrderHold, status: str, actor: Actor, reason: str) -> None:
    hold.status = status
    hold.resolved_by = audit.actor_key(actor)
    hold.resolved_by_label = actor.label
    hold.resolved_at = timezone.now()
    if reason:
        hold.resolution_reason = reason[:255]
    hold.save()


def release(hold_id, *, actor: Actor, settings, manager, reason: str, review_date=None,
            user=None, app=None) -> OrderHold:
    """Release a held order and confirm it. With four-eyes on, the first call records
    a release request and a second, different staff member's call releases."""
    from saleor.order import OrderStatus
    from saleor.order.models import Order

    reason = _required_reason(reason)
    key = audit.actor_key(actor)
    with transaction.atomic():
        hold = _lock_active(hold_id)
        order = Order.objects.get(pk=hold.order_id)
        if order.status != OrderStatus.UNCONFIRMED:
            raise StoreCreditError("The order is no longer unconfirmed.", field="id",
                                   code=StoreCreditErrorCode.ORDER_NOT_HELD)
        if review_date is not None:
            hold.review_date = review_date
        if settings.credit_four_eyes and hold.status == OrderHoldStatus.HELD:
            hold.status = OrderHoldStatus.RELEASE_REQUESTED
            hold.requested_by, hold.requested_by_label = key, actor.label
            hold.resolution_reason = reason[:255]
            hold.save()
            _note(order, f"Credit hold release requested by {actor.label}: {reason}",
                  user=user, app=app)
            audit.record(
                AuditKind.RELEASE_REQUESTED, actor, f"Release requested: {reason}",
                event="order_release_requested", currency=hold.currency, **_refs(hold),
                data={"reason": reason, "review_date": _iso(hold.review_date)},
            )
            return hold
        if hold.status == OrderHoldStatus.RELEASE_REQUESTED and (
            settings.credit_four_eyes or key == hold.requested_by
        ):
            audit.require_second_person(actor, hold.requested_by, what="approve the release")
        approved = hold.status == OrderHoldStatus.RELEASE_REQUESTED
        _resolve(hold, OrderHoldStatus.RELEASED, actor, reason)
        _flag(order, "released")
        _note(order, f"Released from credit hold by {actor.label}: {reason}",
              user=user, app=app)
        audit.record(
            AuditKind.ORDER_RELEASED, actor, f"Order released: {reason}",
            event="order_released", currency=hold.currency, **_refs(hold),
            data={"reason": reason, "review_date": _iso(hold.review_date),
                  "approved_request_of": hold.requested_by if approved else None,
                  "reasons_at_hold": hold.reasons},
        )
    confirm_order(order, manager, user=user, app=app)
    return hold


def _required_reason(reason) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise StoreCreditError("A reason is required.", field="reason",
                               code=StoreCreditErrorCode.REQUIRED)
    return reason


def _iso(value):
    return value.isoformat() if value else None


def reject(hold_id, *, actor: Actor, manager, reason: str, user=None, app=None) -> OrderHold:
    """Reject a held order: Saleor cancels it (orderCancel's steps)."""
    from saleor.giftcard.utils import deactivate_order_gift_cards
    from saleor.order.models import Order

    from ..compat import cancel_order

    reason = _required_reason(reason)
    with transaction.atomic():
        hold = _lock_active(hold_id)
        order = Order.objects.select_for_update().get(pk=hold.order_id)
        if not order.can_cancel():
            raise StoreCreditError("Saleor cannot cancel this order.", field="id",
                                   code=StoreCreditErrorCode.CANNOT_CANCEL_ORDER)
        _resolve(hold, OrderHoldStatus.REJECTED, actor, reason)
        _flag(order, "rejected")
        _note(order, f"Rejected at credit review by {actor.label}: {reason}",
              user=user, app=app)
        audit.record(
            AuditKind.ORDER_REJECTED, actor, f"Order rejected: {reason}",
            event="order_rejected", currency=hold.currency, **_refs(hold),
            data={"reason": reason, "reasons_at_hold": hold.reasons},
        )
        cancel_order(order, user, app, manager)
        deactivate_order_gift_cards(order.id, user, app)
    return hold


# --- re-checks ------------------------------------------------------------------------------


def recheck(hold_id, *, manager, trigger: str) -> str:
    """Re-evaluate a held order; release it when no hold reason applies any more.

    Returns "released", "ready" (marked ready to release, kept), "updated",
    "unchanged" or "inactive"."""
    from saleor.order import OrderStatus
    from saleor.order.models import Order

    with transaction.atomic():
        hold = OrderHold.objects.select_for_update().filter(
            pk=hold_id, status__in=ACTIVE_HOLD_STATUSES
        ).first()
        if hold is None:
            return "inactive"
        order = Order.objects.filter(pk=hold.order_id).select_related("channel").first()
        if order is None or order.status != OrderStatus.UNCONFIRMED:
            _outside(hold, order, confirmed=order is not None and order.status not in (
                OrderStatus.CANCELED, OrderStatus.EXPIRED))
            return "inactive"
        subject = order_subject(order)
        exp.lock_scope(order.user_id, subject.group_id)
        outcome = evaluate(subject)
        stopping = outcome.with_action(RuleAction.HOLD, RuleAction.BLOCK)
        if stopping:
            types = _reason_types(outcome)
            forced = hold.forced or forced_hold.is_forced(outcome)
            if types == hold.reason_types and [r["message"] for r in hold.reasons] == [
                r.message for r in outcome.reasons
            ] and forced == hold.forced and hold.ready_to_release_at is None:
                return "unchanged"
            hold.reasons = [r.as_dict() for r in outcome.reasons]
            hold.reason_types = types
            hold.exposure = Decimal(outcome.figures.get("customer_exposure") or 0)
            # reasons apply again: no longer ready to release
            hold.forced, hold.ready_to_release_at = forced, None
            hold.save(update_fields=["reasons", "reason_types", "exposure", "forced",
                                     "ready_to_release_at"])
            _flag(order, "held: " + ", ".join(types))
            _note(order, f"Credit hold re-checked ({trigger}): {outcome.summary()}")
            audit.record(
                AuditKind.HOLD_UPDATED, SYSTEM,
                f"Hold reasons changed ({trigger}): {outcome.summary()}",
                **_refs(hold), data=_decision(outcome),
            )
            return "updated"
        # "evaluate for release": forced holds, and channels without automatic
        # release, are only marked ready to release (forced_hold.release_decision)
        kept = forced_hold.release_decision(hold, trigger)
        if kept is not None:
            if kept == "ready":
                _flag(order, "ready to release")
                _note(order, forced_hold.ready_note(hold, trigger))
            return kept
        message = f"No credit hold reason applies any more ({trigger})."
        _resolve(hold, OrderHoldStatus.RELEASED, SYSTEM, message)
        _flag(order, "released")
        _note(order, f"Released from credit hold automatically: {message}")
        audit.record(
            AuditKind.ORDER_RELEASED, SYSTEM, f"Order released: {message}",
            event="order_released", currency=hold.currency, **_refs(hold),
            data={**_decision(outcome), "trigger": trigger, "reasons_at_hold": hold.reasons},
        )
    confirm_order(order, manager)
    return "released"


def evaluate_held_orders(manager, *, limit: int = 500) -> dict:
    """The periodic 'evaluate for release' pass, plus cleanup of stale reservations."""
    counts = {"released": 0, "updated": 0, "unchanged": 0, "inactive": 0, "ready": 0}
    ids = list(
        OrderHold.objects.filter(status__in=ACTIVE_HOLD_STATUSES)
        .order_by("created_at").values_list("pk", flat=True)[:limit]
    )
    for hold_id in ids:
        try:
            counts[recheck(hold_id, manager=manager, trigger="periodic evaluation")] += 1
        except Exception:  # one bad order must not stop the pass
            logger.exception("Credit re-check of hold %s failed", hold_id)
    counts["reservations_purged"] = exp.purge_reservations()
    return counts


def active_hold_id(order_id):
    return (
        OrderHold.objects.filter(order_id=order_id, status__in=ACTIVE_HOLD_STATUSES)
        .values_list("pk", flat=True).first()
    )


def on_order_updated(order, settings, manager) -> str | None:
    """Re-check a held order after staff edit it (lines, shipping, discounts).
    `manager`: a callable returning Saleor's PluginsManager."""
    from saleor.order import OrderStatus
    from ..compat import refresh_order_prices

    if order.status != OrderStatus.UNCONFIRMED or not settings.credit_checks_in(
        order.channel.slug
    ):
        return None
    hold_id = active_hold_id(order.pk)
    if hold_id is None:
        return None
    manager = manager()
    refresh_order_prices(order, manager)
    return recheck(hold_id, manager=manager, trigger="order edited")


def _outside(hold: OrderHold, order, *, confirmed: bool) -> None:
    """Record a confirmation or cancellation of a held order made elsewhere."""
    from saleor.order import OrderEvents

    event = None
    if order is not None:
        kind = OrderEvents.CONFIRMED if confirmed else OrderEvents.CANCELED
        event = order.events.filter(type=kind).select_related("user", "app").order_by(
            "-date"
        ).first()
    if event is not None and event.app_id:
        actor = Actor.for_app(event.app)
    elif event is not None and event.user_id:
        actor = Actor.for_user(event.user)
    else:
        actor = Actor.system("Saleor")
    status = OrderHoldStatus.CONFIRMED_OUTSIDE if confirmed else OrderHoldStatus.CANCELLED_OUTSIDE
    what = "confirmed" if confirmed else "cancelled"
    _resolve(hold, status, actor, f"Order {what} outside the credit review.")
    if order is not None:
        _flag(order, f"{what} outside review")
        _note(order, f"Credit hold closed: the order was {what} by {actor.label} "
                     "without a credit release.")
    audit.record(
        AuditKind.CONFIRMED_OUTSIDE if confirmed else AuditKind.CANCELLED_OUTSIDE, actor,
        f"Held order {what} outside the plugin.",
        event="order_released" if confirmed else "order_rejected", currency=hold.currency,
        **_refs(hold), data={"external": True, "reasons_at_hold": hold.reasons},
    )


def on_order_confirmed_or_cancelled(order, settings, *, confirmed: bool) -> bool:
    """A held order confirmed (orderConfirm) or cancelled (orderCancel) directly."""
    if not settings.credit_checks_in(order.channel.slug):
        return False
    with transaction.atomic():
        hold = OrderHold.objects.select_for_update().filter(
            order_id=order.pk, status__in=ACTIVE_HOLD_STATUSES
        ).first()
        if hold is None:
            return False
        _outside(hold, order, confirmed=confirmed)
    return True
