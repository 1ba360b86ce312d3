"""Side effects in Saleor after a ledger change commits: the read-only metadata
mirror and the customer e-mails (saleor_store_credit/notifications). Never part of
the money transaction."""

import json
import logging

from django.db import connection, transaction

from .conf import StoreCreditSettings
from .models import Account, Entry

logger = logging.getLogger(__name__)

METADATA_PREFIX = "store_credit.balance."
EXPIRING_NOTICE_DAYS = 7


def after_balance_change(
    entry: Entry,
    *,
    settings: StoreCreditSettings,
    notify: bool = False,
    channel_slug: str | None = None,
) -> None:
    """Inside the change's transaction: the metadata mirror after commit and, when
    staff asked for it, the customer's e-mail (logged now, sent after commit)."""
    user_id = entry.account.user_id
    if user_id is None:
        return
    if settings.mirror_to_metadata:
        transaction.on_commit(lambda: mirror_balances_to_metadata(user_id))
    if notify:
        from .notifications import notify_balance_changed

        notify_balance_changed(entry, settings=settings)


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


def notify_expiring_credit(*, settings: StoreCreditSettings, now=None) -> int:
    """E-mail customers about credit expiring within EXPIRING_NOTICE_DAYS, once per lot."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db.models import Min, Sum
    from django.utils import timezone

    from .models import CreditLot
    from .notifications import queue_email

    if not settings.notify_credit_expiring:
        return 0
    now = now or timezone.now()
    sent = 0
    with transaction.atomic():
        due = CreditLot.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            remaining__gt=0, notified_at__isnull=True, expires_at__gt=now,
            expires_at__lte=now + timedelta(days=EXPIRING_NOTICE_DAYS),
            account__user__isnull=False,
        )
        lot_ids = list(due.values_list("pk", flat=True))
        lots = CreditLot.objects.filter(pk__in=lot_ids)
        groups = lots.values("account_id", "account__currency", "account__user_id").annotate(
            amount=Sum("remaining"), first=Min("expires_at"))
        users = get_user_model().objects.in_bulk([g["account__user_id"] for g in groups])
        for group in groups:
            user = users.get(group["account__user_id"])
            if user is None or not user.is_active:
                continue
            queue_email("credit_expiring", user=user, context={
                "amount": str(group["amount"]), "currency": group["account__currency"],
                "expires_on": group["first"].isoformat(),
            })
            sent += 1
        lots.update(notified_at=now)
    return sent
