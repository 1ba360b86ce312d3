"""Send one outbox row: signed POST through Saleor's own HTTP client, outcome recorded.

Saleor's client (saleor/core/http_client.py `HTTPClient`, requests-hardened) applies
`HTTP_IP_FILTER_ENABLED` / `HTTP_IP_FILTER_ALLOW_LOOPBACK_IPS` (private, loopback and
other non-public addresses refused, checked on the resolved address) and never follows
redirects (`never_redirect=True`); Saleor's own webhook transport also passes
`allow_redirects=False` (saleor/webhook/transport/utils.py). A 3xx answer is therefore
a failed try, never a request to wherever it points.

No database lock or transaction is open during the HTTP call: the row is claimed (its
try counted) and committed, the receiver is called, then the outcome is written in a
second short transaction (callers run it outside transactions: the Celery task, the
due sweep, the redeliver mutation). A session advisory lock on the delivery id (the plugin's lock
key space) keeps two workers from sending the same row at once; it is no row lock, and
PostgreSQL drops it if the worker dies.
"""

import json
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ..conf import load_settings
from ..ledger.locks import LockSpace, advisory_unlock, try_advisory_lock
from ..models import DeliveryStatus, WebhookDelivery
from .signing import HEADER, sign

MAX_ATTEMPTS = 6
TIMEOUT_SECONDS = 10
NO_SECRET_ERROR = "No webhook signing secret is configured: not sent."


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min, 8 min between tries."""
    return timedelta(seconds=30 * 2 ** max(attempts - 1, 0))


def deliver(delivery_id: int, *, secret: str | None = None) -> str:
    """Try one delivery; returns the row's status afterwards ("skipped" when it is
    not pending or another worker is sending it right now)."""
    if not try_advisory_lock(LockSpace.WEBHOOK_DELIVERY, delivery_id):
        return "skipped"
    try:
        return _deliver(delivery_id, secret)
    finally:
        advisory_unlock(LockSpace.WEBHOOK_DELIVERY, delivery_id)


def _deliver(delivery_id: int, secret: str | None) -> str:
    with transaction.atomic():  # claim: count the try, commit before calling out
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING)
            .first()
        )
        if delivery is None:  # already sent, given up, or being sent right now
            return "skipped"
        delivery.attempts += 1
        delivery.save(update_fields=["attempts"])
    if secret is None:
        settings = load_settings()
        secret = settings.webhook_secret if settings else ""
    if not secret:
        # Never send what the receiver cannot verify (targets saved before the
        # configuration required a secret).
        return _record(delivery, ok=False, status_code=None, error=NO_SECRET_ERROR,
                       final=True)
    ok, status_code, error, final = _post(delivery, secret)
    return _record(delivery, ok=ok, status_code=status_code, error=error, final=final)


def _post(delivery: WebhookDelivery, secret: str) -> tuple[bool, int | None, str, bool]:
    """(ok, status code, error, final): final means retrying cannot help."""
    from requests import RequestException
    from requests_hardened.ip_filter import InvalidIPAddress

    from saleor.core.http_client import HTTPClient

    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "Store-Credit-Event": delivery.event,
        "Store-Credit-Delivery": str(delivery.pk),
        "Store-Credit-Event-Id": str(delivery.event_id),
        HEADER: sign(secret, body),
    }
    try:
        response = HTTPClient.send_request(
            "POST", delivery.target_url, data=body, headers=headers,
            timeout=TIMEOUT_SECONDS, allow_redirects=False,
        )
    except InvalidIPAddress as exc:
        return False, None, (
            "Refused by Saleor's IP filter (HTTP_IP_FILTER_ENABLED): "
            f"{exc} is not a public address."
        ), True
    except RequestException as exc:
        return False, None, str(exc)[:1000] or type(exc).__name__, False
    status = response.status_code
    response.close()
    if 200 <= status < 300:
        return True, status, "", False
    if 300 <= status < 400:
        return False, status, f"HTTP {status} (redirects are not followed)", False
    return False, status, f"HTTP {status}", False


def _record(delivery, *, ok, status_code, error, final) -> str:
    with transaction.atomic():
        row = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        if row.status != DeliveryStatus.PENDING:
            return row.status  # resolved meanwhile (e.g. by staff)
        row.last_status_code = status_code
        row.last_error = error
        if ok:
            row.status = DeliveryStatus.DELIVERED
            row.delivered_at = timezone.now()
            row.next_attempt_at = None
        elif final or row.attempts >= MAX_ATTEMPTS:
            row.status = DeliveryStatus.FAILED
            row.next_attempt_at = None
        else:
            row.next_attempt_at = timezone.now() + backoff(max(row.attempts, 1))
        row.save()
        return row.status


def due_deliveries(now=None, limit: int = 200) -> list[int]:
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
