"""The balance_after chain: each entry's balance_after is the one before it (in id
order, per account) plus or minus its amount, starting from zero."""

from django.db import connection

_BROKEN_LINKS_SQL = """
SELECT id, account_id, balance_after, expected FROM (
    SELECT id, account_id, balance_after,
           COALESCE(LAG(balance_after) OVER w, 0)
             + CASE WHEN direction = 'credit' THEN amount ELSE -amount END AS expected
      FROM saleor_store_credit_entry
    WINDOW w AS (PARTITION BY account_id ORDER BY id)
) links
WHERE balance_after <> expected
ORDER BY id
LIMIT 20
"""


def broken_links() -> list[tuple]:
    """Entries whose balance_after does not follow from the entry before them."""
    with connection.cursor() as cursor:
        cursor.execute(_BROKEN_LINKS_SQL)
        return cursor.fetchall()
