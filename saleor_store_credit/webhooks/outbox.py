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


def enqueue_many(event: str, items, *, settings=None) -> int:
    """The outbox rows of many events of one kind (one reimbursement batch): one
    INSERT for all of them. `items`: the data dicts, or a callable returning them
    (only called when a target is configured). Returns how many rows were written."""
    settings = settings if settings is not None else load_settings()
    if settings is None or not settings.webhook_targets:
        return 0
    if callable(items):
        items = items()
    name = EVENT_PREFIX + event
    now = timezone.now()
    rows = []
    for data in items:
        event_id = uuid.uuid4()
        payload = {"id": str(event_id), "event": name, "created_at": now.isoformat(),
                   "data": data}
        rows.extend(
            WebhookDelivery(event_id=event_id, event=name, payload=payload,
                            target_url=url, next_attempt_at=now)
            for url in settings.webhook_targets
        )
    deliveries = WebhookDelivery.objects.bulk_create(rows, batch_size=2000)
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: _schedule(ids))
    return len(ids)


def _schedule(ids: list[int]) -> None:
    try:
        from ..tasks import deliver_webhook_task
    except ImportError:  # no Celery app (ledger tier): the due-sweep sends later
        return
    for delivery_id in ids:
        deliver_webhook_task.delay(delivery_id)


def on_store_credit_event(sender, event, data, currency=None, **_kwargs):
    enqueue(event, data)


def on_store_credit_events(sender, event, items, currency=None, **_kwargs):
    enqueue_many(event, items)


def wants(_event: str) -> bool:
    """Every event is delivered once a target is configured."""
    settings = load_settings()
    return bool(settings is not None and settings.webhook_targets)
