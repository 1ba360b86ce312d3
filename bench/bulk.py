"""Load large ledgers fast, server-side (INSERT … SELECT over generate_series): the
rows a benchmark reads are then as PostgreSQL stores them, without a Python object
per row. Every loaded ledger is consistent (`ledger_verify()` clean, the balance_after
chain valid)."""

import resource
import time
import tracemalloc
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection


def clone_users(count: int, *, prefix: str, chunk: int = 200_000) -> None:
    """`count` customers copied from one made by Saleor's model (so every column
    Saleor requires is filled as Saleor fills it), e-mails `<prefix><n>@example.com`."""
    from saleor.account.models import User

    template = User.objects.create(email=f"template-{prefix}@example.com", is_active=True)
    columns, values = [], []
    for field in User._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        if field.name == "email":
            values.append("%(prefix)s || g || '@example.com'")
        elif field.name == "uuid":
            values.append("gen_random_uuid()")
        else:
            values.append(f"t.{field.column}")
    sql = (f"INSERT INTO {User._meta.db_table} ({', '.join(columns)}) "
           f"SELECT {', '.join(values)} FROM {User._meta.db_table} t, "
           "generate_series(%(first)s, %(last)s) g WHERE t.id = %(template)s")
    with connection.cursor() as cursor:
        for first in range(1, count + 1, chunk):
            cursor.execute(sql, {"prefix": prefix, "template": template.pk, "first": first,
                                 "last": min(first + chunk - 1, count)})


def fund_users(*, prefix: str, entries_per_account: int, amount: Decimal,
               currency: str = "USD", chunk: int = 100_000) -> None:
    """One account per customer of `prefix` with `entries_per_account` credits of
    `amount` (one a day, ending today)."""
    from saleor.account.models import User

    user_table = User._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO saleor_store_credit_account (user_id, email, currency, balance, "
            "held, entry_count, expiring, created_at, updated_at) "
            "SELECT id, email, %(currency)s, %(per)s * %(amount)s::numeric, 0, %(per)s, 0, "
            f"NOW(), NOW() FROM {user_table} WHERE email LIKE %(pattern)s ORDER BY id",
            {"currency": currency, "per": entries_per_account, "amount": amount,
             "pattern": prefix.replace("_", r"\_") + "%"},
        )
        cursor.execute(
            "SELECT MIN(a.id), MAX(a.id) FROM saleor_store_credit_account a "
            f"JOIN {user_table} u ON u.id = a.user_id WHERE u.email LIKE %s",
            [prefix.replace("_", r"\_") + "%"])
        low, high = cursor.fetchone()
        for first in range(low, high + 1, chunk):
            cursor.execute(_ENTRIES_SQL, {"first": first, "last": min(first + chunk - 1, high),
                                          "per": entries_per_account, "amount": amount})


# Entry g of an account (g = 1..per) is inserted after entry g-1 whichever way the
# planner nests the loops, so the balance_after chain holds in id order.
_ENTRIES_SQL = """
INSERT INTO saleor_store_credit_entry (account_id, direction, amount, balance_after, kind,
    reason, reference, actor_type, actor_id, actor_label, created_at)
SELECT a.id, 'credit', %(amount)s::numeric, %(amount)s::numeric * g, 'adjustment', '', '',
       'system', '', 'bench', NOW() - (%(per)s - g) * INTERVAL '1 day'
  FROM saleor_store_credit_account a, generate_series(1, %(per)s) g
 WHERE a.id BETWEEN %(first)s AND %(last)s
"""


def analyze() -> None:
    with connection.cursor() as cursor:
        for table in ("saleor_store_credit_account", "saleor_store_credit_entry",
                      "account_user"):
            cursor.execute(f"ANALYZE {table}")


@dataclass
class Cost:
    seconds: float = 0.0
    peak_mib: float = 0.0      # Python heap peak (tracemalloc)
    rss_growth_mib: float = 0.0  # growth of the process's peak resident memory
    # CPU time of this process and of its PostgreSQL backend: what the block costs
    # whatever else the machine is doing (wall time on a shared 2-core box is not)
    cpu_seconds: float | None = None


def _backend_cpu() -> float | None:
    """CPU seconds of this connection's PostgreSQL backend (same machine only)."""
    import os

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def cost():
    """Wall time, CPU time (client + server), Python heap peak and peak-RSS growth."""
    result = Cost()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    server_before = _backend_cpu()
    client_before = time.process_time()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - start
        result.peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        client = time.process_time() - client_before
        server_after = _backend_cpu()
        if server_before is not None and server_after is not None:
            result.cpu_seconds = client + server_after - server_before
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result.rss_growth_mib = (rss_after - rss_before) / 1024


def database_size() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        return cursor.fetchone()[0]
