from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("saleor_store_credit", "0012_idempotency_result_ref")]

    operations = [
        migrations.AddField(
            model_name="hold",
            name="requested_amount",
            field=models.DecimalField(blank=True, decimal_places=4, max_digits=30, null=True),
        ),
        migrations.AddField(
            model_name="hold",
            name="completing_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
