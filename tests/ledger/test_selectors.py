"""History pages read each account along its own index range and merge the page."""

from decimal import Decimal

import pytest
from django.db import connection

from saleor_store_credit.ledger import Actor, credit, debit, get_or_create_account
from saleor_store_credit.ledger.selectors import _PAGE_IDS_SQL, entries_page_for_user

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("history")


def test_a_page_merges_the_newest_entries_of_every_account_of_the_customer(make_user):
    # given a customer with entries in two currencies, interleaved, and someone else
    user, other = make_user(), make_user()
    usd = get_or_create_account(user=user, currency="USD")
    eur = get_or_create_account(user=user, currency="EUR")
    theirs = get_or_create_account(user=other, currency="USD")
    written = []
    for step in range(6):
        written.append(credit(account=usd if step % 2 else eur, amount=str(step + 1),
                              kind="adjustment", actor=ACTOR).pk)
        credit(account=theirs, amount="1", kind="adjustment", actor=ACTOR)
    written.append(debit(account=usd, amount="1", kind="payment", actor=ACTOR).pk)
    newest_first = written[::-1]

    # when / then: pages of three, newest first, across both accounts
    first = entries_page_for_user(user.pk, before=None, limit=3)
    assert [e.pk for e in first] == newest_first[:3]
    second = entries_page_for_user(user.pk, before=first[-1].pk, limit=3)
    assert [e.pk for e in second] == newest_first[3:6]
    last = entries_page_for_user(user.pk, before=second[-1].pk, limit=3)
    assert [e.pk for e in last] == newest_first[6:]
    assert {e.account.currency for e in first + second + last} == {"USD", "EUR"}
    # one currency only
    euros = entries_page_for_user(user.pk, "eur", before=None, limit=10)
    assert [e.pk for e in euros] == [pk for pk in newest_first if pk in
                                     {e.pk for e in first + second + last
                                      if e.account_id == eur.pk}]
    assert all(e.amount > Decimal(0) for e in euros)


def test_a_page_reads_the_account_index_range_not_the_whole_history(make_account):
    # given
    account = make_account("5.00")

    # when the planner is asked how it reads a page
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + _PAGE_IDS_SQL,
                       [None, None, 21, account.user_id, None, None, 21])
        plan = [row[0].strip(" ->") for row in cursor.fetchall()]

    # then each account's entries come from the history index, in order, limited to
    # one page before they are merged (only a page per account is ever sorted)
    at = next(i for i, line in enumerate(plan) if "store_credit_entry_hist" in line)
    assert plan[at - 1].startswith("Limit")
    assert plan[at].startswith(("Index Scan", "Index Only Scan"))
