import graphene
from graphene import relay

from ...errors import NotFound
from ..auth import actor_for, check_order_channel_access
from ..permissions import require_for
from ..types import Decimal, account_currency, id_field, money_field
from .base import BaseStoreCreditMutation


class CreditMemoType(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    order_id = id_field("Order", "order_id", required=True)
    amount = money_field("amount", currency_of=account_currency, required=True)
    from_store_credit = money_field(
        "from_store_credit", currency_of=account_currency, required=True,
        description="Returned through the store-credit payment.",
    )
    from_other_methods = money_field(
        "from_other_methods", currency_of=account_currency, required=True,
        description="Paid by other methods, now store credit.",
    )
    reason = graphene.String(required=True)
    created_at = graphene.DateTime(required=True)

    class Meta:
        name = "CreditMemo"
        interfaces = (relay.Node,)



class CreditMemoLineInput(graphene.InputObjectType):
    line_id = graphene.ID(required=True, description="Saleor OrderLine ID.")
    quantity = graphene.Int(required=True)


class CreditMemoInput(graphene.InputObjectType):
    lines = graphene.List(graphene.NonNull(CreditMemoLineInput))
    include_shipping = graphene.Boolean(default_value=False)
    amount = Decimal(description="A plain amount, on top of lines and shipping.")
    reason = graphene.String(required=True)


def _decode(global_id, expected, field):
    from uuid import UUID

    try:
        type_name, pk = relay.Node.from_global_id(global_id)
        if type_name != expected:
            raise ValueError
        return UUID(pk)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise NotFound(f"{expected} not found.", field=field) from None


class OrderCreditMemoCreate(BaseStoreCreditMutation):
    credit_memo = graphene.Field(CreditMemoType)

    class Arguments:
        order_id = graphene.ID(required=True)
        input = CreditMemoInput(required=True)
        idempotency_key = graphene.String()

    class Meta:
        description = (
            "Refund order lines, shipping and/or an amount to the customer's store "
            "credit. Requires MANAGE_ORDERS and HANDLE_PAYMENTS."
        )

    @classmethod
    def perform(cls, _root, info, order_id, input, idempotency_key=None):
        from ...creditmemo import MemoLine, create_credit_memo

        context = info.context
        require_for(context, "orderCreditMemoCreate")
        order_uuid = _decode(order_id, "Order", "orderId")
        check_order_channel_access(context, order_uuid)
        lines = []
        for line in input.get("lines") or []:
            lines.append(
                MemoLine(
                    order_line_id=_decode(line["line_id"], "OrderLine", "lines"),
                    quantity=line["quantity"],
                )
            )
        memo = create_credit_memo(
            order_id=order_uuid,
            actor=actor_for(context),
            settings=context.store_credit_settings,
            reason=input.get("reason"),
            lines=lines,
            include_shipping=bool(input.get("include_shipping")),
            amount=input.get("amount"),
            user=getattr(context, "user", None),
            app=getattr(context, "app", None),
            idempotency_key=idempotency_key,
        )
        return cls(credit_memo=memo, errors=[])



