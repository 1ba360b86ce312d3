"""Write outbox rows for every store credit event (signal receiver)."""

import uuid

from django.db import transaction
from django.utils import timezone

from ..conf import load_settings
from ..models import WebhookDelivery

EVENT_PREFIX = "store_credit."


def enqueue(event: str, data: dict, *, settings=None) -> list[WebhookDelivery]:
    settings = settings if settings is not None else load_settings()
    if settings is None or not settings.webhook_targets:
        return []
    if callable(data):
        data = data()
    event_id = uuid.uuid4()
    name = EVENT_PREFIX + event
    payload = {
        "id": str(event_id),
        "event": name,
        "created_at": timezone.now().isoformat(),
        "data": data,
    }
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                event_id=event_id, event=name, payload=payload, target_url=url,
                next_attempt_at=timezone.now(),
            )
            for url in settings.webhook_targets
        ]
    )
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: _schedule(ids))
    return deliveries


def _schedule(ids: list[int]) -> None:
    try:
        from ..tasks import deliver_webhook_task
    except ImportError:  # no Celery app (ledger tier): the due-sweep sends later
        return
    for delivery_id in ids:
        deliver_webhook_task.delay(delivery_id)


def on_store_credit_event(sender, event, data, currency=None, **_kwargs):
    enqueue(event, data)
