"""4. History growth: balance read and me.storeCredit with 10 vs 100 000 entries."""

from decimal import Decimal

import pytest

from saleor.account.models import User

from saleor_store_credit.models import Account, Entry
from tests.integration.fixtures import STORE_CREDIT_API, StoreCreditClient

from .helpers import measure, median

ROUNDS = 15
BALANCE = "{ me { storeCredit { accounts { currency balance { amount } available { amount } } } } }"
HISTORY = """{ me { storeCredit { entries(first: 20) { totalCount
  edges { node { kind amount { amount } balanceAfter { amount } reason createdAt } }
  pageInfo { hasNextPage endCursor } } } } }"""


def _customer_with_entries(count: int) -> User:
    user = User.objects.create(email=f"history{count}@example.com", is_active=True)
    account = Account.objects.create(
        user=user, email=user.email, currency="USD", balance=Decimal(count),
        entry_count=count,
    )
    batch = 10_000
    for start in range(0, count, batch):
        Entry.objects.bulk_create(
            [Entry(account=account, direction="credit", amount=Decimal(1),
                   balance_after=Decimal(i + 1), kind="adjustment", actor_type="system",
                   reason=f"entry {i}")
             for i in range(start, min(start + batch, count))]
        )
    return user


def _time(client, query):
    samples = []
    for _ in range(ROUNDS):
        t, q, r = measure(lambda: client.post_graphql(query))
        assert "errors" not in r.json()
        samples.append((t, q))
    return median([t for t, _ in samples]), median([q for _, q in samples])


@pytest.mark.django_db
def bench_history_growth(store_credit_plugin, report):
    small = StoreCreditClient(user=_customer_with_entries(10), api_path=STORE_CREDIT_API)
    large = StoreCreditClient(user=_customer_with_entries(100_000), api_path=STORE_CREDIT_API)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE saleor_store_credit_entry")
    for name, query in [("balance read", BALANCE), ("me.storeCredit history page", HISTORY)]:
        _time(small, query), _time(large, query)  # warm-up
        small_t, small_q = _time(small, query)
        large_t, large_q = _time(large, query)
        section = f"history {name}"
        report(section, "queries 10 / 100000 entries", f"{small_q} / {large_q}")
        report(section, "latency ratio 100000/10 entries", round(large_t / small_t, 3), "", "<= 1.2")
