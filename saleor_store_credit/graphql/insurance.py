"""Staff API for credit insurance and guarantees (credit/insurance.py). MANAGE_USERS."""

import graphene
from django.utils import timezone
from graphene import relay

from ..credit import insurance
from ..credit.risk_models import CoverKind, CreditCover
from .auth import actor_for
from .mutations.base import BaseStoreCreditMutation, decode_user_id, get_by_global_id
from .permissions import require_for
from .types import Decimal, global_id, money_field

CreditCoverKind = graphene.Enum(
    "CreditCoverKind", [(value.upper(), value) for value in CoverKind.values]
)


class CreditCoverType(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    customer_id = graphene.ID(required=True)
    kind = CreditCoverKind(required=True)
    provider = graphene.String(required=True, description="Insurer or guarantor.")
    cover_type = graphene.String(required=True, description="E.g. bank guarantee.")
    reference = graphene.String(required=True, description="Policy or guarantee number.")
    amount = money_field("amount", required=True)
    valid_from = graphene.DateTime(required=True)
    valid_to = graphene.DateTime(required=True)
    active = graphene.Boolean(required=True, description="Counts now.")
    cancelled_at = graphene.DateTime()
    cancel_reason = graphene.String(required=True)
    recorded_by = graphene.String(required=True)

    class Meta:
        name = "CreditCover"
        interfaces = (relay.Node,)

    @staticmethod
    def resolve_customer_id(root, _info):
        return global_id("User", root.user_id)

    @staticmethod
    def resolve_active(root, _info):
        now = timezone.now()
        return root.cancelled_at is None and root.valid_from <= now < root.valid_to

    @staticmethod
    def resolve_recorded_by(root, _info):
        return root.actor_label


class CreditCoverInput(graphene.InputObjectType):
    customer_id = graphene.ID(description="Required when recording a new cover.")
    kind = CreditCoverKind(required=True)
    provider = graphene.String(description="Insurer or guarantor; required for insurance.")
    cover_type = graphene.String(description="Guarantee type; required for guarantees.")
    reference = graphene.String()
    currency = graphene.String(required=True)
    amount = Decimal(required=True)
    valid_from = graphene.DateTime(required=True)
    valid_to = graphene.DateTime(required=True, description="Exclusive: stops counting then.")


def _cover(value, field="id"):
    return get_by_global_id(CreditCover, value, type_name="CreditCover",
                            what="Insurance or guarantee", field=field)


class CustomerCreditCoverSave(BaseStoreCreditMutation):
    cover = graphene.Field(CreditCoverType)

    class Arguments:
        id = graphene.ID(description="Omit to record a new insurance or guarantee.")
        input = CreditCoverInput(required=True)

    class Meta:
        description = (
            "Record or change a customer's credit insurance or guarantee. Depending on "
            "the configuration it raises or caps their credit limit while valid "
            "(MANAGE_USERS)."
        )

    @classmethod
    def perform(cls, _root, info, input, id=None):
        require_for(info.context, "customerCreditCoverSave")
        if id:
            row = _cover(id)
            user = row.user
            if input.get("customer_id") and decode_user_id(input["customer_id"]).pk != user.pk:
                from ..errors import StoreCreditError

                raise StoreCreditError("A cover cannot move to another customer.",
                                       field="customerId")
        elif input.get("customer_id"):
            user, row = decode_user_id(input["customer_id"]), None
        else:
            from ..errors import StoreCreditError, StoreCreditErrorCode

            raise StoreCreditError("customerId is required.", field="customerId",
                                   code=StoreCreditErrorCode.REQUIRED)
        cover = insurance.save_cover(
            actor=actor_for(info.context), user=user, kind=input.get("kind"),
            currency=input.get("currency"), amount=input.get("amount"),
            valid_from=input.get("valid_from"), valid_to=input.get("valid_to"),
            provider=input.get("provider"), cover_type=input.get("cover_type"),
            reference=input.get("reference"), cover_id=row.pk if row else None,
        )
        return cls(cover=cover, errors=[])


class CustomerCreditCoverCancel(BaseStoreCreditMutation):
    cover = graphene.Field(CreditCoverType)

    class Arguments:
        id = graphene.ID(required=True)
        reason = graphene.String(required=True)

    class Meta:
        description = "Cancel an insurance or guarantee: it stops counting now (MANAGE_USERS)."

    @classmethod
    def perform(cls, _root, info, id, reason):
        require_for(info.context, "customerCreditCoverCancel")
        cover = insurance.cancel_cover(_cover(id).pk, actor=actor_for(info.context),
                                       reason=reason)
        return cls(cover=cover, errors=[])


class InsuranceMutations(graphene.ObjectType):
    customer_credit_cover_save = CustomerCreditCoverSave.Field()
    customer_credit_cover_cancel = CustomerCreditCoverCancel.Field()
