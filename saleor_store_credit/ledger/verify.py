"""Recompute every account from its entries and holds and report drift."""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection

_DRIFT_SQL = """
WITH posted AS (
    SELECT account_id,
           SUM(CASE WHEN direction = 'credit' THEN amount ELSE -amount END) AS balance,
           COUNT(*) AS entries
    FROM saleor_store_credit_entry GROUP BY account_id
), held AS (
    SELECT account_id, SUM(amount) AS held
    FROM saleor_store_credit_hold WHERE status = 'active' GROUP BY account_id
), lots AS (
    SELECT account_id, SUM(remaining) AS expiring
    FROM saleor_store_credit_creditlot WHERE remaining > 0 GROUP BY account_id
), last_entry AS (
    SELECT DISTINCT ON (account_id) account_id, balance_after
    FROM saleor_store_credit_entry ORDER BY account_id, id DESC
)
SELECT a.id, a.currency, a.balance, a.held,
       COALESCE(p.balance, 0), COALESCE(h.held, 0), COALESCE(l.balance_after, 0)
FROM saleor_store_credit_account a
LEFT JOIN posted p ON p.account_id = a.id
LEFT JOIN held h ON h.account_id = a.id
LEFT JOIN last_entry l ON l.account_id = a.id
LEFT JOIN lots x ON x.account_id = a.id
WHERE a.balance <> COALESCE(p.balance, 0)
   OR a.expiring <> COALESCE(x.expiring, 0)
   OR a.entry_count <> COALESCE(p.entries, 0)
   OR a.held <> COALESCE(h.held, 0)
   OR a.balance <> COALESCE(l.balance_after, 0)
ORDER BY a.id
"""

_HOLD_SQL = """
SELECT h.id, h.status, h.amount, h.captured_amount, COALESCE(SUM(e.amount), 0)
FROM saleor_store_credit_hold h
LEFT JOIN saleor_store_credit_entry e ON e.hold_id = h.id
GROUP BY h.id
HAVING (h.status = 'captured' AND COALESCE(SUM(e.amount), 0) <> h.captured_amount)
    OR (h.status <> 'captured' AND COUNT(e.id) > 0)
    OR COUNT(e.id) > 1
ORDER BY h.id
"""


@dataclass
class AccountDrift:
    account_id: int
    currency: str
    stored_balance: Decimal
    stored_held: Decimal
    computed_balance: Decimal
    computed_held: Decimal
    last_balance_after: Decimal


# Not drift: money still owed to customers Saleor deleted (written off by staff).
_ORPHANED_SQL = """
SELECT id, currency, balance, former_user_id FROM saleor_store_credit_account
WHERE user_id IS NULL AND balance > 0 ORDER BY currency, id
"""


@dataclass
class OrphanedBalance:
    account_id: int
    currency: str
    balance: Decimal
    former_user_id: int | None


@dataclass
class HoldDrift:
    hold_id: int
    status: str
    amount: Decimal
    captured_amount: Decimal
    entries_total: Decimal


@dataclass
class VerifyReport:
    accounts_checked: int = 0
    account_drift: list[AccountDrift] = field(default_factory=list)
    hold_drift: list[HoldDrift] = field(default_factory=list)
    orphaned: list[OrphanedBalance] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.account_drift and not self.hold_drift

    def summary(self) -> str:
        orphaned = f", {len(self.orphaned)} orphaned balance(s)" if self.orphaned else ""
        if self.ok:
            return f"ledger ok: {self.accounts_checked} accounts, no drift{orphaned}"
        return (
            f"LEDGER DRIFT: {len(self.account_drift)} account(s), "
            f"{len(self.hold_drift)} hold(s) of {self.accounts_checked} accounts"
        )


def ledger_verify() -> VerifyReport:
    """Check: balance = Σ entries = last balance_after; entry_count = #entries;
    expiring = Σ open lots; held = Σ active holds;
    a captured hold has exactly one entry of its captured amount, others none.
    Also lists orphaned balances (accounts of deleted customers still holding money)."""
    report = VerifyReport()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM saleor_store_credit_account")
        report.accounts_checked = cursor.fetchone()[0]
        cursor.execute(_DRIFT_SQL)
        report.account_drift = [AccountDrift(*row) for row in cursor.fetchall()]
        cursor.execute(_HOLD_SQL)
        report.hold_drift = [HoldDrift(*row) for row in cursor.fetchall()]
        cursor.execute(_ORPHANED_SQL)
        report.orphaned = [OrphanedBalance(*row) for row in cursor.fetchall()]
    return report
