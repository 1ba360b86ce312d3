"""Deep benchmarks (`make bench-deep`, README "Benchmarks"): the ledger at 1 000 000
accounts and 10 000 000 entries. Reads: `ledger_verify()`, the liability report and a
customer's history page (10 entries vs 1 000 000); then a reimbursement run over all
1 000 000 accounts (compare its peak memory with the 100 000-account run of
`make bench`). Bounded: the data is loaded server-side and rolled back at the end;
use a throwaway database (about 6 GB of disk while it runs)."""

import os
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from saleor.account.models import User

from saleor_store_credit.ledger import Actor, ledger_verify
from saleor_store_credit.models import Account, ReimbursementRun
from saleor_store_credit.reimbursement import process_run
from saleor_store_credit.reports import liability_report
from tests.integration.fixtures import STORE_CREDIT_API, StoreCreditClient

from .bulk import analyze, clone_users, cost, database_size, fund_users
from .helpers import measure, median

ACCOUNTS = int(os.environ.get("SC_DEEP_ACCOUNTS", 1_000_000))
PER_ACCOUNT = 9
LONG_HISTORY = int(os.environ.get("SC_DEEP_LONG_HISTORY", 1_000_000))
ROUNDS = 15
FIRST_PAGE = """{ me { storeCredit { entries(first: 20) { totalCount
  edges { node { kind amount { amount } balanceAfter { amount } reason createdAt } }
  pageInfo { hasNextPage endCursor } } } } }"""
PAGE_AFTER = """query ($after: String) { me { storeCredit { entries(first: 20, after: $after) {
  edges { node { kind amount { amount } balanceAfter { amount } } }
  pageInfo { hasNextPage endCursor } } } } }"""


def _history_customer(prefix: str, entries: int) -> User:
    clone_users(1, prefix=prefix)
    fund_users(prefix=prefix, entries_per_account=entries, amount=Decimal("1.00"))
    return User.objects.get(email=f"{prefix}1@example.com")


def _page(client, query, variables=None):
    samples = []
    for _ in range(ROUNDS):
        t, q, r = measure(lambda: client.post_graphql(query, variables))
        body = r.json()
        assert "errors" not in body, body
        samples.append((t, q))
    return median([t for t, _ in samples]), median([q for _, q in samples]), body


def _middle_cursor(client, entries: int) -> str | None:
    """A cursor half-way down the history (keyset: the cursor is an entry id)."""
    from saleor_store_credit.graphql.types import _cursor
    from saleor_store_credit.models import Entry

    user_id = client.user.pk
    ids = Entry.objects.filter(account__user_id=user_id).order_by("-pk").values_list(
        "pk", flat=True)
    return _cursor(ids[entries // 2]) if entries > 1 else None


@pytest.mark.django_db
def deep_ledger_at_scale(store_credit_plugin, report):
    section = f"scale: {ACCOUNTS} accounts"
    # given 1 000 000 customers with 9 entries each, one with 10 and one with 1 000 000
    with cost() as load:
        clone_users(ACCOUNTS, prefix="deep")
        fund_users(prefix="deep", entries_per_account=PER_ACCOUNT, amount=Decimal("1.00"))
        small = StoreCreditClient(user=_history_customer("short", 10), api_path=STORE_CREDIT_API)
        large = StoreCreditClient(user=_history_customer("long", LONG_HISTORY),
                                  api_path=STORE_CREDIT_API)
        analyze()
    entries = ACCOUNTS * PER_ACCOUNT + 10 + LONG_HISTORY
    report(section, "entries loaded", entries, "", "10 000 000")
    report(section, "load seconds (server-side), database size", round(load.seconds),
           f"s, {database_size()}")

    # when / then: the nightly reconciliation
    with cost() as verify:
        result = ledger_verify()
    assert result.ok, result.summary()
    assert result.accounts_checked == ACCOUNTS + 2
    report(section, "ledger_verify() seconds", round(verify.seconds, 1), "s")
    report(section, "ledger_verify() peak Python memory", round(verify.peak_mib, 1), "MiB")

    # the liability report of the last 30 days
    end = timezone.now() + timedelta(seconds=1)
    with cost() as liability:
        (row,) = liability_report(start=end - timedelta(days=30), end=end)
    assert row.closing == Decimal(entries) and row.balanced()
    report(section, "liability report seconds", round(liability.seconds, 1), "s")
    report(section, "liability report peak Python memory", round(liability.peak_mib, 1), "MiB")

    # a customer's history page: first page, and a page from the middle of the history
    for name, query, variables in [
        ("first page", FIRST_PAGE, lambda client, n: None),
        ("page half-way down", PAGE_AFTER,
         lambda client, n: {"after": _middle_cursor(client, n)}),
    ]:
        small_vars, large_vars = variables(small, 10), variables(large, LONG_HISTORY)
        _page(small, query, small_vars), _page(large, query, large_vars)  # warm-up
        small_t, small_q, _ = _page(small, query, small_vars)
        large_t, large_q, body = _page(large, query, large_vars)
        assert len(body["data"]["me"]["storeCredit"]["entries"]["edges"]) == 20
        report(f"{section}, history {name}", f"queries 10 / {LONG_HISTORY} entries",
               f"{small_q} / {large_q}")
        report(f"{section}, history {name}", f"latency ratio {LONG_HISTORY}/10 entries",
               round(large_t / small_t, 3), "", "<= 1.2")

    # then pay everyone out: memory stays flat however many accounts a run has
    run = ReimbursementRun.objects.create(
        currency="USD", minimum_amount=Decimal("1"), selected_count=ACCOUNTS + 2,
        **Actor.system().entry_fields(),
    )
    with cost() as payout:
        assert process_run(run.pk, batch_size=1000) == "completed"
    run.refresh_from_db()
    assert run.payout_count == ACCOUNTS + 2
    assert not Account.objects.filter(balance__gt=0).exists()
    report(section, "reimbursement run seconds", round(payout.seconds, 1), "s")
    report(section, "reimbursement payouts/s", round(run.payout_count / payout.seconds),
           "payouts/s", ">= 10000")
    if payout.cpu_seconds:
        report(section, "reimbursement payouts per CPU second (client + PostgreSQL)",
               round(run.payout_count / payout.cpu_seconds), "payouts/s", ">= 10000")
    report(section, "reimbursement peak Python memory", round(payout.peak_mib, 1), "MiB",
           "flat (as at 100 000)")
    with cost() as verify_after:
        assert ledger_verify().ok
    report(section, "ledger_verify() after the run seconds", round(verify_after.seconds, 1),
           "s")
