"""The plugin's own customer e-mails.

Why the plugin sends them itself: Saleor's mailers drop event names they do not know
(`saleor/plugins/user_email/plugin.py` and `admin_email/plugin.py`, `notify`: return
early unless the event is in their enum), the Saleor SMTP app handles only its own
events, and `NOTIFY_USER` webhooks are deprecated since Saleor 3.17.

`queue_email` writes a log row inside the caller's transaction and, after commit,
a Celery task renders and sends it (`delivery.send_delivery`). Marketing tools keep
receiving the signed webhooks (`webhooks/`).
"""

import logging

from django.db import transaction

from ..conf import StoreCreditSettings, load_settings
from .models import EmailDelivery, EmailStatus
from .templates import language_for

logger = logging.getLogger(__name__)

__all__ = ["EmailDelivery", "EmailStatus", "queue_email", "on_store_credit_event",
           "forget_recipient", "resend_stuck_emails"]

FORGOTTEN = "deleted-user@invalid"


def queue_email(event: str, *, user, context: dict) -> EmailDelivery | None:
    """Log one e-mail to `user` and send it after the surrounding transaction commits."""
    if user is None or not getattr(user, "email", ""):
        return None
    from django.utils import timezone

    context = _exact_amounts(context)
    delivery = EmailDelivery.objects.create(
        event=event, user=user, recipient=user.email,
        language=language_for(getattr(user, "language_code", "")),
        context={"first_name": user.first_name or "", **context},
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: _schedule(delivery.pk))
    return delivery


def _exact_amounts(context: dict) -> dict:
    """Amounts as the currency writes them ("20.00", not the ledger's "20.0000")."""
    from decimal import Decimal

    from ..money import quantum

    currency = context.get("currency")
    if not currency:
        return context
    return {
        key: str(Decimal(str(value)).quantize(quantum(currency)))
        if key in ("amount", "balance", "total") and value not in (None, "") else value
        for key, value in context.items()
    }


def _schedule(delivery_id: int) -> None:
    try:
        from ..tasks import send_store_credit_email_task

        send_store_credit_email_task.delay(delivery_id)
    except Exception:  # a broker outage must not break the committed change
        logger.exception("Could not enqueue store credit e-mail %s", delivery_id)


def resend_stuck_emails(now=None) -> dict:
    """Send again what a lost Celery task left behind (the periodic
    `resend_stuck_emails_task`):

    - *pending* past the latest moment its next try was due (+ a grace period): its
      task never ran (a broker outage at enqueue time, a purged queue) — enqueue it;
    - *sending* for longer than any send takes: the worker died mid-send — back to
      pending and enqueued. The Message-ID stays the same, so a message that did
      leave is recognisable as the same one.

    Rows are claimed pending -> sending before sending, so a task that was only late
    and this one never both send. A row past the last allowed try is marked failed.
    """
    from datetime import timedelta

    from django.utils import timezone

    from .delivery import MAX_ATTEMPTS, RESEND_GRACE, SENDING_TIMEOUT

    now = now or timezone.now()
    requeued = EmailDelivery.objects.filter(
        status=EmailStatus.SENDING, claimed_at__lt=now - SENDING_TIMEOUT
    ).update(status=EmailStatus.PENDING, next_attempt_at=now - RESEND_GRACE - timedelta(
        seconds=1))
    stuck = EmailDelivery.objects.filter(
        status=EmailStatus.PENDING, next_attempt_at__lt=now - RESEND_GRACE)
    gave_up = stuck.filter(attempts__gte=MAX_ATTEMPTS).update(
        status=EmailStatus.FAILED, next_attempt_at=None,
        last_error="Gave up: no try left after the last one was lost.")
    ids = list(stuck.values_list("pk", flat=True)[:1000])
    # the next sweep looks again only if this try is lost too
    EmailDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now)
    for pk in ids:
        _schedule(pk)
    return {"resent": len(ids), "were_sending": requeued, "gave_up": gave_up}


def _user(user_id):
    from django.contrib.auth import get_user_model

    if not user_id:
        return None
    return get_user_model().objects.filter(pk=int(user_id), is_active=True).first()


def _balance(user_id, currency) -> str:
    from ..models import Account

    account = Account.objects.filter(user_id=user_id, currency=currency).first()
    return str(account.balance) if account else "0"


def on_store_credit_event(sender, event, data, currency=None, **_kwargs):
    """Signal receiver (inside the change's transaction): the events customers hear of."""
    if event not in _FROM_EVENT:
        return
    settings = load_settings()
    if settings is None:
        return
    switch, build = _FROM_EVENT[event]
    if not getattr(settings, switch):
        return
    payload = data() if callable(data) else data
    built = build(payload)
    if built is not None:
        user, context = built
        queue_email(event, user=user, context=context)


def wants(event: str) -> bool:
    """Only the events customers hear of, and only while their switch is on."""
    if event not in _FROM_EVENT:
        return False
    settings = load_settings()
    return settings is not None and bool(getattr(settings, _FROM_EVENT[event][0]))


def _credit_memo(data):
    user = _user(data.get("customer_user_id"))
    if user is None:
        return None
    return user, {
        "amount": data["amount"], "currency": data["currency"],
        "order_number": data.get("order_number"),
        "balance": _balance(user.pk, data["currency"]),
    }


def _payout(data):
    """Finance's note stays internal; the payment reference is the customer's."""
    user = _user(data.get("customer_user_id"))
    if user is None:
        return None
    return user, {
        "amount": data["amount"], "currency": data["currency"],
        "reference": data.get("reference") or "",
        "balance": _balance(user.pk, data["currency"]),
    }


def _order_hold(data):
    from ..credit.models import OrderHold

    hold = OrderHold.objects.filter(pk=data.get("hold_id")).first()
    if hold is None:
        return None
    user = _user(hold.user_id)
    if user is None:
        return None
    return user, {
        "order_number": hold.order_number, "total": str(hold.order_total),
        "currency": hold.currency,
    }


# signal event -> (settings switch, payload -> (user, context) | None)
_FROM_EVENT = {
    "credit_memo_issued": ("notify_credit_memo", _credit_memo),
    "payout_paid": ("notify_payouts", _payout),
    "payout_failed": ("notify_payouts", _payout),
    "order_held": ("notify_order_holds", _order_hold),
    "order_released": ("notify_order_holds", _order_hold),
}


def notify_balance_changed(entry, *, settings: StoreCreditSettings) -> EmailDelivery | None:
    """A staff adjustment with "notify customer" (inside its transaction)."""
    if not settings.notify_balance_changed:
        return None
    if EmailDelivery.objects.filter(event="balance_changed", context__entry_id=entry.pk).exists():
        return None  # an idempotent replay of the same adjustment: told once
    account = entry.account
    return queue_email("balance_changed", user=account.user, context={
        "entry_id": entry.pk, "amount": str(entry.amount), "currency": account.currency,
        "direction": entry.direction, "balance": str(entry.balance_after),
        "reason": entry.reason,
    })


def forget_recipient(user_pk) -> None:
    """When Saleor deletes the user (privacy.anonymise_user): the log keeps what was
    sent and when, not to whom (address, name, staff-written reason)."""
    EmailDelivery.objects.filter(user_id=user_pk).update(
        recipient=FORGOTTEN, context={}, user=None,
    )
