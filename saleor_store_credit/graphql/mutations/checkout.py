import graphene
from graphene import relay

from ...plugin import plugins_manager
from ...errors import NotFound, PermissionDenied
from ..types import Decimal, Money, money
from .base import BaseStoreCreditMutation


def decode_checkout_token(global_id: str):
    from uuid import UUID

    try:
        type_name, token = relay.Node.from_global_id(global_id)
        if type_name != "Checkout":
            raise ValueError
        return UUID(token)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise NotFound("Checkout not found.", field="checkoutId") from None


class CheckoutStoreCredit(graphene.ObjectType):
    checkout_id = graphene.ID(required=True)
    applied = graphene.Field(Money, description="Reserved for this checkout; null if none.")
    available = graphene.Field(
        Money, required=True, description="What the customer could still apply."
    )
    transaction_id = graphene.ID(description="Saleor TransactionItem ID of the reservation.")
    expires_at = graphene.DateTime(description="When the reservation lapses.")
    left_to_pay = graphene.Field(
        Money, required=True,
        description="What other payment methods still have to cover (the amount to "
        "ask a card gateway for).",
    )


def checkout_store_credit(checkout, user, manager):
    from ...checkout import applied_hold, available_for, follow_cart, left_to_pay
    from django.utils import timezone

    if not checkout.price_expiration or checkout.price_expiration <= timezone.now():
        follow_cart(checkout, manager)  # prices changed without a checkout hook
        checkout.refresh_from_db()
    hold = applied_hold(checkout.pk)
    available = available_for(user, checkout.currency) if user else 0
    return CheckoutStoreCredit(
        checkout_id=relay.Node.to_global_id("Checkout", checkout.pk),
        applied=money(hold.amount, checkout.currency) if hold else None,
        available=money(available, checkout.currency),
        left_to_pay=money(left_to_pay(checkout, manager), checkout.currency),
        transaction_id=(
            relay.Node.to_global_id("TransactionItem", hold.transaction_id)
            if hold and hold.transaction_id
            else None
        ),
        expires_at=hold.expires_at if hold else None,
    )


class _CheckoutStoreCreditPayload:
    """`checkoutStoreCredit` on a mutation's payload, read only when the client asks
    for it (it costs a few queries)."""

    checkout_store_credit = graphene.Field(CheckoutStoreCredit)

    @staticmethod
    def resolve_checkout_store_credit(root, _info):
        from saleor.checkout.models import Checkout

        state = getattr(root, "_store_credit_of", None)
        if state is None:
            return None
        token, user = state
        checkout = Checkout.objects.filter(pk=token).first()
        return checkout_store_credit(checkout, user, plugins_manager()) if checkout else None

    @classmethod
    def answer(cls, token, user):
        payload = cls(errors=[])
        payload._store_credit_of = (token, user)
        return payload


def _require_customer(context, what: str = "store credit"):
    if not getattr(context, "user", None):
        from ...i18n import log_in_message

        raise PermissionDenied(log_in_message(context, what))
    return context.user


class CheckoutStoreCreditApply(_CheckoutStoreCreditPayload, BaseStoreCreditMutation):
    shopper_facing = True

    class Arguments:
        checkout_id = graphene.ID(required=True)
        amount = Decimal(
            description="Default: the lesser of the available balance and what is "
            "left to pay. Re-applying replaces the earlier amount."
        )

    class Meta:
        description = "Pay (part of) the logged-in customer's checkout with store credit."

    @classmethod
    def perform(cls, _root, info, checkout_id, amount=None):
        from ...checkout import apply_to_checkout

        user = _require_customer(info.context)
        token = decode_checkout_token(checkout_id)
        apply_to_checkout(
            checkout_token=token, user=user, manager=plugins_manager(),
            settings=info.context.store_credit_settings, amount=amount,
        )
        return cls.answer(token, user)


class CheckoutStoreCreditRemove(_CheckoutStoreCreditPayload, BaseStoreCreditMutation):
    shopper_facing = True

    class Arguments:
        checkout_id = graphene.ID(required=True)

    class Meta:
        description = "Release the store credit reserved for the checkout."

    @classmethod
    def perform(cls, _root, info, checkout_id):
        from ...checkout import remove_from_checkout

        user = _require_customer(info.context)
        token = decode_checkout_token(checkout_id)
        remove_from_checkout(checkout_token=token, user=user)
        return cls.answer(token, user)


def resolve_checkout_store_credit(info, checkout_id):
    from saleor.checkout.models import Checkout

    user = getattr(info.context, "user", None)
    try:
        token = decode_checkout_token(checkout_id)
    except NotFound:
        return None
    checkout = Checkout.objects.filter(pk=token).first()
    if checkout is None or user is None or checkout.user_id != user.pk:
        return None
    return checkout_store_credit(checkout, user, plugins_manager())
