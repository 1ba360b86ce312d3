"""Ledger reads."""

from ..models import Account, Entry


def accounts_for_user(user_id) -> list[Account]:
    return list(Account.objects.filter(user_id=user_id).order_by("currency"))


def entries_for_user(user_id, currency: str | None = None):
    qs = Entry.objects.filter(account__user_id=user_id)
    if currency:
        qs = qs.filter(account__currency=currency.upper())
    return qs.order_by("-id")


def entry_count_for_user(user_id, currency: str | None = None) -> int:
    qs = Account.objects.filter(user_id=user_id)
    if currency:
        qs = qs.filter(currency=currency.upper())
    return sum(qs.values_list("entry_count", flat=True))
