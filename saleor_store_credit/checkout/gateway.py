"""Store credit in Saleor's own payment-gateway list (`paymentGatewayInitialize`)."""

from saleor.checkout import CheckoutAuthorizeStatus
from saleor.checkout.models import Checkout
from saleor.payment.models import TransactionItem

from .. import saleor_tx as tx
from ..errors import NotFound, StoreCreditError
from .apply import _CHARGED, applied_hold


def requestor_user(requestor):
    """The customer behind a plugin's requestor (None for apps and anonymous). A
    lazy requestor passes `isinstance` as the object it wraps."""
    from saleor.account.models import User

    return requestor if isinstance(requestor, User) and requestor.is_active else None


def advertise_gateway(previous_value, requested, source_object, settings, requestor,
                      manager=None):
    """Append store credit with the available and applied amounts and what is left
    to pay, for the checkout's own logged-in customer only: nobody else learns that
    customer's balance, and guests, other customers and apps get no entry at all."""
    from saleor.payment.interface import PaymentGatewayData

    gateways = list(previous_value or [])
    asked_for_us = any(g.app_identifier == tx.GATEWAY_ID for g in requested or [])
    if requested and not asked_for_us:
        return gateways
    channel_slug = getattr(getattr(source_object, "channel", None), "slug", None)
    if not isinstance(source_object, Checkout) or not settings.channel_enabled(channel_slug):
        return gateways
    owner = source_object.user
    user = requestor_user(requestor)
    if owner is None or user is None or user.pk != owner.pk:
        return gateways
    from .native import summary

    hold = applied_hold(source_object.pk)
    data = summary(source_object, owner, manager, applied=hold.amount if hold else None)
    data["name"] = tx.PAYMENT_METHOD_NAME
    data["endpoint"] = f"/plugins/global/{tx.GATEWAY_ID}/graphql/"
    gateways.append(PaymentGatewayData(app_identifier=tx.GATEWAY_ID, data=data))
    return gateways


def own_checkout_data(source, user, session_data) -> dict:
    """The session's `data` object, once the source is the requestor's own checkout;
    someone else's checkout, a guest or an app: it looks missing (NotFound)."""
    data = session_data.payment_gateway_data.data
    if not isinstance(source, Checkout):
        raise NotFound("Checkout not found.", field="id")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise StoreCreditError("paymentGateway.data must be an object.", field="data")
    if user is None or source.user_id != user.pk:
        raise NotFound("Checkout not found.", field="id")
    return data


def gateways_on(checkout) -> frozenset | None:
    """Which of the plugin's gateways (store credit, pay on account) have a
    transaction on the checkout, for the completion gates, in one statement for both;
    None when neither gate needs to know: nothing is authorized, or other payments'
    charges alone cover the checkout (store credit and pay on account are only ever
    authorized on a checkout, so Saleor's decision did not rest on them; what the
    order does not need of them is released when it is placed). A removed
    reservation still counts (its gate must see that the checkout lost it)."""
    if checkout.authorize_status == CheckoutAuthorizeStatus.NONE or (
        checkout.charge_status in _CHARGED
    ):
        return None
    return frozenset(
        TransactionItem.objects.filter(
            checkout_id=checkout.pk, app_identifier__in=(tx.GATEWAY_ID, tx.ON_ACCOUNT_ID)
        ).order_by().values_list("app_identifier", flat=True).distinct()
    )
