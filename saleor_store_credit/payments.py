"""Store credit as a Saleor payment method, through Saleor's Transactions API the way
its built-in gift card gateway does (saleor/giftcard/gateway.py).

Apply = ledger hold + a plugin-owned TransactionItem with AUTHORIZATION_SUCCESS.
Capture (order confirmed) = ledger capture + CHARGE_SUCCESS. Cancel/remove/expiry =
ledger release + CANCEL_SUCCESS. Refund = ledger credit + REFUND_SUCCESS. Saleor's own
event helpers recompute checkout and order statuses and fire its webhooks.
"""

import logging
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery, Sum
from django.utils import timezone

from saleor.checkout.calculations import calculate_checkout_total_with_gift_cards
from saleor.checkout.fetch import fetch_checkout_info, fetch_checkout_lines
from saleor.checkout.lock_objects import checkout_qs_select_for_update
from saleor.checkout.models import Checkout
from saleor.graphql.payment.mutations.transaction.utils import (
    create_transaction_event_requested,
)
from saleor.payment import TransactionAction, TransactionEventType
from saleor.payment.models import TransactionEvent, TransactionItem
from saleor.payment.utils import (
    create_transaction_event_for_transaction_session,
    create_transaction_event_from_request_and_webhook_response,
    get_transaction_item_params,
)

from .conf import StoreCreditSettings
from .errors import (
    InsufficientFunds,
    InvalidAmount,
    NotFound,
    StoreCreditError,
    StoreCreditErrorCode,
)
from .ledger import Actor, Refs, capture_hold, credit, get_or_create_account
from .ledger import place_hold, release_hold
from .ledger.idempotency import internal_key
from .models import Account, Entry, EntryKind, Hold, HoldStatus
from .money import parse_amount, quantum

logger = logging.getLogger(__name__)

GATEWAY_ID = "saleor-store-credit"
PAYMENT_METHOD_NAME = "Store credit"
SYSTEM = Actor.system("store credit")


def _response(result: str, amount: Decimal, message: str = "", actions=None) -> dict:
    response = {
        "result": result.upper(),
        "pspReference": str(uuid4()),
        "amount": amount,
        "message": message,
    }
    if actions is not None:
        response["actions"] = actions
    return response


def _fmt(amount: Decimal, currency: str) -> str:
    return f"{amount.quantize(quantum(currency))} {currency}"


def _timeline(order, message: str, reference: str = "") -> None:
    """An entry on the order's timeline in the Dashboard (`order`: object or id)."""
    from saleor.order.events import transaction_event
    from saleor.order.models import Order

    if not isinstance(order, Order):
        order = Order.objects.filter(pk=order).first()
    if order is not None:
        transaction_event(
            order=order, user=None, app=None, reference=reference, message=message
        )


# --- reads -------------------------------------------------------------------


def applied_hold(checkout_token) -> Hold | None:
    return (
        Hold.objects.filter(checkout_id=checkout_token, status=HoldStatus.ACTIVE)
        .select_related("account")
        .first()
    )


def available_for(user, currency: str) -> Decimal:
    account = Account.objects.filter(user=user, currency=currency).first()
    return account.available if account else Decimal(0)


def left_to_pay(checkout: Checkout, manager, *, excluding=None, fresh=False) -> Decimal:
    """Checkout total minus what other transactions already cover.

    Prices are recalculated only when Saleor's own price cache for the checkout has
    expired; otherwise the stored total is current (the storefront just computed it)
    and recalculating would only repeat Saleor's work. `fresh`: the caller knows Saleor
    has just priced the checkout (e.g. during checkoutComplete)."""
    if fresh or (checkout.price_expiration and checkout.price_expiration > timezone.now()):
        gift_cards = sum(
            (card.current_balance_amount for card in checkout.gift_cards.all()), Decimal(0)
        )
        total = max(checkout.total_gross_amount - gift_cards, Decimal(0))
    else:
        lines, _ = fetch_checkout_lines(checkout)
        info = fetch_checkout_info(checkout, lines, manager)
        total = calculate_checkout_total_with_gift_cards(manager, info, lines).gross.amount
    covered = (
        checkout.payment_transactions.exclude(pk=excluding)
        .aggregate(
            a=Sum("authorized_value"), c=Sum("charged_value"),
            ap=Sum("authorize_pending_value"), cp=Sum("charge_pending_value"),
        )
    )
    paid = sum((value or Decimal(0) for value in covered.values()), Decimal(0))
    return max(total - paid, Decimal(0)).quantize(quantum(checkout.currency))


# --- checkout: apply / remove -------------------------------------------------


def _lock_own_checkout(checkout_token, user) -> Checkout:
    checkout = checkout_qs_select_for_update().filter(pk=checkout_token).first()
    # Someone else's checkout looks exactly like a missing one.
    if checkout is None or user is None or checkout.user_id != user.pk:
        raise NotFound("Checkout not found.", field="checkoutId")
    if checkout.is_checkout_locked():
        raise StoreCreditError(
            "The checkout is being completed; try again in a moment.",
            field="checkoutId", code=StoreCreditErrorCode.CHECKOUT_LOCKED,
        )
    return checkout


def _cancel_item(item: TransactionItem, amount: Decimal, message: str) -> None:
    request_event = create_transaction_event_requested(
        item, amount, TransactionAction.CANCEL, app_identifier=GATEWAY_ID
    )
    create_transaction_event_from_request_and_webhook_response(
        request_event,
        None,
        transaction_webhook_response=_response(
            TransactionEventType.CANCEL_SUCCESS, amount, message, actions=[]
        ),
    )


def _release_with_item(hold: Hold, reason: str, *, expired: bool = False) -> None:
    """Release a hold and cancel its Saleor authorization (caller holds the locks)."""
    release_hold(hold=hold, actor=SYSTEM, reason=reason, expired=expired)
    item = TransactionItem.objects.filter(token=hold.transaction_id).first()
    if item is not None and item.authorized_value > 0:
        _cancel_item(item, item.authorized_value, f"Store credit released: {reason}.")


def apply_to_checkout(
    *, checkout_token, user, manager, settings: StoreCreditSettings, amount=None
) -> Hold:
    """Reserve store credit for a checkout (replacing any earlier reservation)."""
    checkout = Checkout.objects.filter(pk=checkout_token).first()
    if checkout is None or user is None or checkout.user_id != user.pk:
        raise NotFound("Checkout not found.", field="checkoutId")
    if not settings.channel_enabled(checkout.channel.slug):
        raise StoreCreditError(
            "Store credit cannot be used in this channel.",
            field="checkoutId", code=StoreCreditErrorCode.CHANNEL_NOT_ENABLED,
        )
    currency = checkout.currency
    requested = None if amount is None else parse_amount(amount, currency)
    previous = applied_hold(checkout.pk)
    previous_item = (
        TransactionItem.objects.filter(token=previous.transaction_id).first()
        if previous
        else None
    )
    remaining = left_to_pay(
        checkout, manager, excluding=previous_item.pk if previous_item else None
    )

    with transaction.atomic():
        checkout = _lock_own_checkout(checkout_token, user)
        limit = getattr(django_settings, "TRANSACTION_ITEMS_LIMIT", 100)
        if checkout.payment_transactions.count() >= limit:
            raise StoreCreditError(
                "This checkout has too many payment attempts.",
                field="checkoutId", code=StoreCreditErrorCode.TRANSACTION_LIMIT_REACHED,
            )
        account = get_or_create_account(user=user, currency=currency)
        previous = applied_hold(checkout.pk)
        available = account.available + (previous.amount if previous else Decimal(0))
        if requested is None:
            value = min(available, remaining)
            if value <= 0:
                raise (
                    InsufficientFunds("You have no store credit to apply.")
                    if available <= 0
                    else StoreCreditError(
                        "Nothing is left to pay.", field="amount",
                        code=StoreCreditErrorCode.NOTHING_TO_PAY,
                    )
                )
        else:
            value = requested
            if value > remaining:
                raise InvalidAmount(
                    f"Only {remaining} {currency} is left to pay on this checkout."
                )
            if value > available:
                raise InsufficientFunds("Not enough store credit available.")
        if previous is not None:
            _release_with_item(previous, "replaced by a new amount")

        params = get_transaction_item_params(
            checkout, user, None, None,
            available_actions=[TransactionAction.CANCEL], name=PAYMENT_METHOD_NAME,
        )
        params["app_identifier"] = GATEWAY_ID
        item = TransactionItem.objects.create(
            **params,
            payment_method_type="other",
            payment_method_name=PAYMENT_METHOD_NAME,
        )
        hold = place_hold(
            account=account,
            amount=value,
            actor=Actor.for_user(user),
            checkout_id=checkout.pk,
            transaction_id=item.token,
            expires_at=timezone.now() + timedelta(minutes=settings.hold_lifetime_minutes),
        )
        request_event = TransactionEvent.objects.create(
            transaction=item,
            type=TransactionEventType.AUTHORIZATION_REQUEST,
            amount_value=value,
            currency=currency,
            include_in_calculations=False,
            idempotency_key=str(uuid4()),
            app_identifier=GATEWAY_ID,
        )
        create_transaction_event_for_transaction_session(
            request_event,
            None,
            manager,
            transaction_webhook_response=_response(
                TransactionEventType.AUTHORIZATION_SUCCESS, value,
                f"Store credit reserved (hold {hold.pk}).",
                actions=[TransactionAction.CANCEL.upper()],
            ),
        )
    return hold


def remove_from_checkout(*, checkout_token, user) -> None:
    with transaction.atomic():
        checkout = _lock_own_checkout(checkout_token, user)
        hold = applied_hold(checkout.pk)
        if hold is not None:
            _release_with_item(hold, "removed by the customer")


# --- order: capture / cancel / refund ----------------------------------------


def _our_items(order):
    if hasattr(order, "_prefetched_objects_cache"):
        order._prefetched_objects_cache.pop("payment_transactions", None)
    return order.payment_transactions.filter(app_identifier=GATEWAY_ID)


def capture_for_order(order, *, request_event=None) -> int:
    """Charge every uncaptured store-credit authorization of a confirmed order.

    Exactly once: the order's store-credit transactions are locked, and one whose
    charge was already requested is skipped, so concurrent confirmations take turns
    and the later ones do nothing; the ledger hold itself resolves only once.
    """
    if hasattr(order, "_prefetched_objects_cache"):
        order._prefetched_objects_cache.pop("payment_transactions", None)
    charged_before = TransactionEvent.objects.filter(
        transaction=OuterRef("pk"), type=TransactionEventType.CHARGE_REQUEST
    )
    if request_event is not None:
        charged_before = charged_before.exclude(pk=request_event.pk)
    holds = Hold.objects.filter(transaction_id=OuterRef("token"))
    captured = 0
    # Saleor calls this after the order commit, so this is normally the outermost
    # transaction; nested (e.g. inside a test's transaction) it adds no savepoint:
    # nothing here is caught, so a failure fails the caller either way. An order
    # without store credit costs the one locking query.
    with transaction.atomic(savepoint=False):
        items = list(
            TransactionItem.objects.select_for_update(of=("self",))
            .filter(order_id=order.pk, app_identifier=GATEWAY_ID, authorized_value__gt=0)
            .exclude(Exists(charged_before))
            .annotate(
                hold_pk=Subquery(holds.values("pk")[:1]),
                hold_account_id=Subquery(holds.values("account_id")[:1]),
                hold_amount=Subquery(holds.values("amount")[:1]),
                hold_status=Subquery(holds.values("status")[:1]),
            )
            .order_by("pk")
        )
        for item in items:
            event = request_event or create_transaction_event_requested(
                item, item.authorized_value, TransactionAction.CHARGE,
                app_identifier=GATEWAY_ID,
            )
            amount = event.amount_value
            # Under the item lock nothing else can resolve this hold (every path that
            # does locks the item first), so the checks below cannot go stale.
            if item.hold_pk is None or item.hold_status != HoldStatus.ACTIVE:
                message = "No active store credit reservation for this payment."
            elif amount > item.hold_amount:
                message = "Cannot capture more than the reservation."
            else:
                message = None
            if message is None:
                hold = Hold(
                    id=item.hold_pk, account_id=item.hold_account_id,
                    amount=item.hold_amount, status=item.hold_status,
                )
                hold._state.adding = False
                entry = capture_hold(
                    hold=hold, actor=SYSTEM,
                    amount=None if amount == item.hold_amount else _as_money(amount, item),
                    refs=Refs(order_id=order.pk, transaction_id=item.token),
                    reason=f"Order {order.number}", savepoint=False,
                )
                response = _response(
                    TransactionEventType.CHARGE_SUCCESS, amount,
                    f"Store credit charged (entry {entry.pk}).",
                    actions=[TransactionAction.REFUND.upper()],
                )
                _timeline(
                    order,
                    "Store credit applied at checkout and charged: "
                    f"{_fmt(entry.amount, item.currency)}.",
                    f"store-credit-entry:{entry.pk}",
                )
                captured += 1
            else:
                response = _response(TransactionEventType.CHARGE_FAILURE, amount, message)
                _timeline(order, f"Store credit could not be charged: {message}")
            create_transaction_event_from_request_and_webhook_response(
                event, None, transaction_webhook_response=response
            )
    return captured


def _as_money(amount: Decimal, item: TransactionItem) -> str:
    """A partial charge amount as exact text in the transaction's currency."""
    return str(amount.quantize(quantum(item.currency)))


def charge_requested(item: TransactionItem, request_event) -> None:
    """A staff charge request (transactionRequestAction CHARGE) for our item."""
    if item.order_id is None:
        create_transaction_event_from_request_and_webhook_response(
            request_event, None,
            transaction_webhook_response=_response(
                TransactionEventType.CHARGE_FAILURE, request_event.amount_value,
                "Store credit is charged when the order is confirmed.",
            ),
        )
        return
    capture_for_order(item.order, request_event=request_event)


def cancel_item(item: TransactionItem, request_event) -> None:
    """A cancel request for our transaction (Dashboard, expiry task, order cancel)."""
    with transaction.atomic():
        item = TransactionItem.objects.select_for_update().get(pk=item.pk)
        hold = Hold.objects.filter(transaction_id=item.token, status=HoldStatus.ACTIVE).first()
        if hold is None:
            response = _response(
                TransactionEventType.CANCEL_FAILURE, request_event.amount_value,
                "Nothing reserved to cancel.",
            )
        else:
            release_hold(hold=hold, actor=SYSTEM, reason="authorization cancelled")
            response = _response(
                TransactionEventType.CANCEL_SUCCESS, request_event.amount_value,
                "Store credit released.", actions=[],
            )
        create_transaction_event_from_request_and_webhook_response(
            request_event, None, transaction_webhook_response=response
        )


def refund_item(item: TransactionItem, request_event) -> bool:
    """Return charged store credit to the balance, never more than was captured."""
    amount = request_event.amount_value
    with transaction.atomic():
        item = TransactionItem.objects.select_for_update().get(pk=item.pk)
        capture = Entry.objects.filter(
            transaction_id=item.token, kind=EntryKind.PAYMENT
        ).select_related("account").first()
        refunded = Entry.objects.filter(
            transaction_id=item.token, kind=EntryKind.REFUND
        ).aggregate(total=Sum("amount"))["total"] or Decimal(0)
        if capture is None or amount <= 0 or refunded + amount > capture.amount:
            response = _response(
                TransactionEventType.REFUND_FAILURE, amount,
                "Refund exceeds the store credit charged.",
            )
        else:
            entry = credit(
                account=capture.account, amount=amount, kind=EntryKind.REFUND,
                actor=SYSTEM, reason="Refund of order payment",
                refs=Refs(order_id=item.order_id, transaction_id=item.token),
                idempotency_key=internal_key("refund", request_event.pk),
            )
            _timeline(
                item.order_id,
                "Store credit refunded to the customer's balance: "
                f"{_fmt(entry.amount, item.currency)}.",
                f"store-credit-entry:{entry.pk}",
            )
            fully = refunded + amount >= capture.amount
            response = _response(
                TransactionEventType.REFUND_SUCCESS, amount, "Store credit refunded.",
                actions=[] if fully else [TransactionAction.REFUND.upper()],
            )
        create_transaction_event_from_request_and_webhook_response(
            request_event, None, transaction_webhook_response=response
        )
    return response["result"] == TransactionEventType.REFUND_SUCCESS.upper()


def release_for_cancelled_order(order) -> int:
    released = 0
    for item in _our_items(order).filter(authorized_value__gt=0):
        with transaction.atomic():
            locked = TransactionItem.objects.select_for_update().get(pk=item.pk)
            hold = Hold.objects.filter(
                transaction_id=locked.token, status=HoldStatus.ACTIVE
            ).first()
            if hold is None or locked.authorized_value <= 0:
                continue
            _release_with_item(hold, "order cancelled")
            _timeline(
                order.pk,
                f"Store credit reservation released: {_fmt(hold.amount, locked.currency)}.",
                f"store-credit-hold:{hold.pk}",
            )
            released += 1
    return released


# --- sweeper -------------------------------------------------------------------


def release_abandoned_holds(*, now=None, batch_size: int = 500) -> int:
    """Release checkout holds that expired or whose checkout is gone.

    Holds whose transaction moved to an order are kept: the order owns them until
    it is confirmed (capture) or cancelled (release).
    """
    now = now or timezone.now()
    items = TransactionItem.objects.filter(token=OuterRef("transaction_id"))
    candidates = (
        Hold.objects.filter(status=HoldStatus.ACTIVE, transaction_id__isnull=False)
        .annotate(
            on_order=Exists(items.filter(order_id__isnull=False)),
            on_checkout=Exists(items.filter(checkout_id__isnull=False)),
        )
        .filter(on_order=False)
        .order_by("pk")
    )
    released = 0
    for hold in candidates[:batch_size]:
        if hold.on_checkout and (hold.expires_at is None or hold.expires_at > now):
            continue
        with transaction.atomic():
            if hold.on_checkout:
                locked = checkout_qs_select_for_update().filter(pk=hold.checkout_id).first()
                if locked is not None and locked.is_checkout_locked():
                    continue
            current = Hold.objects.get(pk=hold.pk)
            if current.status != HoldStatus.ACTIVE:
                continue
            item = TransactionItem.objects.filter(token=current.transaction_id).first()
            if item is not None and item.order_id is not None:
                continue  # completed meanwhile
            _release_with_item(
                current,
                "hold expired" if hold.on_checkout else "checkout no longer exists",
                expired=hold.on_checkout,
            )
            released += 1
    return released


# --- gateway list ----------------------------------------------------------------


def advertise_gateway(previous_value, requested, source_object, settings):
    """Append store credit to `paymentGatewayInitialize` with the available amount."""
    from saleor.payment.interface import PaymentGatewayData

    gateways = list(previous_value or [])
    if requested and not any(g.app_identifier == GATEWAY_ID for g in requested):
        return gateways
    channel_slug = getattr(getattr(source_object, "channel", None), "slug", None)
    if not isinstance(source_object, Checkout) or not settings.channel_enabled(channel_slug):
        return gateways
    user = source_object.user
    if user is None:
        gateways.append(
            PaymentGatewayData(
                app_identifier=GATEWAY_ID, data=None,
                error="Log in to pay with store credit.",
            )
        )
        return gateways
    hold = applied_hold(source_object.pk)
    gateways.append(
        PaymentGatewayData(
            app_identifier=GATEWAY_ID,
            data={
                "name": PAYMENT_METHOD_NAME,
                "currency": source_object.currency,
                "available": str(
                    available_for(user, source_object.currency).quantize(
                        quantum(source_object.currency)
                    )
                ),
                "applied": str(hold.amount.quantize(quantum(source_object.currency)))
                if hold
                else None,
                "endpoint": f"/plugins/global/{GATEWAY_ID}/graphql/",
            },
        )
    )
    return gateways
