"""Side effects in Saleor after a ledger change commits: the read-only metadata
mirror and the customer notification. Never part of the money transaction."""

import json
import logging

from django.db import connection, transaction

from .conf import StoreCreditSettings
from .models import Account, Entry

logger = logging.getLogger(__name__)

METADATA_PREFIX = "store_credit.balance."
NOTIFY_BALANCE_CHANGED = "store_credit_balance_changed"
NOTIFY_CREDIT_MEMO = "store_credit_credit_memo"
NOTIFY_EXPIRING = "store_credit_expiring"
EXPIRING_NOTICE_DAYS = 7


def after_balance_change(
    entry: Entry,
    *,
    settings: StoreCreditSettings,
    notify: bool = False,
    channel_slug: str | None = None,
    event: str = NOTIFY_BALANCE_CHANGED,
) -> None:
    user_id = entry.account.user_id
    if user_id is None:
        return
    if settings.mirror_to_metadata:
        transaction.on_commit(lambda: mirror_balances_to_metadata(user_id))
    enabled = (
        settings.notify_credit_memo
        if event == NOTIFY_CREDIT_MEMO
        else settings.notify_balance_changed
    )
    if notify and enabled:
        transaction.on_commit(
            lambda: notify_balance_changed(entry.pk, channel_slug=channel_slug, event=event)
        )


def mirror_balances_to_metadata(user_id: int) -> None:
    """Write the current balances into the customer's private metadata.

    Reads committed balances at call time and merges with jsonb `||`, so
    concurrent writers converge on the latest values and other keys survive.
    """
    from saleor.account.models import User

    balances = {
        f"{METADATA_PREFIX}{account.currency}": str(account.balance.normalize())
        if account.balance
        else "0"
        for account in Account.objects.filter(user_id=user_id)
    }
    if not balances:
        return
    table = connection.ops.quote_name(User._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET private_metadata = "
            "COALESCE(private_metadata, '{}'::jsonb) || %s::jsonb WHERE id = %s",
            [json.dumps(balances), user_id],
        )


def notify_balance_changed(
    entry_id: int, *, channel_slug: str | None, event: str = NOTIFY_BALANCE_CHANGED
) -> None:
    """Send Saleor's NOTIFY_USER event (delivered by the store's email app)."""
    from saleor.plugins.manager import get_plugins_manager

    entry = Entry.objects.select_related("account__user").get(pk=entry_id)
    user = entry.account.user
    if user is None:
        return

    def payload():
        return {
            "user": {"id": user.pk, "email": user.email, "first_name": user.first_name},
            "recipient_email": user.email,
            "channel_slug": channel_slug,
            "store_credit": {
                "currency": entry.account.currency,
                "direction": entry.direction,
                "amount": str(entry.amount),
                "balance": str(entry.balance_after),
                "reason": entry.reason,
                "kind": entry.kind,
                "order_id": str(entry.order_id) if entry.order_id else None,
            },
        }

    try:
        get_plugins_manager(allow_replica=False).notify(
            event, payload_func=payload, channel_slug=channel_slug
        )
    except Exception:  # a notification must never break a committed change
        logger.exception("Store credit notification failed for entry %s", entry_id)


def notify_expiring_credit(*, settings: StoreCreditSettings, now=None) -> int:
    """Tell customers about credit expiring within EXPIRING_NOTICE_DAYS, once per lot."""
    from datetime import timedelta

    from django.db.models import Min, Sum
    from django.utils import timezone

    from saleor.plugins.manager import get_plugins_manager

    from .models import CreditLot

    if not settings.notify_credit_expiring:
        return 0
    now = now or timezone.now()
    due = CreditLot.objects.filter(
        remaining__gt=0, notified_at__isnull=True, expires_at__gt=now,
        expires_at__lte=now + timedelta(days=EXPIRING_NOTICE_DAYS),
        account__user__isnull=False,
    )
    groups = due.values("account_id", "account__currency", "account__user_id",
                        "account__user__email").annotate(
        amount=Sum("remaining"), first=Min("expires_at"))
    manager = get_plugins_manager(allow_replica=False)
    sent = 0
    for group in groups:
        def payload(group=group):
            return {
                "user": {"id": group["account__user_id"], "email": group["account__user__email"]},
                "recipient_email": group["account__user__email"],
                "store_credit": {
                    "currency": group["account__currency"],
                    "expiring_amount": str(group["amount"]),
                    "expires_at": group["first"].isoformat(),
                },
            }

        manager.notify(NOTIFY_EXPIRING, payload_func=payload)
        sent += 1
    due.update(notified_at=now)
    return sent
