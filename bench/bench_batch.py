"""5. Reimbursement run and ledger_verify() throughput at 100 000 accounts, peak memory
(`make bench-deep` repeats the run at 1 000 000 accounts)."""

from decimal import Decimal

import pytest

from saleor_store_credit.ledger import Actor, ledger_verify
from saleor_store_credit.models import Account, ReimbursementRun, WebhookDelivery
from saleor_store_credit.reimbursement import process_run

from .bulk import analyze, clone_users, cost, fund_users

ACCOUNTS = 100_000
# With a webhook target every payout also writes two outbox rows built in Python
# (payout_created, balance_changed): measured on fewer accounts to keep `make bench` short.
WEBHOOK_ACCOUNTS = 20_000


def _with_webhook_target(plugin_configuration):
    from saleor_store_credit.conf import forget_settings

    for item in plugin_configuration.configuration:
        if item["name"] == "webhook_target_urls":
            item["value"] = "https://accounting.example/hook"
        if item["name"] == "webhook_secret":
            item["value"] = "bench-secret"
    plugin_configuration.save(update_fields=["configuration"])
    forget_settings()


@pytest.mark.django_db
@pytest.mark.parametrize("webhooks", [False, True], ids=["no webhook target", "webhook target"])
def bench_reimbursement_and_verify_at_scale(store_credit_plugin, report, webhooks):
    accounts = WEBHOOK_ACCOUNTS if webhooks else ACCOUNTS
    clone_users(accounts, prefix="r")
    fund_users(prefix="r", entries_per_account=1, amount=Decimal("3.00"))
    analyze()  # as autovacuum would have: the rows are new in this transaction
    if webhooks:
        _with_webhook_target(store_credit_plugin)
    section = f"batch jobs at {accounts} accounts" + (", webhook target" if webhooks else "")

    with cost() as verify:
        verify_before = ledger_verify()
    assert verify_before.ok

    run = ReimbursementRun.objects.create(
        currency="USD", minimum_amount=Decimal("1"), selected_count=accounts,
        **Actor.system().entry_fields(),
    )
    with cost() as payout:
        assert process_run(run.pk, batch_size=1000) == "completed"

    run.refresh_from_db()
    assert run.payout_count == accounts
    assert run.total_amount == Decimal("3.00") * accounts
    assert not Account.objects.filter(balance__gt=0).exists()
    assert ledger_verify().ok
    if webhooks:  # one payout_created and one balance_changed row per payout
        assert WebhookDelivery.objects.filter(event="store_credit.payout_created").count() == accounts
        assert WebhookDelivery.objects.filter(event="store_credit.balance_changed").count() == accounts
    else:
        report(section, "ledger_verify() seconds", round(verify.seconds, 2), "s")
        report(section, "ledger_verify() accounts/s", round(accounts / verify.seconds), "acc/s")
    report(section, "reimbursement run seconds", round(payout.seconds, 1), "s")
    report(section, "reimbursement payouts/s", round(accounts / payout.seconds), "payouts/s",
           ">= 10000" if not webhooks else "")
    if payout.cpu_seconds:
        report(section, "reimbursement payouts per CPU second (client + PostgreSQL)",
               round(accounts / payout.cpu_seconds), "payouts/s",
               ">= 10000" if not webhooks else "")
    report(section, "reimbursement peak Python memory", round(payout.peak_mib, 1), "MiB",
           "flat")
