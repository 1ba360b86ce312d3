"""Store credit through Saleor's own checkout API (`transactionInitialize` on
`/graphql/`), the second entry point of `apply.apply_to_checkout`.

Saleor accepts the gateway id only when an active App has that identifier
(saleor/graphql/payment/mutations/transaction/transaction_initialize.py,
`clean_app_from_payment_gateway`): the companion App installed from the plugin's
manifest. Saleor then creates the TransactionItem (app = that App) and a request
event, calls the plugins' `transaction_initialize_session` and records the answer
(saleor/payment/utils.py, `handle_transaction_initialize_session`). WebhookPlugin runs
first and answers "no active webhook" for the companion App; this plugin runs after
it and ignores that `previous_value`, so its answer is the one Saleor records and no
failure event is left on the transaction. Because Saleor records the answer after the
hook, outside any lock, the plugin records the same answer itself under its locks
(checkout row, then the transaction items); Saleor then finds it as a duplicate
(payment/utils.py `deduplicate_event`), so a second call racing in between cannot
leave two authorizations. Refusals are answered as a payment app
answers them (the gift card gateway's precedent, saleor/giftcard/gateway.py):
AUTHORIZATION_FAILURE, nothing reserved, and `data.errors` in the plugin's error shape.

What a storefront sends in `paymentGateway.data`:
- nothing or `{}`: apply all available credit, up to what is left to pay;
- `{"amount": "12.50"}`: apply that amount (applying again moves the one reservation
  onto the new transaction and cancels the earlier one's authorization);
- `{"amount": "0"}`: remove the store credit (answered AUTHORIZATION_FAILURE with the
  message "Store credit removed.": the new transaction reserves nothing).
"""

from decimal import Decimal
from uuid import uuid4

from saleor.checkout.models import Checkout
from saleor.payment import TransactionEventType
from saleor.payment.interface import TransactionSessionResult

from .. import saleor_tx as tx
from ..errors import StoreCreditError
from ..models import Hold, HoldStatus
from ..money import quantum, read_decimal
from .apply import apply_to_checkout, available_for, left_to_pay, remove_from_checkout
from .gateway import own_checkout_data, requestor_user

REMOVED = "Store credit removed."


def summary(checkout, user, manager, *, applied: Decimal | None,
            available: Decimal | None = None, left: Decimal | None = None) -> dict:
    """What both entry points report: balance, the applied amount, what is left to
    pay by other methods (the amount to ask a card gateway for), the currency.
    `available`, `left`: already known to the caller (no query then)."""
    currency = checkout.currency
    q = quantum(currency)
    if available is None and user:
        available = available_for(user, currency)
    if left is None:
        left = left_to_pay(checkout, manager)
    return {
        "currency": currency,
        "available": str(available.quantize(q)) if user else None,
        "applied": str(applied.quantize(q)) if applied else None,
        "leftToPay": str(left.quantize(q)),
    }


def _answer(result, amount, message, data) -> dict:
    answer = {
        "result": str(result).upper(), "pspReference": str(uuid4()), "amount": amount,
        "message": message, "data": data,
        "paymentMethodDetails": {"type": "OTHER", "name": tx.PAYMENT_METHOD_NAME},
    }
    return answer


def _wants_removal(data) -> bool:
    amount = data.get("amount")
    if amount is None:
        return False
    try:
        return read_decimal(amount) == 0
    except StoreCreditError:
        return False


def _mark_item(item, user) -> None:
    """The transaction is the store credit payment (as Saleor's gift card gateway
    marks its own, giftcard/gateway.py `attach_app_identifier_to_transaction`)."""
    item.name = tx.PAYMENT_METHOD_NAME
    item.user = user
    item.save(update_fields=["name", "user", "modified_at"])


def initialize_session(session_data, *, settings, requestor, manager):
    """Saleor's `transaction_initialize_session` for the store-credit gateway.

    `session_data.source_object` is the checkout as Saleor has just loaded and priced
    it for this request; it is passed on, not read again. A new transaction (Saleor
    creates one per idempotency key, its psp reference still empty) needs no replay
    checks; the item is marked as the store credit payment together with its
    authorization (`saleor_tx.record_authorization`), or on its own when refused."""
    item = session_data.transaction
    source = session_data.source_object
    requested_amount = session_data.action.amount
    user = requestor_user(requestor)
    marked = False
    try:
        data = own_checkout_data(source, user, session_data)
        item.name = tx.PAYMENT_METHOD_NAME
        item.user = user
        if item.psp_reference is not None:
            # the same idempotency key again: Saleor hands the earlier transaction
            _mark_item(item, user)
            marked = True
            replayed = Hold.objects.filter(
                transaction_id=item.token, status=HoldStatus.ACTIVE).first()
            if replayed is not None:
                # the same answer (same pspReference) is deduplicated by Saleor
                # (payment/utils.py `deduplicate_event`)
                return _reserved(replayed, source, user, manager, replay_of=item)
            if item.events.filter(
                    type=TransactionEventType.AUTHORIZATION_SUCCESS).exists():
                # its reservation was removed or moved: Saleor accepts one
                # authorization per transaction, so this one is spent
                raise StoreCreditError(
                    "This payment attempt has ended; use a new idempotency key.",
                    field="idempotencyKey")
        if _wants_removal(data):
            if not marked:
                _mark_item(item, user)
                marked = True
            remove_from_checkout(checkout_token=source.pk, user=user)
            return _result(_answer(
                TransactionEventType.AUTHORIZATION_FAILURE, requested_amount, REMOVED,
                {**summary(source, user, manager, applied=None), "errors": []}))
        hold = apply_to_checkout(
            checkout_token=source.pk, user=user, manager=manager, settings=settings,
            amount=data.get("amount"), saleor_item=item, checkout=source,
        )
    except StoreCreditError as exc:
        from types import SimpleNamespace

        from ..i18n import shopper_error, shopper_language

        if not marked and isinstance(source, Checkout) and user is not None \
                and source.user_id == user.pk:
            _mark_item(item, user)
        # the shopper reads data.errors: in the customer's language (i18n.py)
        language = shopper_language(SimpleNamespace(user=user, app=None))
        message = shopper_error(exc.code, exc.message, language)
        error = {"field": exc.field, "code": exc.code.name, "message": message}
        return _result(_answer(
            TransactionEventType.AUTHORIZATION_FAILURE, requested_amount, exc.message,
            {"errors": [error]}))
    return _reserved(hold, source, user, manager)


def _reserved(hold, checkout, user, manager, replay_of=None) -> TransactionSessionResult:
    """The answer already recorded under the plugin's locks (`saleor_tx.session_answer`),
    with what the storefront needs in `data`. `replay_of`: the item answered before
    (its recorded authorization is repeated, even if the cart has resized the hold
    since)."""
    answer = tx.session_answer(hold)
    recorded = replay_of and replay_of.events.filter(
        type=TransactionEventType.AUTHORIZATION_SUCCESS).first()
    if recorded:
        answer["pspReference"] = recorded.psp_reference
        answer["amount"] = recorded.amount_value
    figures = {"available": getattr(hold, "sc_available", None),
               "left": getattr(hold, "sc_left_to_pay", None)}
    answer["data"] = {**summary(checkout, user, manager, applied=hold.amount, **figures),
                      "errors": []}
    return _result(answer)


def _result(response) -> TransactionSessionResult:
    return TransactionSessionResult(app_identifier=tx.GATEWAY_ID, response=response)
