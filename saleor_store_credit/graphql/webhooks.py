import graphene
from graphene import relay


from ..errors import NotFound
from ..models import DeliveryStatus, WebhookDelivery
from .permissions import require_for
from .mutations.base import BaseStoreCreditMutation

StoreCreditWebhookDeliveryStatus = graphene.Enum(
    "StoreCreditWebhookDeliveryStatus",
    [(value.upper(), value) for value in DeliveryStatus.values],
)


class StoreCreditWebhookDelivery(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    event = graphene.String(required=True)
    event_id = graphene.UUID(required=True)
    target_url = graphene.String(required=True)
    status = StoreCreditWebhookDeliveryStatus(required=True)
    attempts = graphene.Int(required=True)
    last_status_code = graphene.Int()
    last_error = graphene.String()
    next_attempt_at = graphene.DateTime()
    created_at = graphene.DateTime(required=True)
    delivered_at = graphene.DateTime()
    payload = graphene.JSONString(required=True)

    class Meta:
        interfaces = (relay.Node,)


def resolve_deliveries(info, first=50, status=None, event=None):
    require_for(info.context, "storeCreditWebhookDeliveries")
    queryset = WebhookDelivery.objects.order_by("-pk")
    if status:
        queryset = queryset.filter(status=status)
    if event:
        queryset = queryset.filter(event=event)
    return list(queryset[: max(0, min(first or 50, 100))])


class StoreCreditWebhookRedeliver(BaseStoreCreditMutation):
    delivery = graphene.Field(StoreCreditWebhookDelivery)

    class Arguments:
        id = graphene.ID(required=True)

    class Meta:
        description = "Send a failed delivery again now. Requires MANAGE_SETTINGS."

    @classmethod
    def perform(cls, _root, info, id):
        from ..webhooks.delivery import deliver

        require_for(info.context, "storeCreditWebhookRedeliver")
        try:
            _type, pk = relay.Node.from_global_id(id)
            delivery = WebhookDelivery.objects.get(pk=int(pk))
        except (ValueError, TypeError, WebhookDelivery.DoesNotExist):
            raise NotFound("Delivery not found.", field="id") from None
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.PENDING, attempts=0
        )
        deliver(delivery.pk)
        delivery.refresh_from_db()
        return cls(delivery=delivery, errors=[])
