"""Credit insurance and guarantees of a customer, and what they do to the limit
(issue 19, item 4; D365 "Insurance and guarantees": they are added to the credit
limit to give the total credit limit).

A cover counts while `valid_from ≤ now < valid_to` and it is not cancelled: an
expired one stops counting at that instant, with no task involved (a guarantee that
ends at 12:00 counts at 11:59:59 and not at 12:00). The configuration decides what
the active covers in the limit's currency do to the customer's limit:

- raise (default): limit + cover. A customer without a limit of their own stays
  without one (there is nothing to raise); an unlimited limit stays unlimited.
- cap ("Insurance and guarantees only cap the limit"): the lower of limit and cover,
  for customers that have any cover on record in that currency (current, future or
  expired): credit goes no further than it is covered, and when the cover lapses the
  limit falls to 0. Customers without any cover are not affected.

Only the customer's own limit is changed; a credit group's shared limit is not.
"""

from dataclasses import replace
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from ..errors import NotFound, StoreCreditError, StoreCreditErrorCode
from ..ledger import Actor
from ..money import normalize_currency, parse_amount, quantum
from . import audit
from .limits import Limit
from .models import AuditKind
from .risk_models import CoverKind, CreditCover


def _text(value, field, *, max_length=255, required=False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise StoreCreditError(f"{field} is required.", field=field,
                               code=StoreCreditErrorCode.REQUIRED)
    if len(value) > max_length:
        raise StoreCreditError(f"{field} is too long (max {max_length}).", field=field)
    return value


def cover_data(row: CreditCover) -> dict:
    return {
        "cover_id": row.pk, "kind": row.kind, "provider": row.provider,
        "cover_type": row.cover_type, "reference": row.reference,
        "currency": row.currency, "amount": str(row.amount.quantize(quantum(row.currency))),
        "valid_from": row.valid_from.isoformat(), "valid_to": row.valid_to.isoformat(),
        "cancelled_at": row.cancelled_at.isoformat() if row.cancelled_at else None,
    }


def save_cover(*, actor: Actor, user, kind, currency, amount, valid_from, valid_to,
               provider="", cover_type="", reference="", cover_id=None) -> CreditCover:
    """Record (or change) an insurance policy or a guarantee. Refused before anything
    is written: unknown kind, bad amount or currency, a period that ends before it
    starts or is already over, an insurance without insurer, a guarantee without type."""
    if kind not in CoverKind.values:
        raise StoreCreditError("kind must be INSURANCE or GUARANTEE.", field="kind")
    currency = normalize_currency(currency)
    value = parse_amount(amount, currency)
    provider = _text(provider, "provider", required=kind == CoverKind.INSURANCE)
    cover_type = _text(cover_type, "coverType", required=kind == CoverKind.GUARANTEE)
    reference = _text(reference, "reference")
    if valid_from is None or valid_to is None:
        raise StoreCreditError("validFrom and validTo are required.",
                               field="validFrom" if valid_from is None else "validTo",
                               code=StoreCreditErrorCode.REQUIRED)
    if valid_to <= valid_from:
        raise StoreCreditError("validTo must be after validFrom.", field="validTo")
    if valid_to <= timezone.now():
        raise StoreCreditError("validTo is in the past.", field="validTo")
    with transaction.atomic():
        if cover_id is None:
            row, before = CreditCover(user=user, **actor.entry_fields()), None
        else:
            row = CreditCover.objects.select_for_update().filter(pk=cover_id).first()
            if row is None:
                raise NotFound("Insurance or guarantee not found.", field="id")
            if row.cancelled_at is not None:
                raise StoreCreditError("A cancelled cover cannot be changed.", field="id",
                                       code=StoreCreditErrorCode.INVALID_STATUS)
            before = cover_data(row)
        row.kind, row.currency, row.amount = kind, currency, value
        row.provider, row.cover_type, row.reference = provider, cover_type, reference
        row.valid_from, row.valid_to = valid_from, valid_to
        row.save()
        what = "Insurance" if kind == CoverKind.INSURANCE else "Guarantee"
        audit.record(
            AuditKind.COVER_CHANGED, actor,
            f"{what} {'changed' if before else 'recorded'}: {row.amount} {currency}, "
            f"{valid_from.isoformat()} to {valid_to.isoformat()}.",
            user_id=row.user_id, data={"before": before, "after": cover_data(row)},
        )
    return row


def cancel_cover(cover_id, *, actor: Actor, reason) -> CreditCover:
    reason = _text(reason, "reason", required=True)
    with transaction.atomic():
        row = CreditCover.objects.select_for_update().filter(pk=cover_id).first()
        if row is None:
            raise NotFound("Insurance or guarantee not found.", field="id")
        if row.cancelled_at is not None:
            raise StoreCreditError("This cover is already cancelled.", field="id",
                                   code=StoreCreditErrorCode.INVALID_STATUS)
        row.cancelled_at, row.cancel_reason = timezone.now(), reason
        row.save(update_fields=["cancelled_at", "cancel_reason", "updated_at"])
        audit.record(
            AuditKind.COVER_CHANGED, actor, f"Cover cancelled: {reason}",
            user_id=row.user_id, data={"after": cover_data(row), "reason": reason},
        )
    return row


def covers_of(user_id, currency=None):
    qs = CreditCover.objects.filter(user_id=user_id)
    return qs.filter(currency=currency) if currency else qs


def active_cover(user_id, currency: str, now=None) -> tuple[Decimal, bool]:
    """(sum of the covers counting now, whether the customer has any cover on record
    in this currency), in one query."""
    now = now or timezone.now()
    found = CreditCover.objects.filter(
        user_id=user_id, currency=currency, cancelled_at__isnull=True
    ).aggregate(
        active=Sum("amount", filter=Q(valid_from__lte=now, valid_to__gt=now)),
        any=Count("pk"),
    )
    return found["active"] or Decimal(0), bool(found["any"])


def caps_limit(settings=None) -> bool:
    if settings is None:
        from ..conf import load_settings

        settings = load_settings()
    return bool(settings and getattr(settings, "credit_cover_caps_limit", False))


def effective_limit(limit: Limit | None, *, user_id, currency, now=None, caps=None
                    ) -> tuple[Limit | None, Decimal | None]:
    """The customer's limit with their insurance and guarantees applied, and the
    cover that counted (None when the customer has no cover on record)."""
    if user_id is None:
        return limit, None
    cover, has_any = active_cover(user_id, currency, now)
    if not has_any:
        return limit, None
    if caps if caps is not None else caps_limit():
        if limit is None or limit.unlimited:
            return Limit(cover, temporary=bool(limit and limit.temporary),
                         expires_on=limit.expires_on if limit else None,
                         valid_to=limit.valid_to if limit else None), cover
        return replace(limit, amount=min(limit.amount, cover)), cover
    if limit is None or limit.unlimited:
        return limit, cover
    return replace(limit, amount=limit.amount + cover), cover
