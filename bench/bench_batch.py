"""5. Reimbursement run and ledger_verify() throughput at 100 000 accounts, peak memory."""

import time
import tracemalloc
from decimal import Decimal

import pytest

from saleor.account.models import User

from saleor_store_credit.ledger import Actor, ledger_verify
from saleor_store_credit.models import Account, Entry, ReimbursementRun
from saleor_store_credit.reimbursement import process_run

ACCOUNTS = 100_000


def _load(count):
    stamp = time.time_ns()
    for start in range(0, count, 10_000):
        users = User.objects.bulk_create(
            [User(email=f"r{i}-{stamp}@example.com", is_active=True)
             for i in range(start, min(start + 10_000, count))]
        )
        accounts = Account.objects.bulk_create(
            [Account(user=u, email=u.email, currency="USD", balance=Decimal("3.00"),
                     entry_count=1) for u in users]
        )
        Entry.objects.bulk_create(
            [Entry(account=a, direction="credit", amount=Decimal("3.00"),
                   balance_after=Decimal("3.00"), kind="adjustment", actor_type="system")
             for a in accounts]
        )


@pytest.mark.django_db
def bench_reimbursement_and_verify_at_scale(store_credit_plugin, report):
    _load(ACCOUNTS)

    start = time.perf_counter()
    verify_before = ledger_verify()
    verify_seconds = time.perf_counter() - start
    assert verify_before.ok

    run = ReimbursementRun.objects.create(
        currency="USD", minimum_amount=Decimal("1"), selected_count=ACCOUNTS,
        **Actor.system().entry_fields(),
    )
    tracemalloc.start()
    start = time.perf_counter()
    assert process_run(run.pk, batch_size=1000) == "completed"
    run_seconds = time.perf_counter() - start
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    run.refresh_from_db()
    assert run.payout_count == ACCOUNTS
    assert run.total_amount == Decimal("3.00") * ACCOUNTS
    assert ledger_verify().ok
    section = f"batch jobs at {ACCOUNTS} accounts"
    report(section, "ledger_verify() seconds", round(verify_seconds, 2), "s")
    report(section, "ledger_verify() accounts/s", round(ACCOUNTS / verify_seconds), "acc/s")
    report(section, "reimbursement run seconds", round(run_seconds, 1), "s")
    report(section, "reimbursement payouts/s", round(ACCOUNTS / run_seconds), "payouts/s")
    report(section, "reimbursement peak Python memory", round(peak / 2**20, 1), "MiB")
