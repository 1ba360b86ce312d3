"""Store credit in Saleor's own payment-gateway list (`paymentGatewayInitialize`)."""

from saleor.checkout.models import Checkout

from .. import saleor_tx as tx
from ..money import quantum
from .apply import applied_hold, available_for


def _requestor_user(requestor):
    """The customer behind a plugin's requestor (None for apps and anonymous). A
    lazy requestor passes `isinstance` as the object it wraps."""
    from saleor.account.models import User

    return requestor if isinstance(requestor, User) and requestor.is_active else None


def advertise_gateway(previous_value, requested, source_object, settings, requestor):
    """Append store credit with the available amount, for the checkout's own
    logged-in customer only: nobody else learns that customer's balance."""
    from saleor.payment.interface import PaymentGatewayData

    gateways = list(previous_value or [])
    asked_for_us = any(g.app_identifier == tx.GATEWAY_ID for g in requested or [])
    if requested and not asked_for_us:
        return gateways
    channel_slug = getattr(getattr(source_object, "channel", None), "slug", None)
    if not isinstance(source_object, Checkout) or not settings.channel_enabled(channel_slug):
        return gateways
    owner = source_object.user
    user = _requestor_user(requestor)
    if owner is None or user is None or user.pk != owner.pk:
        if asked_for_us or owner is None:
            gateways.append(PaymentGatewayData(
                app_identifier=tx.GATEWAY_ID, data=None,
                error="Log in to pay with store credit.",
            ))
        return gateways
    currency = source_object.currency
    hold = applied_hold(source_object.pk)
    gateways.append(
        PaymentGatewayData(
            app_identifier=tx.GATEWAY_ID,
            data={
                "name": tx.PAYMENT_METHOD_NAME,
                "currency": currency,
                "available": str(available_for(owner, currency).quantize(quantum(currency))),
                "applied": str(hold.amount.quantize(quantum(currency))) if hold else None,
                "endpoint": f"/plugins/global/{tx.GATEWAY_ID}/graphql/",
            },
        )
    )
    return gateways
