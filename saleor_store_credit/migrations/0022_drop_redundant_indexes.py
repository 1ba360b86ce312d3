"""Migration 0022 (0018 on its branch). Drop three indexes that a composite index already covers (same leading column):
account.user_id (unique user_id, currency), entry.account_id (store_credit_entry_hist:
account_id, id DESC) and payout.run_id (unique run_id, account_id). Every balance
change, entry and payout wrote them for nothing (issue 20: a reimbursement batch writes
one of each per account). Reads keep using the composite indexes."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("saleor_store_credit", "0021_audit_kinds_of_terms_and_risk"),
    ]

    operations = [
        migrations.AlterField(
            model_name="account",
            name="user",
            field=models.ForeignKey(
                db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL,
                related_name="store_credit_accounts", to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="entry",
            name="account",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT,
                related_name="entries", to="saleor_store_credit.account",
            ),
        ),
        migrations.AlterField(
            model_name="payout",
            name="run",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT,
                related_name="payouts", to="saleor_store_credit.reimbursementrun",
            ),
        ),
    ]
