"""Pay on account on the plugin endpoint, for the checkout's own logged-in customer
(the same service as Saleor's `transactionInitialize` path: checkout/on_account.py)."""

from datetime import date

import graphene
from graphene import relay

from ..plugin import plugins_manager
from .mutations.base import BaseStoreCreditMutation
from .mutations.checkout import _require_customer, decode_checkout_token
from .types import Decimal, Money, money


class PayOnAccountTerms(graphene.ObjectType):
    name = graphene.String(required=True)
    description = graphene.String(required=True, description="e.g. '30 days after the "
                                                              "order date'.")
    due_date = graphene.Date(description="If the order is placed today; null for terms "
                                         "due on fulfilment.")


class CheckoutPayOnAccount(graphene.ObjectType):
    checkout_id = graphene.ID(required=True)
    eligible = graphene.Boolean(required=True, description="The customer has a credit "
                                                           "account in this currency.")
    available_credit = graphene.Field(Money, description="Credit limit minus what is owed "
                                                         "and authorized; null: unlimited.")
    authorized = graphene.Field(Money, description="Authorized on account for this "
                                                   "checkout; null if none.")
    amount = graphene.Field(Money, required=True,
                            description="What pay on account takes now: what is left "
                            "after the other payments (store credit first).")
    fits = graphene.Boolean(required=True, description="`amount` is within the available "
                                                       "credit.")
    transaction_id = graphene.ID(description="Saleor TransactionItem ID of the authorization.")
    terms = graphene.Field(PayOnAccountTerms)


def checkout_pay_on_account(checkout, user, manager) -> CheckoutPayOnAccount:
    from ..checkout import on_account

    data = on_account.summary(checkout, user, manager)
    currency = checkout.currency
    items = on_account._items(checkout_pk=checkout.pk)
    terms = data["terms"]
    return CheckoutPayOnAccount(
        checkout_id=relay.Node.to_global_id("Checkout", checkout.pk),
        eligible=data["eligible"],
        available_credit=(None if data["availableCredit"] is None
                          else money(_d(data["availableCredit"]), currency)),
        authorized=money(_d(data["authorized"]), currency) if data["authorized"] else None,
        amount=money(_d(data["amount"]), currency),
        fits=data["fits"],
        transaction_id=(relay.Node.to_global_id("TransactionItem", items[-1].token)
                        if items else None),
        terms=None if terms is None else PayOnAccountTerms(
            name=terms["name"], description=terms["description"],
            due_date=date.fromisoformat(terms["dueDate"]) if terms["dueDate"] else None),
    )


def _d(text):
    from decimal import Decimal as D

    return D(text)


class _Payload:
    checkout_pay_on_account = graphene.Field(CheckoutPayOnAccount)

    @staticmethod
    def resolve_checkout_pay_on_account(root, _info):
        from saleor.checkout.models import Checkout

        state = getattr(root, "_of", None)
        if state is None:
            return None
        token, user = state
        checkout = Checkout.objects.select_related("channel").filter(pk=token).first()
        return checkout_pay_on_account(checkout, user, plugins_manager()) if checkout else None

    @classmethod
    def answer(cls, token, user):
        payload = cls(errors=[])
        payload._of = (token, user)
        return payload


class CheckoutPayOnAccountAuthorize(_Payload, BaseStoreCreditMutation):
    shopper_facing = True

    class Arguments:
        checkout_id = graphene.ID(required=True)
        amount = Decimal(description="Default: everything left to pay after the other "
                                     "payments. Calling again replaces the earlier "
                                     "authorization.")

    class Meta:
        description = ("Pay (the rest of) the logged-in customer's checkout on account, "
                       "within their available credit.")

    @classmethod
    def perform(cls, _root, info, checkout_id, amount=None):
        from ..checkout.on_account import authorize_on_checkout

        user = _require_customer(info.context, "pay on account")
        token = decode_checkout_token(checkout_id)
        authorize_on_checkout(
            checkout_token=token, user=user, manager=plugins_manager(),
            settings=info.context.store_credit_settings, amount=amount)
        return cls.answer(token, user)


class CheckoutPayOnAccountRemove(_Payload, BaseStoreCreditMutation):
    shopper_facing = True

    class Arguments:
        checkout_id = graphene.ID(required=True)

    class Meta:
        description = "Cancel the checkout's authorization on account."

    @classmethod
    def perform(cls, _root, info, checkout_id):
        from ..checkout.on_account import remove_from_checkout

        user = _require_customer(info.context, "pay on account")
        token = decode_checkout_token(checkout_id)
        remove_from_checkout(checkout_token=token, user=user)
        return cls.answer(token, user)


def resolve_checkout_pay_on_account(info, checkout_id):
    from saleor.checkout.models import Checkout

    from ..errors import NotFound

    user = getattr(info.context, "user", None)
    try:
        token = decode_checkout_token(checkout_id)
    except NotFound:
        return None
    checkout = Checkout.objects.select_related("channel").filter(pk=token).first()
    if checkout is None or user is None or checkout.user_id != user.pk:
        return None
    settings = info.context.store_credit_settings
    if not settings.on_account_in(checkout.channel.slug):
        return None
    return checkout_pay_on_account(checkout, user, plugins_manager())


class OnAccountQueries(graphene.ObjectType):
    checkout_pay_on_account = graphene.Field(
        CheckoutPayOnAccount, checkout_id=graphene.ID(required=True),
        description="Pay on account for the logged-in customer's checkout; null when "
        "it is not offered (other customer, guest, channel).",
    )

    @staticmethod
    def resolve_checkout_pay_on_account(_root, info, checkout_id):
        return resolve_checkout_pay_on_account(info, checkout_id)


class OnAccountMutations(graphene.ObjectType):
    checkout_pay_on_account_authorize = CheckoutPayOnAccountAuthorize.Field()
    checkout_pay_on_account_remove = CheckoutPayOnAccountRemove.Field()
