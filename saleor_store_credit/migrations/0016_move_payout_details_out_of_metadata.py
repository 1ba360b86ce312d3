# Move payout bank details out of Saleor's private metadata (readable by any
# MANAGE_USERS holder) into the plugin's PayoutDetails table, and remove the key.
#
# Safe on a big store: not one long transaction but batches (one transaction each, the
# batch's users locked), walking users in primary-key order and touching only users
# that have the key; re-runnable (a user already moved has no key left); the reverse
# puts the values back.

from django.conf import settings
from django.db import migrations, transaction

KEY = "store_credit.payout_account"
BATCH_SIZE = 1000


def _user_model(apps):
    User = apps.get_model(settings.AUTH_USER_MODEL)
    names = {field.name for field in User._meta.get_fields()}
    return User if "private_metadata" in names else None  # None: not Saleor (tier 1)


def move_payout_accounts(apps, schema_editor, batch_size=BATCH_SIZE):
    User = _user_model(apps)
    if User is None:
        return
    PayoutDetails = apps.get_model("saleor_store_credit", "PayoutDetails")
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(
                User.objects.select_for_update()
                .filter(pk__gt=last_pk, private_metadata__has_key=KEY)
                .order_by("pk")
                .values_list("pk", "private_metadata")[:batch_size]
            )
            if not batch:
                return
            last_pk = batch[-1][0]
            details = []
            for pk, metadata in batch:
                value = str(metadata.get(KEY) or "").strip()[:64]
                if value:
                    details.append(PayoutDetails(user_id=pk, account_number=value,
                                                 updated_by="migration"))
            # A row written through the API since (the newer value) wins.
            PayoutDetails.objects.bulk_create(details, ignore_conflicts=True)
            table = User._meta.db_table
            with schema_editor_cursor(schema_editor) as cursor:
                cursor.execute(
                    f"UPDATE {table} SET private_metadata = private_metadata - %s "
                    "WHERE id = ANY(%s)",
                    [KEY, [pk for pk, _ in batch]],
                )


def schema_editor_cursor(schema_editor):
    from django.db import connection

    return (schema_editor.connection if schema_editor else connection).cursor()


def restore_payout_accounts(apps, schema_editor, batch_size=BATCH_SIZE):
    User = _user_model(apps)
    if User is None:
        return
    PayoutDetails = apps.get_model("saleor_store_credit", "PayoutDetails")
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(
                PayoutDetails.objects.filter(pk__gt=last_pk).order_by("pk")
                .values_list("pk", "user_id", "account_number")[:batch_size]
            )
            if not batch:
                return
            last_pk = batch[-1][0]
            for _pk, user_id, number in batch:
                User.objects.filter(pk=user_id).update(
                    private_metadata=_merged(User, user_id, number)
                )


def _merged(User, user_id, number):
    metadata = User.objects.values_list("private_metadata", flat=True).get(pk=user_id) or {}
    return {**metadata, KEY: number}


class Migration(migrations.Migration):
    atomic = False  # one transaction per batch, not one for the whole store

    dependencies = [
        ("saleor_store_credit", "0015_personal_data"),
    ]

    operations = [
        migrations.RunPython(move_payout_accounts, restore_payout_accounts, elidable=True),
    ]
