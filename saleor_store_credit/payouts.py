"""Payout bank details: the plugin's own storage (not Saleor's private metadata, which
every MANAGE_USERS holder can read). Shown masked; in full only to HANDLE_PAYMENTS."""

from django.db import transaction

from .errors import StoreCreditError, StoreCreditErrorCode
from .ledger import Actor
from .models import PayoutDetails

MAX_ACCOUNT_LENGTH = 64
VISIBLE = 4


def mask(value: str) -> str:
    """`****` and the last four characters; never more than a quarter of the value."""
    value = value or ""
    if not value:
        return ""
    visible = min(VISIBLE, len(value) // 4)
    return "****" + (value[-visible:] if visible else "")


def payout_details_for(user_id) -> PayoutDetails | None:
    if user_id is None:
        return None
    return PayoutDetails.objects.filter(user_id=user_id).first()


def set_payout_details(*, user, account_number: str, actor: Actor,
                       account_holder: str = "") -> PayoutDetails | None:
    """Save (or, with an empty number, remove) a customer's bank details."""
    number = (account_number or "").strip()
    holder = (account_holder or "").strip()
    if len(number) > MAX_ACCOUNT_LENGTH or not number.isprintable():
        raise StoreCreditError(
            f"The account number must be at most {MAX_ACCOUNT_LENGTH} printable characters.",
            field="accountNumber", code=StoreCreditErrorCode.INVALID,
        )
    if len(holder) > 255 or not holder.isprintable():
        raise StoreCreditError("The account holder must be at most 255 printable characters.",
                               field="accountHolder", code=StoreCreditErrorCode.INVALID)
    with transaction.atomic():
        if not number:
            PayoutDetails.objects.filter(user=user).delete()
            return None
        details, _ = PayoutDetails.objects.update_or_create(
            user=user,
            defaults={"account_number": number, "account_holder": holder,
                      "updated_by": f"{actor.type}:{actor.id}"},
        )
        return details
