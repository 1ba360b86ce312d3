"""Pay on account in Saleor's own checkout API: listed by `paymentGatewayInitialize`,
authorized by `transactionInitialize` with the gateway id
`saleor-store-credit.on-account` (the second companion App's identifier), the way
`native.py` serves store credit.

What a storefront sends in `paymentGateway.data`:
- nothing or `{}`: authorize what is left to pay after the other payments;
- `{"amount": "120.00"}`: authorize that amount (calling again replaces the earlier
  authorization, whose transaction is cancelled);
- `{"amount": "0"}`: remove pay on account (answered AUTHORIZATION_FAILURE with the
  message "Pay on account removed.").
Refusals are AUTHORIZATION_FAILURE with `data.errors` in the plugin's error shape, in
the shopper's language.
"""

from types import SimpleNamespace
from uuid import uuid4

from saleor.checkout.models import Checkout
from saleor.payment import TransactionEventType
from saleor.payment.interface import TransactionSessionResult

from .. import saleor_tx as tx
from ..credit.terms_models import OnAccountPayment
from ..errors import StoreCreditError
from ..money import read_decimal
from . import on_account
from .gateway import own_checkout_data, requestor_user


def _answer(result, amount, message, data) -> dict:
    return {
        "result": str(result).upper(), "pspReference": str(uuid4()), "amount": amount,
        "message": message, "data": data,
        "paymentMethodDetails": {"type": "OTHER", "name": tx.ON_ACCOUNT_NAME},
    }


def _result(response) -> TransactionSessionResult:
    return TransactionSessionResult(app_identifier=tx.ON_ACCOUNT_ID, response=response)


def _wants_removal(data) -> bool:
    amount = data.get("amount")
    if amount is None:
        return False
    try:
        return read_decimal(amount) == 0
    except StoreCreditError:
        return False


def _authorized(payment, checkout, user, manager) -> TransactionSessionResult:
    answer = on_account.session_answer(payment)
    answer["data"] = {**on_account.summary(checkout, user, manager), "errors": []}
    return _result(answer)


def initialize_session(session_data, *, settings, requestor, manager):
    """Saleor's `transaction_initialize_session` for the on-account gateway."""
    item = session_data.transaction
    source = session_data.source_object
    requested_amount = session_data.action.amount
    user = requestor_user(requestor)
    try:
        data = own_checkout_data(source, user, session_data)
        item.name = tx.ON_ACCOUNT_NAME
        item.user = user
        item.save(update_fields=["name", "user", "modified_at"])
        replayed = OnAccountPayment.objects.filter(transaction_token=item.token).first()
        if replayed is not None and replayed.open_amount > 0:
            # a retry with the same idempotency key: the same answer again
            return _authorized(replayed, source, user, manager)
        if replayed is not None or item.events.filter(
                type=TransactionEventType.AUTHORIZATION_SUCCESS).exists():
            raise StoreCreditError(
                "This payment attempt has ended; use a new idempotency key.",
                field="idempotencyKey")
        if _wants_removal(data):
            on_account.remove_from_checkout(checkout_token=source.pk, user=user)
            return _result(_answer(
                TransactionEventType.AUTHORIZATION_FAILURE, requested_amount,
                on_account.REMOVED,
                {**on_account.summary(source, user, manager), "errors": []}))
        payment = on_account.authorize_on_checkout(
            checkout_token=source.pk, user=user, manager=manager, settings=settings,
            amount=data.get("amount"), saleor_item=item,
        )
    except StoreCreditError as exc:
        from ..i18n import shopper_error, shopper_language

        language = shopper_language(SimpleNamespace(user=user, app=None))
        message = shopper_error(exc.code, exc.message, language)
        error = {"field": exc.field, "code": exc.code.name, "message": message}
        return _result(_answer(
            TransactionEventType.AUTHORIZATION_FAILURE, requested_amount, exc.message,
            {"errors": [error]}))
    return _authorized(payment, source, user, manager)


def advertise(gateways, requested, source_object, settings, requestor, manager):
    """Append pay on account for the checkout's own logged-in customer when they have
    a credit account in the checkout's currency; nothing for anyone else."""
    from saleor.payment.interface import PaymentGatewayData

    gateways = list(gateways or [])
    if requested and not any(g.app_identifier == tx.ON_ACCOUNT_ID for g in requested):
        return gateways
    channel_slug = getattr(getattr(source_object, "channel", None), "slug", None)
    if not isinstance(source_object, Checkout) or not settings.on_account_in(channel_slug):
        return gateways
    owner = source_object.user
    user = requestor_user(requestor)
    if owner is None or user is None or user.pk != owner.pk:
        return gateways
    data = on_account.summary(source_object, owner, manager)
    if not data["eligible"]:
        return gateways
    data["name"] = tx.ON_ACCOUNT_NAME
    data["endpoint"] = f"/plugins/global/{tx.GATEWAY_ID}/graphql/"
    gateways.append(PaymentGatewayData(app_identifier=tx.ON_ACCOUNT_ID, data=data))
    return gateways

