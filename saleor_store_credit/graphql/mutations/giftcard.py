import graphene

from ...errors import PermissionDenied
from ..auth import actor_for
from ..permissions import require_for
from ..types import StoreCreditAccount, StoreCreditEntry
from .base import BaseStoreCreditMutation, decode_user_id


class GiftCardRedeemToStoreCredit(BaseStoreCreditMutation):
    entry = graphene.Field(StoreCreditEntry)
    shopper_facing = True  # the staff variant (customerId) is answered in English
    account = graphene.Field(StoreCreditAccount)

    class Arguments:
        code = graphene.String(required=True, description="The gift card code.")
        customer_id = graphene.ID(
            description="Staff only (MANAGE_GIFT_CARD and MANAGE_USERS): convert on "
            "behalf of this customer. Customers omit it."
        )
        idempotency_key = graphene.String()

    class Meta:
        description = (
            "Move a gift card's whole remaining balance into store credit. Every "
            "reason a code can't be used gets the same error (INVALID_GIFT_CARD); "
            "failed tries are limited per customer, per client address and overall "
            "per hour (TOO_MANY_ATTEMPTS)."
        )

    @classmethod
    def perform(cls, _root, info, code, customer_id=None, idempotency_key=None):
        from ...giftcards import client_address, redeem_gift_card

        context = info.context
        if customer_id:
            require_for(context, "giftCardRedeemToStoreCredit(customerId)")
            customer = decode_user_id(customer_id)
        else:
            customer = getattr(context, "user", None)
            if customer is None:
                from ...i18n import log_in_message

                raise PermissionDenied(log_in_message(info.context, "gift card"))
        entry = redeem_gift_card(
            code=code,
            customer=customer,
            actor=actor_for(context),
            settings=context.store_credit_settings,
            idempotency_key=idempotency_key,
            requestor_user=getattr(context, "user", None),
            requestor_app=getattr(context, "app", None),
            address=client_address(context),
        )
        account = entry.account
        account.refresh_from_db()
        return cls(entry=entry, account=account, errors=[])
