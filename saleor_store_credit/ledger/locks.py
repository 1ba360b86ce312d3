"""The one place that knows how ledger rows are locked.

Accounts are always locked in primary-key order so that two writers touching the
same accounts can never wait on each other in a cycle.
"""

from collections.abc import Iterable

from ..models import Account, Hold


def lock_accounts(account_ids: Iterable[int]) -> dict[int, Account]:
    ids = sorted(set(account_ids))
    rows = Account.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    return {account.pk: account for account in rows}


def lock_account(account_id: int) -> Account:
    return lock_accounts([account_id])[account_id]


def lock_hold_with_account(hold_id: int) -> tuple[Hold, Account]:
    """Lock the hold's account first (global order: accounts, then holds)."""
    account_id = Hold.objects.values_list("account_id", flat=True).get(pk=hold_id)
    account = lock_account(account_id)
    hold = Hold.objects.select_for_update().get(pk=hold_id)
    return hold, account
