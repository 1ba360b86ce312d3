"""Reimbursement runs: pay out store credit balances (Dynamics 365 "Reimburse
customers"). A run selects accounts whose available balance in one currency is at or
above a minimum, skipping customers with reserved credit or unconfirmed (held) orders,
and debits each balance into a `Payout` that finance pays, fails or voids.

Batched and resumable: accounts are walked in primary-key order; each batch (its
debits, payouts and the cursor) is one DB transaction, so a crash loses at most the
batch in flight, which the resumed run redoes. The unique (run, account) constraint
makes paying anyone twice impossible, and one worker at a time processes a run (a
PostgreSQL advisory lock).
"""

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Sum
from django.utils import timezone

from .conf import StoreCreditSettings, load_settings, settings_scope
from .errors import StoreCreditError, StoreCreditErrorCode
from .ledger import Actor, credit
from .ledger.idempotency import internal_key, run_idempotent
from .ledger.locks import LockSpace, advisory_unlock, try_advisory_lock
from .ledger.services import debit_whole_balances
from .models import (
    Account,
    EntryKind,
    Payout,
    PayoutStatus,
    ReimbursementRun,
    RunStatus,
)
from .money import normalize_currency, parse_amount, quantum
from .signals import store_credit_event

logger = logging.getLogger(__name__)

# Releases before issue 15 kept bank details under this private-metadata key; migration
# 0016 moved them into PayoutDetails (payouts.py). The plugin no longer reads it.
PAYOUT_ACCOUNT_METADATA_KEY = "store_credit.payout_account"
DEFAULT_BATCH_SIZE = 500


@dataclass(frozen=True)
class RunSpec:
    currency: str
    minimum: Decimal
    customer_ids: tuple[int, ...] = ()
    email: str = ""
    channel: str = ""

    @classmethod
    def build(cls, *, currency, minimum=None, settings=None, customer_ids=(), email="",
              channel="") -> "RunSpec":
        currency = normalize_currency(currency)
        if minimum in (None, ""):
            minimum = settings.minimum_reimbursement if settings else None
            if minimum is None:
                raise StoreCreditError(
                    "Give a minimum amount or set 'Minimum reimbursement amount' in the "
                    "plugin configuration.", field="minimumAmount", code="required",
                )
            minimum = Decimal(minimum).quantize(quantum(currency))
        else:
            minimum = parse_amount(minimum, currency, field="minimumAmount")
        return cls(currency, minimum, tuple(int(i) for i in customer_ids), email or "",
                   channel or "")

    def as_filters(self) -> dict:
        return {"customer_ids": list(self.customer_ids), "email": self.email,
                "channel": self.channel}

    @classmethod
    def of(cls, run: ReimbursementRun) -> "RunSpec":
        f = run.filters or {}
        return cls(run.currency, run.minimum_amount, tuple(f.get("customer_ids") or ()),
                   f.get("email") or "", f.get("channel") or "")


def _base(spec: RunSpec):
    qs = Account.objects.filter(currency=spec.currency, user__isnull=False).annotate(
        spendable=F("balance") - F("held")
    ).filter(spendable__gte=spec.minimum, spendable__gt=0)
    if spec.customer_ids:
        qs = qs.filter(user_id__in=spec.customer_ids)
    if spec.email:
        qs = qs.filter(user__email__icontains=spec.email)
    if spec.channel:
        from saleor.order.models import Order

        qs = qs.filter(
            Exists(Order.objects.filter(user_id=OuterRef("user_id"), channel__slug=spec.channel))
        )
    return qs


def _blocked_users():  # unconfirmed orders are held orders (Saleor's hold state)
    from saleor.order import OrderStatus
    from saleor.order.models import Order

    return Order.objects.filter(user_id=OuterRef("user_id"), status=OrderStatus.UNCONFIRMED)


def candidates(spec: RunSpec):
    """Accounts a run would pay: no reserved credit, no held (unconfirmed) orders."""
    return _base(spec).filter(held=0).exclude(Exists(_blocked_users()))


@dataclass
class Preview:
    count: int
    total: Decimal
    skipped: int
    accounts: list


def preview(spec: RunSpec, *, limit: int = 100) -> Preview:
    eligible = candidates(spec)
    total = eligible.aggregate(t=Sum("spendable"))["t"] or Decimal(0)
    count = eligible.count()
    return Preview(
        count=count,
        total=total.quantize(quantum(spec.currency)),
        skipped=_base(spec).count() - count,
        accounts=list(eligible.select_related("user").order_by("pk")[:limit]),
    )


def start_run(*, spec: RunSpec, actor: Actor, idempotency_key=None) -> ReimbursementRun:
    def work():
        run = ReimbursementRun.objects.create(
            currency=spec.currency, minimum_amount=spec.minimum,
            filters=spec.as_filters(), selected_count=candidates(spec).count(),
            **actor.entry_fields(),
        )

        def enqueue():
            from .tasks import run_reimbursement_task

            run_reimbursement_task.delay(run.pk)

        transaction.on_commit(enqueue)
        return run

    params = {"currency": spec.currency, "minimum": str(spec.minimum), **spec.as_filters()}
    return run_idempotent(idempotency_key, "reimbursement_run", params, work)


def _payee(user) -> dict:
    address = user.default_billing_address
    lines = []
    if address:
        lines = [address.street_address_1, address.street_address_2,
                 f"{address.postal_code} {address.city}".strip(), str(address.country)]
    details = getattr(user, "store_credit_payout_details", None)
    account_ref = details.account_number if details else ""
    return {
        "payee_name": user.get_full_name() or user.email,
        "payee_email": user.email,
        "payee_address": "\n".join(line for line in lines if line),
        "payout_account": account_ref,
        "details_missing": not account_ref,
    }


def _pay_batch(run: ReimbursementRun, spec: RunSpec, account_ids: list[int]) -> list[Payout]:
    """Pay one batch in one DB transaction (the cursor advances in the same commit)."""
    from saleor.order import OrderStatus
    from saleor.order.models import Order

    already = set(
        Payout.objects.filter(run=run, account_id__in=account_ids).values_list(
            "account_id", flat=True
        )
    )
    blocked_users = set(
        Order.objects.filter(
            user_id__in=Account.objects.filter(pk__in=account_ids).values("user_id"),
            status=OrderStatus.UNCONFIRMED,
        ).values_list("user_id", flat=True)
    )
    eligible = [pk for pk in account_ids if pk not in already]
    pairs = debit_whole_balances(
        account_ids=eligible, minimum=spec.minimum, kind=EntryKind.PAYOUT,
        actor=Actor.system(f"reimbursement run {run.pk}"),
        reason=f"Reimbursement run {run.pk}",
    )
    if blocked_users and any(a.user_id in blocked_users for a, _ in pairs):
        # Held orders appeared since selection: this batch is redone without them.
        raise _Reselect({a.pk for a, _ in pairs if a.user_id in blocked_users})
    users = {
        user.pk: user
        for user in _users(a.user_id for a, _ in pairs)
    }
    payouts = Payout.objects.bulk_create(
        [
            Payout(
                run=run, account=account, amount=entry.amount, currency=account.currency,
                debit_entry=entry, **_payee(users[account.user_id]),
            )
            for account, entry in pairs
        ]
    )
    for payout in payouts:
        store_credit_event.send(
            sender=Payout, event="payout_created", currency=payout.currency,
            data=payout_payload(payout),
        )
    return payouts


class _Reselect(Exception):
    def __init__(self, account_ids):
        super().__init__("held orders appeared during the batch")
        self.account_ids = account_ids


def _users(user_ids):
    from saleor.account.models import User

    return User.objects.filter(pk__in=list(user_ids)).select_related(
        "default_billing_address", "store_credit_payout_details"
    )


def process_run(run_id: int, *, batch_size: int = DEFAULT_BATCH_SIZE, crash_after=None) -> str:
    """Process (or resume) a run. `crash_after` (tests) raises after that many payouts."""
    if not try_advisory_lock(LockSpace.REIMBURSEMENT_RUN, run_id):
        return "busy"
    try:
        with settings_scope(load_settings() or StoreCreditSettings()):
            return _process(run_id, batch_size=batch_size, crash_after=crash_after)
    finally:
        advisory_unlock(LockSpace.REIMBURSEMENT_RUN, run_id)


def _process(run_id: int, *, batch_size: int, crash_after) -> str:
    run = ReimbursementRun.objects.get(pk=run_id)
    if run.status == RunStatus.COMPLETED:
        return "completed"
    spec = RunSpec.of(run)
    ReimbursementRun.objects.filter(pk=run_id).update(
        status=RunStatus.RUNNING, started_at=run.started_at or timezone.now()
    )
    paid_now = 0
    while True:
        ids = list(
            candidates(spec).filter(pk__gt=run.cursor_account_id)
            .order_by("pk").values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            break
        skip: set[int] = set()
        while True:
            try:
                with transaction.atomic():
                    payouts = _pay_batch(run, spec, [pk for pk in ids if pk not in skip])
                    paid_now += len(payouts)
                    if crash_after is not None and paid_now >= crash_after:
                        raise RuntimeError("simulated crash in the middle of a batch")
                    run.cursor_account_id = ids[-1]
                    run.processed_count += len(ids)
                    totals = run.payouts.aggregate(total=Sum("amount"), n=Count("pk"))
                    ReimbursementRun.objects.filter(pk=run_id).update(
                        cursor_account_id=run.cursor_account_id,
                        processed_count=run.processed_count,
                        payout_count=totals["n"],
                        total_amount=totals["total"] or Decimal(0),
                    )
                break
            except _Reselect as exc:
                skip |= exc.account_ids
        logger.info(
            "Reimbursement run %s: %s/%s accounts processed, %s payouts",
            run_id, run.processed_count, run.selected_count, run.payouts.count(),
        )
    ReimbursementRun.objects.filter(pk=run_id).update(
        status=RunStatus.COMPLETED, finished_at=timezone.now(),
        payout_count=run.payouts.count(),
        total_amount=run.payouts.aggregate(t=Sum("amount"))["t"] or Decimal(0),
        skipped_count=max(run.selected_count - run.payouts.count(), 0),
    )
    return "completed"


def payout_payload(payout: Payout) -> dict:
    """Outgoing webhook data. The bank account is masked: outbox rows are readable
    with MANAGE_SETTINGS; accounting reads it in full through the API (HANDLE_PAYMENTS)."""
    from .payouts import mask

    return {
        "payout_id": payout.pk, "run_id": payout.run_id,
        "customer_user_id": payout.account.user_id, "currency": payout.currency,
        "amount": str(payout.amount.quantize(quantum(payout.currency))),
        "status": payout.status, "payee_name": payout.payee_name,
        "payee_email": payout.payee_email, "payout_account": mask(payout.payout_account),
        "details_missing": payout.details_missing, "reference": payout.reference,
    }


def resolve_payout(*, payout_id: int, status: str, actor: Actor, note: str = "",
                   reference: str = "", idempotency_key=None) -> Payout:
    """pending -> paid | failed (re-credits) | voided (re-credits), exactly once."""
    if status not in (PayoutStatus.PAID, PayoutStatus.FAILED, PayoutStatus.VOIDED):
        raise StoreCreditError("Unknown payout status.", field="status")
    params = {"payout": payout_id, "status": status, "note": note, "reference": reference}
    return run_idempotent(
        idempotency_key, "payout_resolve", params,
        lambda: _resolve_payout(payout_id, status, actor, note, reference),
    )


def _resolve_payout(payout_id, status, actor, note, reference) -> Payout:
    payout = Payout.objects.select_for_update().select_related("account").get(pk=payout_id)
    if payout.status != PayoutStatus.PENDING:
        raise StoreCreditError(
            f"This payout is already {payout.status}.", field="id",
            code=StoreCreditErrorCode.PAYOUT_NOT_PENDING,
        )
    if status != PayoutStatus.PAID:
        payout.reversal_entry = credit(
            account=payout.account, amount=payout.amount,
            kind=EntryKind.PAYOUT_REVERSAL, actor=actor,
            reason=f"Payout {payout.pk} {status}" + (f": {note}" if note else ""),
            idempotency_key=internal_key("payout-reversal", payout.pk),
        )
    payout.status = status
    payout.note = note
    payout.reference = reference or payout.reference
    payout.resolved_at = timezone.now()
    payout.resolved_by = actor.label
    payout.save()
    store_credit_event.send(
        sender=Payout, event=f"payout_{status}", currency=payout.currency,
        data=payout_payload(payout),
    )
    return payout


CSV_COLUMNS = [
    "payout_id", "run_id", "customer_user_id", "payee_name", "payee_email",
    "payee_address", "payout_account", "details_missing", "currency", "amount",
    "status", "reference", "created_at",
]


def run_csv(run_id: int, *, full_accounts: bool = False) -> str:
    """All payouts of a run; bank accounts masked unless `full_accounts` (the caller
    has checked HANDLE_PAYMENTS)."""
    from .csv_export import to_csv
    from .payouts import mask

    shown = (lambda value: value) if full_accounts else mask

    payouts = (
        Payout.objects.filter(run_id=run_id).select_related("account").order_by("pk").iterator(2000)
    )
    return to_csv(CSV_COLUMNS, (
        [
            payout.pk, payout.run_id, payout.account.user_id, payout.payee_name,
            payout.payee_email, payout.payee_address, shown(payout.payout_account),
            "yes" if payout.details_missing else "no", payout.currency,
            payout.amount.quantize(quantum(payout.currency)), payout.status,
            payout.reference, payout.created_at.isoformat(),
        ]
        for payout in payouts
    ))
