"""The one place that knows how ledger rows are locked.

Accounts are always locked in primary-key order so that two writers touching the
same accounts can never wait on each other in a cycle.
"""

from collections.abc import Iterable
from enum import IntEnum

from django.db import connection

from ..models import Account, Hold


class LockSpace(IntEnum):
    """PostgreSQL advisory lock key spaces, one per kind of lock (the `classid` of
    the two-key form; Saleor's own use 21218, saleor/core/db/locks.py). A credit
    check of customer 7 and reimbursement run 7 therefore never wait on each
    other. Never reuse or renumber a value."""

    CREDIT_CUSTOMER = 0x5C0C0001
    CREDIT_GROUP = 0x5C0C0002
    REIMBURSEMENT_RUN = 0x5C0C0003
    GIFT_CARD_ATTEMPTS = 0x5C0C0004
    WEBHOOK_DELIVERY = 0x5C0C0005


def _key(space: LockSpace, ident: int) -> list[int]:
    # The object id is an int4; ids beyond it only share a lock with another id.
    return [int(space), int(ident) & 0x7FFFFFFF]


def advisory_xact_lock(space: LockSpace, ident: int) -> None:
    """Wait for the lock; it is held until the current transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", _key(space, ident))


def try_advisory_lock(space: LockSpace, ident: int) -> bool:
    """Take the session lock if nobody holds it (release with advisory_unlock)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", _key(space, ident))
        return bool(cursor.fetchone()[0])


def advisory_unlock(space: LockSpace, ident: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", _key(space, ident))


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


# What a balance-changing UPDATE returns: the new account row, and whether the
# account has open expiring lots (so spending must consume them). See
# `account_after_update`.
ACCOUNT_RETURNING = """
RETURNING id, user_id, email, currency, balance, held, entry_count, expiring,
          EXISTS (SELECT 1 FROM saleor_store_credit_creditlot l
                   WHERE l.account_id = saleor_store_credit_account.id
                     AND l.remaining > 0)
"""

_APPLY_DELTA_SQL = """
UPDATE saleor_store_credit_account
   SET balance = balance + %(delta)s,
       expiring = GREATEST(expiring - %(spent)s, 0) + %(added)s,
       entry_count = entry_count + 1,
       updated_at = NOW()
 WHERE id = %(id)s
   AND (%(need)s::numeric IS NULL OR balance - held >= %(need)s)
   AND (%(max)s::numeric IS NULL OR balance + %(delta)s <= %(max)s)
""" + ACCOUNT_RETURNING

# Spend the soonest-expiring lots first: each lot gives what the amount still needs.
_CONSUME_LOTS_SQL = """
WITH ordered AS (
    SELECT id, remaining,
           SUM(remaining) OVER (ORDER BY expires_at, id) AS running
      FROM saleor_store_credit_creditlot
     WHERE account_id = %(account)s AND remaining > 0
)
UPDATE saleor_store_credit_creditlot AS lot
   SET remaining = LEAST(o.remaining, GREATEST(o.running - %(amount)s, 0))
  FROM ordered AS o
 WHERE lot.id = o.id AND o.running - o.remaining < %(amount)s
"""


def consume_lots(account_id: int, amount) -> None:
    """Take `amount` out of the account's expiring lots (the account row is locked)."""
    with connection.cursor() as cursor:
        cursor.execute(_CONSUME_LOTS_SQL, {"account": account_id, "amount": amount})


def apply_delta(
    account_id: int, delta, *, need=None, max_balance=None, expiring_added=0
) -> Account | None:
    """Lock the account row and change its balance in one statement.

    The row lock is taken by the UPDATE itself and its WHERE clause is re-evaluated
    on the newest row version after any wait (PostgreSQL's READ COMMITTED rule), so
    the available-balance check happens under the lock. Returns the updated account,
    or None when the check failed (nothing changed).
    """
    spent = -delta if delta < 0 else 0
    with connection.cursor() as cursor:
        cursor.execute(
            _APPLY_DELTA_SQL,
            {"id": account_id, "delta": delta, "need": need, "max": max_balance,
             "spent": spent, "added": expiring_added},
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return account_after_update(row, spent=spent)


def account_after_update(row, *, spent) -> Account:
    """The account from an `ACCOUNT_RETURNING` row; `spent` leaves its lots first."""
    account = Account(
        id=row[0], user_id=row[1], email=row[2], currency=row[3], balance=row[4],
        held=row[5], entry_count=row[6], expiring=row[7],
    )
    account._state.adding = False
    if spent and row[8]:
        consume_lots(account.pk, spent)
    return account
