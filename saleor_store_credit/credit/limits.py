"""Credit limits, groups and customer profiles; every limit change goes through the
adjustment journal (draft → submitted → approved → posted), including temporary
limits. A direct edit is a journal line posted in one step, and can be forbidden."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from ..conf import StoreCreditSettings
from ..errors import NotFound, StoreCreditError, StoreCreditErrorCode
from ..ledger import Actor
from ..money import normalize_currency, parse_amount_or_zero, quantum
from . import audit
from .models import (
    AdjustmentStatus,
    AuditKind,
    CreditGroup,
    CreditLimit,
    CreditProfile,
    LimitAdjustment,
    TemporaryLimit,
)

SYSTEM = Actor.system("credit management")


@dataclass(frozen=True)
class Limit:
    """A limit in force: `amount` None means unlimited."""

    amount: Decimal | None
    temporary: bool = False
    expires_on: date | None = None
    valid_to: object = None

    @property
    def unlimited(self) -> bool:
        return self.amount is None


def _owner(user_id=None, group_id=None) -> dict:
    return {"user_id": user_id, "group_id": group_id}


def limit_in_force(*, currency: str, user_id=None, group_id=None, now=None) -> Limit | None:
    """The temporary limit valid now, else the standing limit; None if none is set."""
    now = now or timezone.now()
    owner = _owner(user_id, group_id)
    temporary = (
        TemporaryLimit.objects.filter(
            **owner, currency=currency, valid_from__lte=now, valid_to__gt=now
        )
        .order_by("-valid_from", "-pk")
        .first()
    )
    standing = CreditLimit.objects.filter(**owner, currency=currency).first()
    if temporary is not None:
        return Limit(
            temporary.amount, temporary=True,
            expires_on=standing.expires_on if standing else None,
            valid_to=temporary.valid_to,
        )
    if standing is not None:
        return Limit(standing.amount, expires_on=standing.expires_on)
    return None


# --- groups and profiles ---------------------------------------------------------------


def _text(value, field: str, *, max_length: int = 255, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise StoreCreditError(f"{field} is required.", field=field,
                               code=StoreCreditErrorCode.REQUIRED)
    if len(value) > max_length:
        raise StoreCreditError(f"{field} is too long (max {max_length}).", field=field)
    return value


def save_group(*, actor: Actor, name: str, description: str = "", group_id=None) -> CreditGroup:
    name = _text(name, "name", required=True)
    with transaction.atomic():
        if group_id is None:
            if CreditGroup.objects.filter(name=name).exists():
                raise StoreCreditError("A credit group with this name exists.",
                                       field="name", code=StoreCreditErrorCode.INVALID)
            group = CreditGroup.objects.create(name=name, description=description or "")
        else:
            group = CreditGroup.objects.select_for_update().filter(pk=group_id).first()
            if group is None:
                raise NotFound("Credit group not found.", field="id")
            if CreditGroup.objects.filter(name=name).exclude(pk=group.pk).exists():
                raise StoreCreditError("A credit group with this name exists.",
                                       field="name", code=StoreCreditErrorCode.INVALID)
            group.name, group.description = name, description or ""
            group.save()
        audit.record(AuditKind.GROUP_CHANGED, actor, f"Credit group '{name}' saved.",
                     group_id=group.pk)
    return group


def update_profile(*, user, actor: Actor, group=..., on_hold=None, on_hold_reason=None):
    """Set a customer's credit group and/or account status ('on hold')."""
    with transaction.atomic():
        profile, _ = CreditProfile.objects.select_for_update().get_or_create(user=user)
        before = {"group_id": profile.group_id, "on_hold": profile.on_hold}
        if group is not ...:
            profile.group = group
        if on_hold is not None:
            profile.on_hold = bool(on_hold)
        if on_hold_reason is not None:
            profile.on_hold_reason = _text(on_hold_reason, "onHoldReason")
        profile.save()
        after = {"group_id": profile.group_id, "on_hold": profile.on_hold}
        audit.record(
            AuditKind.PROFILE_CHANGED, actor,
            f"Credit profile of {user.email} changed.",
            user_id=user.pk, group_id=profile.group_id,
            data={"before": before, "after": after, "on_hold_reason": profile.on_hold_reason},
        )
    return profile


# --- the adjustment journal -------------------------------------------------------------


def _parse_limit(amount, unlimited: bool, currency: str) -> Decimal | None:
    if unlimited:
        if amount not in (None, ""):
            raise StoreCreditError("Give an amount or unlimited, not both.", field="amount")
        return None
    if amount in (None, ""):
        raise StoreCreditError("An amount (0 = no credit) or unlimited is required.",
                               field="amount", code=StoreCreditErrorCode.REQUIRED)
    return parse_amount_or_zero(amount, currency)


def create_adjustment(
    *, actor: Actor, currency: str, user=None, group=None, amount=None,
    unlimited: bool = False, temporary: bool = False, valid_from=None, valid_to=None,
    expires_on=None, reason: str = "",
) -> LimitAdjustment:
    """A draft journal line. Bad input is refused before anything is written."""
    if (user is None) == (group is None):
        raise StoreCreditError("Give exactly one of customer or group.", field="customerId")
    currency = normalize_currency(currency)
    value = _parse_limit(amount, unlimited, currency)
    if temporary:
        if valid_from is None or valid_to is None:
            raise StoreCreditError("A temporary limit needs validFrom and validTo.",
                                   field="validTo", code=StoreCreditErrorCode.REQUIRED)
        if valid_to <= valid_from:
            raise StoreCreditError("validTo must be after validFrom.", field="validTo")
        if valid_to <= timezone.now():
            raise StoreCreditError("validTo is in the past.", field="validTo")
    elif valid_from is not None or valid_to is not None:
        raise StoreCreditError("validFrom/validTo are only for temporary limits.",
                               field="validFrom")
    with transaction.atomic():
        row = LimitAdjustment.objects.create(
            **actor.entry_fields(), user=user, group=group, currency=currency,
            amount=value, temporary=temporary, valid_from=valid_from, valid_to=valid_to,
            expires_on=expires_on, reason=_text(reason, "reason"),
        )
        audit.record(
            AuditKind.LIMIT_ADJUSTMENT, actor, "Limit adjustment drafted.",
            adjustment_id=row.pk, user_id=row.user_id, group_id=row.group_id,
            data=adjustment_data(row),
        )
    return row


def amount_text(amount, currency: str) -> str | None:
    return None if amount is None else str(amount.quantize(quantum(currency)))


def adjustment_data(row: LimitAdjustment) -> dict:
    return {
        "currency": row.currency,
        "amount": amount_text(row.amount, row.currency),
        "unlimited": row.amount is None,
        "temporary": row.temporary,
        "valid_from": row.valid_from.isoformat() if row.valid_from else None,
        "valid_to": row.valid_to.isoformat() if row.valid_to else None,
        "expires_on": row.expires_on.isoformat() if row.expires_on else None,
        "reason": row.reason,
        "status": row.status,
    }


TRANSITIONS = {
    "submit": (AdjustmentStatus.DRAFT, AdjustmentStatus.SUBMITTED),
    "approve": (AdjustmentStatus.SUBMITTED, AdjustmentStatus.APPROVED),
    "post": (AdjustmentStatus.APPROVED, AdjustmentStatus.POSTED),
    "reject": (None, AdjustmentStatus.REJECTED),
}


def advance_adjustment(
    adjustment_id, action: str, *, actor: Actor, settings: StoreCreditSettings
) -> LimitAdjustment:
    if action not in TRANSITIONS:
        raise StoreCreditError(f"Unknown action {action!r}.", field="action")
    with transaction.atomic():
        row = LimitAdjustment.objects.select_for_update().filter(pk=adjustment_id).first()
        if row is None:
            raise NotFound("Limit adjustment not found.", field="id")
        source, target = TRANSITIONS[action]
        allowed = (
            row.status in (AdjustmentStatus.DRAFT, AdjustmentStatus.SUBMITTED)
            if source is None else row.status == source
        )
        if not allowed:
            raise StoreCreditError(
                f"Cannot {action} an adjustment that is {row.status}.",
                field="action", code=StoreCreditErrorCode.INVALID_STATUS,
            )
        key, now = audit.actor_key(actor), timezone.now()
        if action == "approve" and settings.credit_four_eyes:
            creator = f"{row.actor_type}:{row.actor_id}"
            audit.require_second_person(actor, row.submitted_by, creator,
                                        what="approve a limit adjustment", field="action")
        row.status = target
        if action == "submit":
            row.submitted_by, row.submitted_at = key, now
        elif action == "approve":
            row.approved_by, row.approved_at = key, now
        elif action == "post":
            row.posted_by, row.posted_at = key, now
            _post(row, actor)
        row.save()
        audit.record(
            AuditKind.LIMIT_ADJUSTMENT, actor, f"Limit adjustment {target}.",
            adjustment_id=row.pk, user_id=row.user_id, group_id=row.group_id,
            data=adjustment_data(row),
        )
    return row


def _post(row: LimitAdjustment, actor: Actor) -> None:
    owner = {"user_id": row.user_id, "group_id": row.group_id}
    before = limit_in_force(currency=row.currency, **owner)
    row.previous_amount = before.amount if before else None
    row.previous_unlimited = bool(before and before.unlimited)
    if row.temporary:
        TemporaryLimit.objects.create(
            **owner, currency=row.currency, amount=row.amount,
            valid_from=row.valid_from, valid_to=row.valid_to, adjustment=row,
        )
    else:
        standing = CreditLimit.objects.select_for_update().filter(
            **owner, currency=row.currency
        ).first() or CreditLimit(**owner, currency=row.currency)
        standing.amount = row.amount
        standing.expires_on = row.expires_on
        standing.save()
    describe = "unlimited" if row.amount is None else (
        f"{amount_text(row.amount, row.currency)} {row.currency}")
    audit.record(
        AuditKind.LIMIT_CHANGED, actor,
        ("Temporary credit limit posted: " if row.temporary else "Credit limit set: ")
        + describe + ".",
        event="limit_changed", currency=row.currency,
        adjustment_id=row.pk, user_id=row.user_id, group_id=row.group_id,
        data={
            **adjustment_data(row),
            "previous_amount": amount_text(row.previous_amount, row.currency),
            "previous_unlimited": row.previous_unlimited,
        },
    )


def set_limit_directly(*, actor: Actor, settings: StoreCreditSettings, **values):
    """A direct edit: a journal line created and posted at once (unless forbidden)."""
    if settings.credit_forbid_direct_edits:
        raise StoreCreditError(
            "Direct limit edits are switched off; use a limit adjustment.",
            code=StoreCreditErrorCode.DIRECT_EDIT_FORBIDDEN,
        )
    if settings.credit_four_eyes:
        # a direct edit is one person's decision posted at once: with four-eyes on,
        # limits change only through the journal (submit, a second person approves)
        raise StoreCreditError(
            "Four-eyes approval is on: change limits through the adjustment journal "
            "(creditLimitAdjustmentCreate, SUBMIT, a second staff member's APPROVE, POST).",
            code=StoreCreditErrorCode.FOUR_EYES_REQUIRED,
        )
    with transaction.atomic():
        row = create_adjustment(actor=actor, **values)
        key, now = audit.actor_key(actor), timezone.now()
        row.status = AdjustmentStatus.POSTED
        row.submitted_by = row.approved_by = row.posted_by = key
        row.submitted_at = row.approved_at = row.posted_at = now
        _post(row, actor)
        row.save()
    return row


def end_temporary_limits(now=None) -> int:
    """Mark temporary limits whose period is over as ended (audit + limit_changed)."""
    now = now or timezone.now()
    ended = 0
    due = TemporaryLimit.objects.filter(ended_at__isnull=True, valid_to__lte=now)
    for pk in list(due.values_list("pk", flat=True)[:1000]):
        with transaction.atomic():
            row = TemporaryLimit.objects.select_for_update().filter(
                pk=pk, ended_at__isnull=True
            ).first()
            if row is None:
                continue
            row.ended_at = now
            row.save(update_fields=["ended_at"])
            after = limit_in_force(
                currency=row.currency, user_id=row.user_id, group_id=row.group_id, now=now
            )
            audit.record(
                AuditKind.TEMPORARY_LIMIT_ENDED, SYSTEM,
                "Temporary credit limit ended; "
                + ("no limit is set now." if after is None else
                   "unlimited now." if after.unlimited else
                   f"limit now {amount_text(after.amount, row.currency)} {row.currency}."),
                event="limit_changed", currency=row.currency,
                adjustment_id=row.adjustment_id, user_id=row.user_id, group_id=row.group_id,
                data={
                    "temporary_amount": amount_text(row.amount, row.currency),
                    "valid_to": row.valid_to.isoformat(),
                    "amount": None if after is None else amount_text(after.amount, row.currency),
                    "unlimited": bool(after and after.unlimited),
                },
            )
            ended += 1
    return ended
