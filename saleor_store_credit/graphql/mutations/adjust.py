import graphene
from django.db import transaction

from ...integration import after_balance_change
from ...ledger import adjust, get_or_create_account
from ...money import normalize_currency
from ..auth import actor_for
from ..permissions import require_for
from ..types import Decimal, StoreCreditAccount, StoreCreditEntry
from .base import BaseStoreCreditMutation, decode_user_id


class StoreCreditAdjust(BaseStoreCreditMutation):
    entry = graphene.Field(StoreCreditEntry)
    account = graphene.Field(StoreCreditAccount)

    class Arguments:
        customer_id = graphene.ID(required=True, description="Saleor User ID.")
        amount = Decimal(
            required=True,
            description="Positive to add credit, negative to deduct it. Send exact "
            "decimals (e.g. \"12.50\"); the currency's precision applies.",
        )
        currency = graphene.String(required=True)
        reason = graphene.String(required=True)
        notify_customer = graphene.Boolean(default_value=False)
        channel = graphene.String(
            description="Channel slug used for the customer notification."
        )
        idempotency_key = graphene.String(
            description="Retrying with the same key returns the first result."
        )
        expires_at = graphene.DateTime(
            description="When added credit expires. Default: the plugin's 'Default "
            "expiry of issued credit'; none if that is empty."
        )

    class Meta:
        description = (
            "Add or deduct a customer's store credit. Requires MANAGE_USERS and "
            "HANDLE_PAYMENTS."
        )

    @classmethod
    def perform(cls, _root, info, **data):
        context = info.context
        require_for(context, "storeCreditAdjust")
        user = decode_user_id(data["customer_id"])
        currency = normalize_currency(data["currency"])
        settings = context.store_credit_settings
        with transaction.atomic():
            account = get_or_create_account(user=user, currency=currency)
            entry = adjust(
                account=account,
                amount=data["amount"],
                reason=data["reason"],
                actor=actor_for(context),
                max_balance=settings.max_balance,
                expires_at=data.get("expires_at"),
                expires_in_days=settings.credit_expiry_days,
                idempotency_key=data.get("idempotency_key"),
            )
            after_balance_change(
                entry,
                settings=settings,
                notify=bool(data.get("notify_customer")),
                channel_slug=data.get("channel"),
            )
        account.refresh_from_db()
        return cls(entry=entry, account=account, errors=[])
