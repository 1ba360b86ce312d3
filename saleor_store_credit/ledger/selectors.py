"""Ledger reads."""

from ..models import Account, Entry


def accounts_for_user(user_id) -> list[Account]:
    return list(Account.objects.filter(user_id=user_id).order_by("currency"))


# The newest entries of each of the user's accounts along the account's own index
# range (store_credit_entry_hist: account, id DESC), then the newest of those: the
# cost of a page does not depend on how long the history is. (A plain join ordered by
# id lets the planner sort the whole history of a customer, or walk the table's
# newest entries of everybody else, to find one page.)
_PAGE_IDS_SQL = """
SELECT e.id
  FROM saleor_store_credit_account a
 CROSS JOIN LATERAL (
       SELECT id FROM saleor_store_credit_entry
        WHERE account_id = a.id AND (%s::bigint IS NULL OR id < %s::bigint)
        ORDER BY account_id, id DESC
        LIMIT %s) e
 WHERE a.user_id = %s AND (%s::varchar IS NULL OR a.currency = %s::varchar)
 ORDER BY e.id DESC
 LIMIT %s
"""


def entries_page_for_user(user_id, currency: str | None = None, *, before: int | None,
                          limit: int) -> list[Entry]:
    """One page of the user's history, newest first: the `limit` newest entries
    older than entry `before` (None: from the newest), with their accounts."""
    from django.db.models.expressions import RawSQL

    currency = currency.upper() if currency else None
    ids = RawSQL(_PAGE_IDS_SQL, [before, before, limit, user_id, currency, currency, limit])
    return list(
        Entry.objects.filter(pk__in=ids).select_related("account").order_by("-pk")
    )


def entry_count_for_user(user_id, currency: str | None = None) -> int:
    qs = Account.objects.filter(user_id=user_id)
    if currency:
        qs = qs.filter(currency=currency.upper())
    return sum(qs.values_list("entry_count", flat=True))
