"""The e-mail delivery log staff read (MANAGE_USERS: it holds customers' addresses
and what they were told, like Saleor's customer events, `User.events` in
saleor/graphql/account/types.py)."""

import graphene
from graphene import relay

from ..errors import NotFound
from ..notifications.models import EmailDelivery, EmailStatus
from .mutations.base import decode_user_id
from .permissions import require_for

StoreCreditEmailStatus = graphene.Enum(
    "StoreCreditEmailStatus", [(value.upper(), value) for value in EmailStatus.values]
)


class StoreCreditEmailDelivery(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    event = graphene.String(required=True, description="e.g. credit_memo_issued.")
    customer_id = graphene.ID(description="Saleor User ID of the recipient.")
    recipient = graphene.String(required=True)
    language = graphene.String(required=True, description="en, nl or sv.")
    subject = graphene.String(required=True, description="Empty until rendered.")
    status = StoreCreditEmailStatus(required=True)
    attempts = graphene.Int(required=True)
    last_error = graphene.String()
    message_id = graphene.String()
    created_at = graphene.DateTime(required=True)
    sent_at = graphene.DateTime()

    class Meta:
        interfaces = (relay.Node,)

    @staticmethod
    def resolve_customer_id(root, _info):
        return graphene.Node.to_global_id("User", root.user_id) if root.user_id else None

    @staticmethod
    def resolve_last_error(root, _info):
        return root.last_error or None

    @staticmethod
    def resolve_message_id(root, _info):
        return root.message_id or None


def resolve_email_deliveries(info, first=50, status=None, event=None, customer_id=None):
    require_for(info.context, "storeCreditEmailDeliveries")
    queryset = EmailDelivery.objects.order_by("-pk")
    if status:
        queryset = queryset.filter(status=status)
    if event:
        queryset = queryset.filter(event=event)
    if customer_id:
        try:
            queryset = queryset.filter(user=decode_user_id(customer_id))
        except NotFound:
            return []
    return list(queryset[: max(0, min(first or 50, 100))])


class EmailQueries(graphene.ObjectType):
    store_credit_email_deliveries = graphene.List(
        graphene.NonNull(StoreCreditEmailDelivery), required=True,
        first=graphene.Int(default_value=50), status=StoreCreditEmailStatus(),
        event=graphene.String(), customer_id=graphene.ID(),
        description="Customer e-mails the plugin sent or tried to send, newest first. "
        "Requires MANAGE_USERS.",
    )

    @staticmethod
    def resolve_store_credit_email_deliveries(_root, info, **kwargs):
        return resolve_email_deliveries(info, **kwargs)
