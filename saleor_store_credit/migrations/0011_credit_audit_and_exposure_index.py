"""The credit audit is append-only (same trigger function as the ledger), and the
exposure query gets a partial index on Saleor's order table: a customer's open
orders by currency. The index is only created where Saleor's `order` app is
installed (not in the ledger-only test tier)."""

from django.apps import apps as global_apps
from django.db import migrations

SALEOR = global_apps.is_installed("saleor.order")

AUDIT_FORWARD = """
CREATE TRIGGER store_credit_credit_audit_append_only
    BEFORE UPDATE OR DELETE ON saleor_store_credit_creditaudit
    FOR EACH ROW EXECUTE FUNCTION store_credit_refuse_change();
"""
AUDIT_BACKWARD = (
    "DROP TRIGGER IF EXISTS store_credit_credit_audit_append_only "
    "ON saleor_store_credit_creditaudit;"
)
# Open = not draft/cancelled/expired/returned; see credit/exposure.py OPEN_STATUSES.
INDEX_FORWARD = """
CREATE INDEX IF NOT EXISTS store_credit_order_open_exposure_idx
    ON order_order (user_id, currency, created_at)
    WHERE status IN ('unconfirmed', 'unfulfilled', 'partially fulfilled', 'fulfilled',
                     'partially_returned');
"""
INDEX_BACKWARD = "DROP INDEX IF EXISTS store_credit_order_open_exposure_idx;"


class Migration(migrations.Migration):
    dependencies = [("saleor_store_credit", "0010_credit_management")] + (
        [("order", "0227_orderline_price_override_reason")] if SALEOR else []
    )

    operations = [migrations.RunSQL(AUDIT_FORWARD, AUDIT_BACKWARD)] + (
        [migrations.RunSQL(INDEX_FORWARD, INDEX_BACKWARD)] if SALEOR else []
    )
