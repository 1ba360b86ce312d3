"""Database-enforced ledger rules, so no code path (QuerySet.update/delete, raw SQL,
an admin action) can rewrite history:

- entries and idempotency records are append-only;
- a hold can change only while it is active, and only its resolution fields;
- accounts are never deleted (deleting a customer detaches the account instead).

TRUNCATE is not affected (test teardown uses it).
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION store_credit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'store credit: % on % is not allowed (append-only ledger)',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER store_credit_entry_append_only
    BEFORE UPDATE OR DELETE ON saleor_store_credit_entry
    FOR EACH ROW EXECUTE FUNCTION store_credit_refuse_change();

CREATE TRIGGER store_credit_idempotency_append_only
    BEFORE UPDATE OR DELETE ON saleor_store_credit_idempotencyrecord
    FOR EACH ROW EXECUTE FUNCTION store_credit_refuse_change();

CREATE TRIGGER store_credit_account_no_delete
    BEFORE DELETE ON saleor_store_credit_account
    FOR EACH ROW EXECUTE FUNCTION store_credit_refuse_change();

CREATE TRIGGER store_credit_hold_no_delete
    BEFORE DELETE ON saleor_store_credit_hold
    FOR EACH ROW EXECUTE FUNCTION store_credit_refuse_change();

CREATE OR REPLACE FUNCTION store_credit_hold_resolves_once() RETURNS trigger AS $$
BEGIN
    IF OLD.status <> 'active' THEN
        RAISE EXCEPTION 'store credit: hold % is already %', OLD.id, OLD.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.account_id <> OLD.account_id OR NEW.amount <> OLD.amount
       OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'store credit: a hold''s account, amount and creation time are fixed'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER store_credit_hold_resolves_once
    BEFORE UPDATE ON saleor_store_credit_hold
    FOR EACH ROW EXECUTE FUNCTION store_credit_hold_resolves_once();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS store_credit_hold_resolves_once ON saleor_store_credit_hold;
DROP TRIGGER IF EXISTS store_credit_hold_no_delete ON saleor_store_credit_hold;
DROP TRIGGER IF EXISTS store_credit_account_no_delete ON saleor_store_credit_account;
DROP TRIGGER IF EXISTS store_credit_idempotency_append_only
    ON saleor_store_credit_idempotencyrecord;
DROP TRIGGER IF EXISTS store_credit_entry_append_only ON saleor_store_credit_entry;
DROP FUNCTION IF EXISTS store_credit_hold_resolves_once();
DROP FUNCTION IF EXISTS store_credit_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("saleor_store_credit", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
