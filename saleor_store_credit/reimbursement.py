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

import gc
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Sum
from django.utils import timezone

from .conf import StoreCreditSettings, load_settings, settings_scope
from .errors import StoreCreditError, StoreCreditErrorCode
from .ledger import Actor, credit
from .ledger.idempotency import internal_key, run_idempotent
from .ledger.locks import LockSpace, advisory_unlock, try_advisory_lock
from .ledger.services import entry_payload, whole_balance_debits
from .models import (
    Account,
    EntryKind,
    Payout,
    PayoutStatus,
    ReimbursementRun,
    RunStatus,
)
from .money import normalize_currency, parse_amount, quantum
from .signals import store_credit_event, store_credit_events

logger = logging.getLogger(__name__)

# Releases before issue 15 kept bank details under this private-metadata key; migration
# 0016 moved them into PayoutDetails (payouts.py). The plugin no longer reads it.
PAYOUT_ACCOUNT_METADATA_KEY = "store_credit.payout_account"
DEFAULT_BATCH_SIZE = 500
# Each batch leaves a little garbage in reference cycles (the database driver's query
# objects). Python frees cycles in its full collection, which a worker's large heap
# of long-lived objects (all of Saleor) makes rare, so a long run's memory would creep
# up with its size until then; collecting every this many batches keeps it flat
# (`make bench` / `make bench-deep`: peak at 100 000 and 1 000 000 accounts).
COLLECT_EVERY_BATCHES = 100


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


def _python_whitespace() -> str:
    """A regular expression that strips what Python's `str.strip()` strips."""
    spaces = "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x10000)) if c.isspace())
    return f"^[{spaces}]+|[{spaces}]+$"


_STRIP = _python_whitespace()

# One batch in one statement: the ledger's whole-balance debits (ledger/services.py),
# then a payout per debit with the payee as Saleor knows them, as `User.get_full_name()`
# (saleor/account/models.py) and the billing address give it: name, else billing
# address name, else e-mail; address lines street 1, street 2, "postal code city",
# country code, the empty ones left out; the bank account from PayoutDetails. The
# payee is read per payout by primary key (`LATERAL … OFFSET 0`), whatever the
# planner guesses about the size of the batch.
_PAY_BATCH_SQL = """
WITH {debits}, payouts AS (
    INSERT INTO saleor_store_credit_payout (
        run_id, account_id, amount, currency, status, payee_name, payee_email,
        payee_address, payout_account, details_missing, debit_entry_id, reference, note,
        created_at, resolved_by)
    SELECT %(run)s, e.account_id, e.amount, d.currency, 'pending', payee.name,
           payee.email, payee.address, payee.account, payee.account = '', e.id, '', '',
           %(now)s, ''
      FROM entries e
      JOIN debited d ON d.id = e.account_id
     CROSS JOIN LATERAL (
           SELECT LEFT(COALESCE(NULLIF(CASE
                      WHEN u.first_name <> '' OR u.last_name <> ''
                          THEN regexp_replace(u.first_name || ' ' || u.last_name,
                                              %(strip)s, '', 'g')
                      WHEN b.first_name <> '' OR b.last_name <> ''
                          THEN regexp_replace(b.first_name || ' ' || b.last_name,
                                              %(strip)s, '', 'g')
                      ELSE u.email END, ''), u.email), 255) AS name,
                  u.email,
                  COALESCE(array_to_string(array_remove(ARRAY[
                      b.street_address_1, b.street_address_2,
                      regexp_replace(b.postal_code || ' ' || b.city, %(strip)s, '', 'g'),
                      b.country::text], ''), chr(10)), '') AS address,
                  COALESCE(pd.account_number, '') AS account
             FROM {user} u
             LEFT JOIN {address} b ON b.id = u.default_billing_address_id
             LEFT JOIN saleor_store_credit_payoutdetails pd ON pd.user_id = u.id
            WHERE u.id = d.user_id
           OFFSET 0) payee
     ORDER BY e.account_id
    RETURNING id, amount
)
SELECT COUNT(*), COALESCE(SUM(amount), 0), MIN(id), MAX(id) FROM payouts
"""

# Who a batch may pay, re-checked under the account locks (with `held = 0` and the
# minimum): the run's currency, a customer still there, no payout of this run yet
# (with the unique (run, account) constraint: nobody is paid twice), no held order.
# `OFFSET 0` keeps each check a per-account index probe ((run, account); the order's
# customer): PostgreSQL would otherwise turn it into an anti-join that may read every
# payout of the run, or every held order of the shop, for each batch (a run then
# grows quadratic in its size).
_PAY_BATCH_GUARD = """
       AND a.currency = %(currency)s AND a.user_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM saleor_store_credit_payout p
                        WHERE p.run_id = %(run)s AND p.account_id = a.id OFFSET 0)
       AND NOT EXISTS (SELECT 1 FROM {order} o
                        WHERE o.user_id = a.user_id AND o.status = %(unconfirmed)s
                       OFFSET 0)"""


def _pay_batch(run: ReimbursementRun, spec: RunSpec, account_ids: list[int]) -> tuple[int, Decimal]:
    """Pay one batch in one statement, inside the caller's DB transaction (which also
    advances the cursor). Returns (payouts, their total)."""
    from saleor.account.models import Address, User
    from saleor.order import OrderStatus
    from saleor.order.models import Order

    debits, params = whole_balance_debits(
        account_ids=account_ids, minimum=spec.minimum, kind=EntryKind.PAYOUT,
        actor=Actor.system(f"reimbursement run {run.pk}"),
        reason=f"Reimbursement run {run.pk}",
        guard=_PAY_BATCH_GUARD.format(order=Order._meta.db_table),
    )
    sql = _PAY_BATCH_SQL.format(debits=debits, user=User._meta.db_table,
                                address=Address._meta.db_table)
    params.update(run=run.pk, currency=spec.currency, strip=_STRIP,
                  unconfirmed=OrderStatus.UNCONFIRMED)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        count, total, first, last = cursor.fetchone()
    if count:
        _announce_payouts(run.pk, first, last)
    return count, total


def _announce_payouts(run_id: int, first: int, last: int) -> None:
    """`balance_changed` and `payout_created` for the batch's payouts (ids first..last
    of this run: one worker writes a run's payouts), as batch events whose payloads
    are read only if a receiver wants them."""
    if not store_credit_events.has_listeners(Payout):
        return

    read: list = []

    def batch():
        if not read:
            read.append(list(
                Payout.objects.filter(run_id=run_id, pk__gte=first, pk__lte=last)
                .select_related("account", "debit_entry").order_by("pk")
            ))
        return read[0]

    store_credit_events.send(
        sender=Payout, event="balance_changed", currency=None,
        items=lambda: [entry_payload(p.debit_entry, p.account) for p in batch()],
    )
    store_credit_events.send(
        sender=Payout, event="payout_created", currency=None,
        items=lambda: [payout_payload(p) for p in batch()],
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
    batches = 0
    while True:
        ids = list(
            candidates(spec).filter(pk__gt=run.cursor_account_id)
            .order_by("pk").values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            break
        with transaction.atomic():
            count, total = _pay_batch(run, spec, ids)
            paid_now += count
            if crash_after is not None and paid_now >= crash_after:
                raise RuntimeError("simulated crash in the middle of a batch")
            # the progress commits with the batch, so it counts each payout once
            ReimbursementRun.objects.filter(pk=run_id).update(
                cursor_account_id=ids[-1],
                processed_count=F("processed_count") + len(ids),
                payout_count=F("payout_count") + count,
                total_amount=F("total_amount") + total,
            )
        run.cursor_account_id = ids[-1]
        run.processed_count += len(ids)
        run.payout_count += count
        batches += 1
        if batches % COLLECT_EVERY_BATCHES == 0:
            gc.collect()
        logger.info(
            "Reimbursement run %s: %s/%s accounts processed, %s payouts",
            run_id, run.processed_count, run.selected_count, run.payout_count,
        )
    totals = run.payouts.aggregate(total=Sum("amount"), n=Count("pk"))
    ReimbursementRun.objects.filter(pk=run_id).update(
        status=RunStatus.COMPLETED, finished_at=timezone.now(),
        payout_count=totals["n"], total_amount=totals["total"] or Decimal(0),
        skipped_count=max(run.selected_count - totals["n"], 0),
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
