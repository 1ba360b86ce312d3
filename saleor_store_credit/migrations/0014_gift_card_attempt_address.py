# Additive and safe: one nullable column (no default to backfill, no table rewrite)
# and one index on the attempt log, which only ever holds recent rows.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("saleor_store_credit", "0013_hold_requested_and_completing"),
    ]

    operations = [
        migrations.AddField(
            model_name="giftcardredeemattempt",
            name="client_address",
            field=models.GenericIPAddressField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="giftcardredeemattempt",
            index=models.Index(
                fields=["client_address", "created_at"], name="sc_gc_attempt_address_time"
            ),
        ),
    ]
