"""Payout bank details: masked for whoever may see the customer, in full and writable
only with HANDLE_PAYMENTS (they decide where money is sent)."""

import graphene

from saleor.permission.enums import PaymentPermissions

from .auth import actor_for, require
from .permissions import require_for
from .mutations.base import BaseStoreCreditMutation, decode_user_id

FULL = [PaymentPermissions.HANDLE_PAYMENTS]


class StoreCreditPayoutDetails(graphene.ObjectType):
    account_masked = graphene.String(
        required=True, description="The account number, masked (last four characters)."
    )
    account = graphene.String(description="The account number in full. Requires HANDLE_PAYMENTS.")
    account_holder = graphene.String(required=True)
    updated_at = graphene.DateTime(required=True)

    class Meta:
        name = "StoreCreditPayoutDetails"

    @staticmethod
    def resolve_account_masked(root, _info):
        from ..payouts import mask

        return mask(root.account_number)

    @staticmethod
    def resolve_account(root, info):
        # Field-level permission, as Saleor's PermissionsField (saleor/graphql/core/fields.py).
        require(info.context, FULL)
        return root.account_number


def resolve_payout_details(root, _info):
    from ..payouts import payout_details_for

    return payout_details_for(root.user_id)


class StoreCreditPayoutDetailsSet(BaseStoreCreditMutation):
    payout_details = graphene.Field(StoreCreditPayoutDetails)

    class Arguments:
        customer_id = graphene.ID(required=True, description="Saleor User ID.")
        account_number = graphene.String(
            required=True, description="IBAN or account number; empty removes the details."
        )
        account_holder = graphene.String()

    class Meta:
        description = (
            "Set a customer's payout bank details (kept by the plugin, not in Saleor "
            "metadata). Requires MANAGE_USERS and HANDLE_PAYMENTS."
        )

    @classmethod
    def perform(cls, _root, info, customer_id, account_number, account_holder=None):
        from ..payouts import set_payout_details

        require_for(info.context, "storeCreditPayoutDetailsSet")
        user = decode_user_id(customer_id)
        details = set_payout_details(
            user=user, account_number=account_number, account_holder=account_holder or "",
            actor=actor_for(info.context),
        )
        return cls(payout_details=details, errors=[])
