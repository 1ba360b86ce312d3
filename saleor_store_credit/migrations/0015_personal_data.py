# Personal data (issue 15, item 8). Additive and cheap on a big store: two nullable
# columns on accounts and a JSON column with a constant default on reconciliation
# results (metadata-only in PostgreSQL 11+), a new table for payout bank details, and
# a narrow exception in the append-only triggers so that anonymising a deleted
# customer can rewrite personal text (never money, references or times).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# An UPDATE passes only while the transaction has set `store_credit.anonymising` (done
# by saleor_store_credit.privacy alone, with SET LOCAL semantics) and only if nothing
# but the columns named in the trigger's arguments changes. DELETE is always refused.
FORWARD = r"""
CREATE OR REPLACE FUNCTION store_credit_anonymise_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND COALESCE(current_setting('store_credit.anonymising', true), '') = 'on'
       AND (to_jsonb(NEW) - TG_ARGV) = (to_jsonb(OLD) - TG_ARGV) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'store credit: % on % is not allowed (append-only ledger)',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS store_credit_entry_append_only ON saleor_store_credit_entry;
CREATE TRIGGER store_credit_entry_append_only
    BEFORE UPDATE OR DELETE ON saleor_store_credit_entry
    FOR EACH ROW EXECUTE FUNCTION store_credit_anonymise_only('actor_label', 'reason');

DROP TRIGGER IF EXISTS store_credit_memo_append_only ON saleor_store_credit_creditmemo;
CREATE TRIGGER store_credit_memo_append_only
    BEFORE UPDATE OR DELETE ON saleor_store_credit_creditmemo
    FOR EACH ROW EXECUTE FUNCTION store_credit_anonymise_only('actor_label', 'reason');

DROP TRIGGER IF EXISTS store_credit_credit_audit_append_only ON saleor_store_credit_creditaudit;
CREATE TRIGGER store_credit_credit_audit_append_only
    BEFORE UPDATE OR DELETE ON saleor_store_credit_creditaudit
    FOR EACH ROW EXECUTE FUNCTION store_credit_anonymise_only('actor_label', 'message', 'data');
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS store_credit_entry_append_only ON saleor_store_credit_entry;
CREATE TRIGGER store_credit_entry_append_only
    BEFORE UPDATE OR DELETE ON saleor_store_credit_entry
    FOR EACH ROW EXECUTE FUNCTION store_credit_refuse_change();
DROP TRIGGER IF EXISTS store_credit_memo_append_only ON saleor_store_credit_creditmemo;
CREATE TRIGGER store_credit_memo_append_only
    BEFORE UPDATE OR DELETE ON saleor_store_credit_creditmemo
    FOR EACH ROW EXECUTE FUNCTION store_credit_refuse_change();
DROP TRIGGER IF EXISTS store_credit_credit_audit_append_only ON saleor_store_credit_creditaudit;
CREATE TRIGGER store_credit_credit_audit_append_only
    BEFORE UPDATE OR DELETE ON saleor_store_credit_creditaudit
    FOR EACH ROW EXECUTE FUNCTION store_credit_refuse_change();
DROP FUNCTION IF EXISTS store_credit_anonymise_only();
"""


class Migration(migrations.Migration):

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("saleor_store_credit", "0014_gift_card_attempt_address"),
    ]

    operations = [
        migrations.AddField(
            model_name="account",
            name="anonymised_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="account",
            name="former_user_id",
            field=models.IntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="ledgercheck",
            name="orphaned",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AlterField(
            model_name="entry",
            name="kind",
            field=models.CharField(
                choices=[
                    ("adjustment", "Staff adjustment"),
                    ("payment", "Paid an order"),
                    ("refund", "Refund of a store-credit payment"),
                    ("credit_memo", "Credit memo"),
                    ("gift_card", "Gift card converted"),
                    ("payout", "Reimbursed"),
                    ("payout_reversal", "Reimbursement reversed"),
                    ("expiry", "Expired"),
                    ("write_off", "Written off (orphaned balance)"),
                ],
                max_length=32,
            ),
        ),
        migrations.CreateModel(
            name="PayoutDetails",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                           serialize=False, verbose_name="ID")),
                ("account_number", models.CharField(max_length=64)),
                ("account_holder", models.CharField(blank=True, default="", max_length=255)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("updated_by", models.CharField(blank=True, default="", max_length=80)),
                ("user", models.OneToOneField(
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="store_credit_payout_details",
                    to=settings.AUTH_USER_MODEL,
                )),
            ],
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
