"""1. Hot account: concurrent debits on one account, ledger service vs raw SQL (the
naive floor: BEGIN; SELECT … FOR UPDATE; INSERT; UPDATE; COMMIT). The service debits
in one statement (ledger/services.py `_POST_SQL`)."""

import threading
import time
from decimal import Decimal

import psycopg
import pytest
from django.db import connection

from saleor_store_credit.ledger import Actor, credit, debit, get_or_create_account, ledger_verify
from saleor_store_credit.models import Account

pytestmark = pytest.mark.django_db(transaction=True)
ROUNDS = 2  # per side

RAW_SETUP = """
DROP TABLE IF EXISTS bench_raw_entry; DROP TABLE IF EXISTS bench_raw_account;
CREATE TABLE bench_raw_account (id int PRIMARY KEY, balance numeric(30,4) NOT NULL
    CHECK (balance >= 0));
CREATE TABLE bench_raw_entry (id bigserial PRIMARY KEY, account_id int NOT NULL,
    amount numeric(30,4) NOT NULL, balance_after numeric(30,4) NOT NULL);
INSERT INTO bench_raw_account VALUES (1, %s);
"""


def _dsn():
    s = connection.settings_dict
    return (f"host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432} dbname={s['NAME']} "
            f"user={s['USER']} password={s['PASSWORD'] or ''}")


def _run_threads(clients, target):
    barrier = threading.Barrier(clients + 1)
    threads = [threading.Thread(target=target, args=(barrier,)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def _service(account, clients, per_client):
    actor = Actor.system("bench")

    def worker(barrier):
        from django.db import connections

        connections["replica"] = connections["default"]
        # connected before the clock starts, as the raw side is: the figure is the
        # debits', not sixteen connection set-ups'
        connection.ensure_connection()
        barrier.wait()
        for _ in range(per_client):
            debit(account=account, amount="0.01", kind="payment", actor=actor)
        connection.close()

    return _run_threads(clients, worker)


def _raw(clients, per_client):
    def worker(barrier):
        with psycopg.connect(_dsn()) as conn:
            barrier.wait()
            for _ in range(per_client):
                with conn.transaction():
                    balance = conn.execute(
                        "SELECT balance FROM bench_raw_account WHERE id = 1 FOR UPDATE"
                    ).fetchone()[0]
                    conn.execute(
                        "INSERT INTO bench_raw_entry (account_id, amount, balance_after) "
                        "VALUES (1, 0.01, %s)", [balance - Decimal("0.01")],
                    )
                    conn.execute(
                        "UPDATE bench_raw_account SET balance = balance - 0.01 WHERE id = 1"
                    )

    return _run_threads(clients, worker)


@pytest.mark.parametrize(("clients", "per_client"), [(16, 100), (64, 25)])
def bench_hot_account(clients, per_client, customer_user, report):
    total_ops = clients * per_client
    start_balance = Decimal("100000.00")
    account = get_or_create_account(user=customer_user, currency="USD")
    credit(account=account, amount=start_balance, kind="adjustment", actor=Actor.system())
    with psycopg.connect(_dsn(), autocommit=True) as conn:
        conn.execute(RAW_SETUP.replace("%s", str(start_balance)))

    # alternated (service, raw, raw, service) so drift on a shared box hits both alike
    service_seconds = raw_seconds = 0.0
    for side in ("service", "raw", "raw", "service"):
        if side == "service":
            service_seconds += _service(account, clients, per_client)
        else:
            raw_seconds += _raw(clients, per_client)
    total_ops *= ROUNDS

    # no update may be lost on either side
    expected = start_balance - Decimal("0.01") * total_ops
    assert Account.objects.get(pk=account.pk).balance == expected
    with psycopg.connect(_dsn()) as conn:
        assert conn.execute("SELECT balance FROM bench_raw_account").fetchone()[0] == expected
        conn.execute("DROP TABLE bench_raw_entry; DROP TABLE bench_raw_account")
    assert ledger_verify().ok

    service_rate = total_ops / service_seconds
    raw_rate = total_ops / raw_seconds
    section = f"hot account, {clients} clients"
    report(section, "ledger service debits/s", round(service_rate, 1), "ops/s")
    report(section, "raw SQL debits/s", round(raw_rate, 1), "ops/s")
    report(section, "ratio service/raw", round(service_rate / raw_rate, 3), "", ">= 1.0")
    report(section, "lost updates", 0, "", "0")
