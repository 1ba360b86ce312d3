"""Send one outbox row: signed POST, bounded timeout, outcome recorded."""

import json
import urllib.error
import urllib.request
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ..conf import load_settings
from ..models import DeliveryStatus, WebhookDelivery
from .signing import HEADER, sign

MAX_ATTEMPTS = 6
TIMEOUT_SECONDS = 10


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min, 8 min between tries."""
    return timedelta(seconds=30 * 2 ** max(attempts - 1, 0))


def deliver(delivery_id: int, *, secret: str | None = None) -> str:
    """Try one delivery; returns the row's status afterwards."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING)
            .first()
        )
        if delivery is None:  # already sent, given up, or being sent right now
            return "skipped"
        if secret is None:
            settings = load_settings()
            secret = settings.webhook_secret if settings else ""
        body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
        request = urllib.request.Request(
            delivery.target_url, data=body, method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "saleor-store-credit",
                "Store-Credit-Event": delivery.event,
                "Store-Credit-Delivery": str(delivery.pk),
                "Store-Credit-Event-Id": str(delivery.event_id),
                HEADER: sign(secret, body),
            },
        )
        delivery.attempts += 1
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                delivery.last_status_code = response.status
                ok = 200 <= response.status < 300
                delivery.last_error = "" if ok else f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            delivery.last_status_code, ok = exc.code, False
            delivery.last_error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            delivery.last_status_code, ok = None, False
            delivery.last_error = str(getattr(exc, "reason", exc))[:1000]
        if ok:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = timezone.now()
            delivery.next_attempt_at = None
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = timezone.now() + backoff(delivery.attempts)
        delivery.save()
        return delivery.status


def due_deliveries(now=None, limit: int = 200) -> list[int]:
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
