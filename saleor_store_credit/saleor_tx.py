"""Talking to Saleor's Transactions API and order timeline, the way its built-in gift
card gateway does (saleor/giftcard/gateway.py): the plugin owns TransactionItems and
answers its own requests with Saleor's event helpers, so checkout and order payment
statuses, order events and Saleor's webhooks all update natively.

Every change of an amount is its own event with its own psp reference, so Saleor's
amount calculation (saleor/payment/transaction_item_calculations.py) adds them up:
AUTHORIZATION_SUCCESS adds to the authorized amount, CANCEL_SUCCESS and CHARGE_SUCCESS
take from it, REFUND_SUCCESS takes from the charged amount.
"""

from decimal import Decimal
from uuid import uuid4

from saleor.payment import TransactionAction, TransactionEventType
from saleor.payment.models import TransactionEvent, TransactionItem
from saleor.payment.utils import get_transaction_item_params

from . import compat
from .money import quantum

GATEWAY_ID = "saleor-store-credit"
PAYMENT_METHOD_NAME = "Store credit"
# "Pay on account" (checkout/on_account.py): a second gateway, the identifier of the
# second companion App (ui.py, `/app/on-account/manifest`).
ON_ACCOUNT_ID = "saleor-store-credit.on-account"
ON_ACCOUNT_NAME = "Pay on account"

CANCEL = TransactionAction.CANCEL.upper()
CHARGE = TransactionAction.CHARGE.upper()
REFUND = TransactionAction.REFUND.upper()


def fmt(amount: Decimal, currency: str) -> str:
    return f"{amount.quantize(quantum(currency))} {currency}"


def response(result, amount: Decimal, message: str = "", actions=None) -> dict:
    """A transaction-action answer as a payment app would send it. `actions=None`
    leaves the transaction's available actions as they are."""
    answer = {
        "result": str(result).upper(),
        "pspReference": str(uuid4()),
        "amount": amount,
        "message": message,
    }
    if actions is not None:
        answer["actions"] = actions
    return answer


def timeline(order, message: str, reference: str = "") -> None:
    """An entry on the order's timeline in the Dashboard (`order`: object or id)."""
    from saleor.order.events import transaction_event
    from saleor.order.models import Order

    if not isinstance(order, Order):
        order = Order.objects.filter(pk=order).first()
    if order is not None:
        transaction_event(
            order=order, user=None, app=None, reference=reference, message=message
        )


def new_store_credit_item(checkout, user) -> TransactionItem:
    params = get_transaction_item_params(
        checkout, user, None, None,
        available_actions=[TransactionAction.CANCEL], name=PAYMENT_METHOD_NAME,
    )
    params["app_identifier"] = GATEWAY_ID
    return TransactionItem.objects.create(
        **params, **compat.transaction_item_method_fields("other", PAYMENT_METHOD_NAME),
    )


def session_answer(hold, message: str | None = None) -> dict:
    """The answer to Saleor's `transactionInitialize` for a reservation: always the
    same for the same hold (its pspReference names the hold), so Saleor's duplicate
    check (payment/utils.py `deduplicate_event`) recognises a repeated answer."""
    answer = response(
        TransactionEventType.AUTHORIZATION_SUCCESS, hold.amount,
        message or f"Store credit reserved (hold {hold.pk}).", actions=[CANCEL],
    )
    answer["pspReference"] = f"store-credit-hold-{hold.pk}"
    answer["paymentMethodDetails"] = {"type": "OTHER", "name": PAYMENT_METHOD_NAME}
    return answer


def record_authorization(item, answer: dict) -> None:
    """Record the authorization of `answer` on the TransactionItem Saleor has just
    created for a `transactionInitialize`, under the plugin's locks, in one statement.
    Saleor records the same answer again after the hook returns (payment/utils.py,
    `handle_transaction_initialize_session` →
    `create_transaction_event_for_transaction_session`), outside any lock; it then
    finds this event as its duplicate (`get_already_existing_event`: same transaction,
    type and psp reference, same amount) and does the rest once: recalculating the
    amounts from the events, the checkout's payment statuses and its webhooks.

    The amounts are written here too, so a second `transactionInitialize` racing in
    before Saleor's recording sees this authorization and cancels it when it moves the
    reservation (`apply.release_checkout_hold`). The item is new and carries no other
    counted event (the caller has refused a spent one), so what it has authorized is
    exactly this amount (Saleor's rule, payment/transaction_item_calculations.py)."""
    event = TransactionEvent(
        transaction=item, type=TransactionEventType.AUTHORIZATION_SUCCESS,
        amount_value=answer["amount"], currency=item.currency,
        psp_reference=answer["pspReference"], message=answer["message"],
        include_in_calculations=True, app_id=item.app_id,
        app_identifier=item.app_identifier or GATEWAY_ID,
    )
    changes = {
        "authorized_value": answer["amount"], "psp_reference": answer["pspReference"],
        "available_actions": list(answer.get("actions") or []),
        "name": PAYMENT_METHOD_NAME, "user_id": item.user_id,
        **compat.transaction_item_method_fields("other", PAYMENT_METHOD_NAME),
    }
    _insert_and_update(event, TransactionItem.objects.filter(pk=item.pk), changes)
    for field, value in changes.items():
        setattr(item, field, value)


def record_session_answer(item, answer: dict, manager) -> None:
    """Record `answer` on the TransactionItem Saleor created for a
    `transactionInitialize`, as Saleor itself records a session answer
    (payment/utils.py `handle_transaction_initialize_session`), but now, under the
    plugin's locks: Saleor records the answer again after the hook returns, outside
    any lock, and then finds this event as its duplicate."""
    request_event = item.events.filter(
        type__in=[TransactionEventType.AUTHORIZATION_REQUEST,
                  TransactionEventType.CHARGE_REQUEST],
        include_in_calculations=False,
    ).order_by("-pk").first()
    if request_event is None:
        request_event = TransactionEvent.objects.create(
            transaction=item, type=TransactionEventType.AUTHORIZATION_REQUEST,
            amount_value=answer["amount"], currency=item.currency,
            include_in_calculations=False, idempotency_key=str(uuid4()),
            app_identifier=GATEWAY_ID,
        )
    # with the companion App, as Saleor's own recording will be (its duplicate check
    # compares the app): present in every supported Saleor with this signature
    from saleor.payment.utils import create_transaction_event_for_transaction_session

    create_transaction_event_for_transaction_session(
        request_event, item.app, manager, transaction_webhook_response=answer)


def _insert_and_update(instance, queryset, changes: dict) -> None:
    """`instance.save()` (a new row) and `queryset.update(**changes, modified_at=now)`
    as one statement: `WITH _ AS (INSERT …) UPDATE …`, both compiled by Django."""
    from django.db import connections
    from django.db.models.sql import InsertQuery, UpdateQuery
    from django.utils import timezone

    model = type(instance)
    fields = [f for f in model._meta.local_concrete_fields if not f.primary_key]
    insert = InsertQuery(model)
    insert.insert_values(fields, [instance])
    ((insert_sql, insert_params),) = insert.get_compiler(queryset.db).as_sql()
    update = queryset.query.chain(UpdateQuery)
    update.add_update_values({**changes, "modified_at": timezone.now()})
    update_sql, update_params = update.get_compiler(queryset.db).as_sql()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"WITH inserted AS ({insert_sql}) {update_sql}",
                       (*insert_params, *update_params))


def request(item, amount: Decimal, action, *, user=None, app=None,
            app_identifier: str = GATEWAY_ID, related_granted_refund=None):
    """Saleor's request event (CANCEL_/CHARGE_/REFUND_REQUEST) on `item`."""
    return compat.create_transaction_event_requested(
        item, amount, action, user=user, app=app, app_identifier=app_identifier,
        related_granted_refund=related_granted_refund,
    )


def answer(request_event, result, amount: Decimal, message: str = "", actions=None):
    """Answer a request event the way a payment app's webhook response does."""
    return compat.create_transaction_event_from_request_and_webhook_response(
        request_event, response(result, amount, message, actions=actions)
    )


def authorize(item, amount: Decimal, message: str, manager, *, first=False) -> None:
    """Add `amount` to what Saleor shows as authorized on `item` (and recompute the
    checkout's statuses). `first`: the caller has just created `item`."""
    if not first and item.events.filter(
        type=TransactionEventType.AUTHORIZATION_SUCCESS
    ).exists():
        _adjust_authorization(item, item.authorized_value + amount, message, manager)
        return
    request_event = TransactionEvent.objects.create(
        transaction=item, type=TransactionEventType.AUTHORIZATION_REQUEST,
        amount_value=amount, currency=item.currency, include_in_calculations=False,
        idempotency_key=str(uuid4()), app_identifier=GATEWAY_ID,
    )
    compat.create_transaction_event_for_transaction_session(
        request_event, manager, response(
            TransactionEventType.AUTHORIZATION_SUCCESS, amount, message,
            actions=[CANCEL],
        ),
    )


def _adjust_authorization(item, target: Decimal, message: str, manager) -> None:
    """Saleor accepts one AUTHORIZATION_SUCCESS per transaction (payment/utils.py,
    `_create_event_from_response`); later increases are AUTHORIZATION_ADJUSTMENT,
    which sets the authorized amount before charges and cancels are taken off it
    (transaction_item_calculations.py). So the adjustment names `target` plus
    everything charged (refunds included) and cancelled so far."""
    from saleor.payment.transaction_item_calculations import recalculate_transaction_amounts
    from saleor.payment.utils import process_order_or_checkout_with_transaction

    previous = (item.authorized_value, item.charged_value, item.refunded_value)
    TransactionEvent.objects.create(
        transaction=item, type=TransactionEventType.AUTHORIZATION_ADJUSTMENT,
        amount_value=target + item.charged_value + item.refunded_value + item.canceled_value,
        currency=item.currency, psp_reference=str(uuid4()), include_in_calculations=True,
        idempotency_key=str(uuid4()), app_identifier=GATEWAY_ID, message=message,
    )
    recalculate_transaction_amounts(item, save=False)
    item.available_actions = _actions(item, authorized=True)
    item.save()
    process_order_or_checkout_with_transaction(
        item, manager, None, None, previous_authorized_value=previous[0],
        previous_charged_value=previous[1], previous_refunded_value=previous[2],
    )


def cancel(item, amount: Decimal, message: str, *, still_authorized: bool,
           request_event=None) -> None:
    """Take `amount` off what Saleor shows as authorized on `item`."""
    request_event = request_event or request(item, amount, TransactionAction.CANCEL)
    answer(
        request_event, TransactionEventType.CANCEL_SUCCESS, amount, message,
        actions=_actions(item, authorized=still_authorized),
    )


def charge(item, amount: Decimal, message: str, *, still_authorized: bool,
           request_event=None) -> None:
    """Move `amount` from authorized to charged on `item`."""
    request_event = request_event or request(item, amount, TransactionAction.CHARGE)
    answer(
        request_event, TransactionEventType.CHARGE_SUCCESS, amount, message,
        actions=_actions(item, authorized=still_authorized, charged=True),
    )


def fail(request_event, result, message: str) -> None:
    answer(request_event, result, request_event.amount_value, message)


def _actions(item, *, authorized: bool, charged: bool = False) -> list[str]:
    actions = [CHARGE, CANCEL] if authorized and item.order_id else (
        [CANCEL] if authorized else [])
    if charged or item.charged_value > 0:
        actions.append(REFUND)
    return actions
