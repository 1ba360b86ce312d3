# The customer e-mail delivery log (saleor_store_credit/notifications): one new
# table, nothing existing changes.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("saleor_store_credit", "0016_move_payout_details_out_of_metadata"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="EmailDelivery",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                           serialize=False, verbose_name="ID")),
                ("event", models.CharField(max_length=32)),
                ("recipient", models.EmailField(max_length=254)),
                ("language", models.CharField(max_length=8)),
                ("context", models.JSONField(default=dict)),
                ("subject", models.CharField(blank=True, default="", max_length=255)),
                ("status", models.CharField(
                    choices=[("pending", "Pending"), ("sending", "Sending"),
                             ("sent", "Sent"), ("failed", "Failed (gave up)"),
                             ("skipped", "Skipped (no SMTP server configured)")],
                    default="pending", max_length=16)),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("last_error", models.TextField(blank=True, default="")),
                ("message_id", models.CharField(blank=True, default="", max_length=255)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("user", models.ForeignKey(
                    blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                    related_name="store_credit_emails", to=settings.AUTH_USER_MODEL)),
            ],
            options={
                "indexes": [models.Index(fields=["event", "created_at"],
                                         name="sc_email_event_time")],
            },
        ),
    ]
