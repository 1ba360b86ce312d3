"""The credit audit is append-only (same trigger function as the ledger), and the
exposure query gets a partial index on Saleor's order table: a customer's open
orders by currency. The index is only created where Saleor's `order` app is
installed (not in the ledger-only test tier).

Safe on a big store (issue 17):
- The dependency is `order.0202_alter_order_undiscounted_base_shipping_price_amount`,
  the newest order migration of Saleor 3.21.0, which every supported Saleor
  (3.21.x, 3.22.x, 3.23.x, main) has; a dependency on a newer Saleor migration
  would make `migrate` fail for the whole shop on older versions. The index only
  needs `order_order(user_id, currency, created_at, status)`, all far older.
- The index is built with `CREATE INDEX CONCURRENTLY` in a non-atomic migration,
  Saleor's own pattern (saleor/account/migrations/0086_auto_20240805_0851.py), so
  order writes are not blocked while it builds.
- This migration was edited in place (it used to depend on `order.0227` and build
  the index inside the migration's transaction). Installs that already applied it
  are unaffected: Django does not re-run a recorded migration, and the index it
  built then is the same index.
- Non-atomic means a failure part-way is not rolled back, so every step can run
  again: the trigger is replaced, and an INVALID index left by an interrupted
  concurrent build is dropped before building again.
"""

from django.apps import apps as global_apps
from django.db import migrations

SALEOR = global_apps.is_installed("saleor.order")

AUDIT_FORWARD = """
CREATE OR REPLACE TRIGGER store_credit_credit_audit_append_only
    BEFORE UPDATE OR DELETE ON saleor_store_credit_creditaudit
    FOR EACH ROW EXECUTE FUNCTION store_credit_refuse_change();
"""
AUDIT_BACKWARD = (
    "DROP TRIGGER IF EXISTS store_credit_credit_audit_append_only "
    "ON saleor_store_credit_creditaudit;"
)
INDEX_NAME = "store_credit_order_open_exposure_idx"
# CONCURRENTLY cannot run inside a transaction block, so each statement is its own
# RunSQL (one statement per query, autocommit in a non-atomic migration).
DROP_INDEX = f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX_NAME};"
# Open = not draft/cancelled/expired/returned; see credit/exposure.py OPEN_STATUSES.
INDEX_FORWARD = f"""
CREATE INDEX CONCURRENTLY {INDEX_NAME}
    ON order_order (user_id, currency, created_at)
    WHERE status IN ('unconfirmed', 'unfulfilled', 'partially fulfilled', 'fulfilled',
                     'partially_returned');
"""

SALEOR_ORDER_MIGRATION = (
    "order", "0202_alter_order_undiscounted_base_shipping_price_amount"
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("saleor_store_credit", "0010_credit_management")] + (
        [SALEOR_ORDER_MIGRATION] if SALEOR else []
    )

    operations = [migrations.RunSQL(AUDIT_FORWARD, AUDIT_BACKWARD)] + (
        [
            # Forward: clear a leftover of an interrupted build, then build.
            migrations.RunSQL(DROP_INDEX, migrations.RunSQL.noop),
            migrations.RunSQL(INDEX_FORWARD, DROP_INDEX),
        ]
        if SALEOR
        else []
    )
