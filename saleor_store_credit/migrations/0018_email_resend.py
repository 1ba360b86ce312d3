# Two nullable columns and an index on the plugin's own e-mail log (a small table):
# what the sweeper of stuck e-mails reads. Nothing of Saleor's changes.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [("saleor_store_credit", "0017_email_log")]

    operations = [
        migrations.AddField(
            model_name="emaildelivery", name="next_attempt_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="emaildelivery", name="claimed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="emaildelivery",
            index=models.Index(fields=["status", "next_attempt_at"], name="sc_email_due"),
        ),
    ]
