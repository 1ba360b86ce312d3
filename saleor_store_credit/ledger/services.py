"""Ledger writes. Each public function is one DB transaction that locks the account
row(s) in primary-key order and re-checks the available balance under the lock.

All functions are keyword-only. Amounts may be given as Decimal, int or str; floats
and every other inexact or malformed amount are refused (`money.parse_amount`).
"""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.db.models import F, Sum
from django.utils import timezone

from ..errors import (
    BalanceLimitExceeded,
    CurrencyMismatch,
    HoldAmountExceeded,
    HoldNotActive,
    InsufficientFunds,
    StoreCreditError,
)
from ..models import (
    Account,
    CreditLot,
    Entry,
    EntryDirection,
    EntryKind,
    Hold,
    HoldStatus,
)
from ..signals import event_wanted, store_credit_event, store_credit_events
from ..money import (
    normalize_currency,
    parse_amount,
    parse_amount_or_zero,
    parse_signed_amount,
    quantum,
)
from .actors import Actor
from .idempotency import run_idempotent
from .locks import (
    ACCOUNT_RETURNING,
    account_after_update,
    apply_delta,
    lock_account,
    lock_hold_with_account,
)


@dataclass(frozen=True)
class Refs:
    """What a ledger line points at in Saleor (identifiers, not foreign keys)."""

    order_id: UUID | None = None
    checkout_id: UUID | None = None
    transaction_id: UUID | None = None
    gift_card_id: int | None = None
    reference: str = ""


NO_REFS = Refs()


def get_or_create_account(*, user, currency: str) -> Account:
    """Return the user's account in `currency`, creating it race-free."""
    currency = normalize_currency(currency)
    account = Account.objects.filter(user=user, currency=currency).first()
    if account:
        return account
    Account.objects.bulk_create(
        [Account(user=user, email=getattr(user, "email", "") or "", currency=currency)],
        ignore_conflicts=True,
    )
    return Account.objects.get(user=user, currency=currency)


def _account_id(account: Account | int) -> int:
    return account.pk if isinstance(account, Account) else int(account)


def _known(account: Account | int) -> Account:
    """The account as given (currency and owner never change), or read once."""
    if isinstance(account, Account):
        return account
    return Account.objects.get(pk=int(account))


def _check_currency(account: Account, currency: str | None) -> None:
    if currency is not None and normalize_currency(currency) != account.currency:
        raise CurrencyMismatch(
            f"This store credit account is in {account.currency}, not {currency}."
        )


def _entry(account: Account, *, direction: str, amount: Decimal, kind: str, reason: str,
           actor: Actor, refs: Refs, hold: Hold | None = None) -> Entry:
    """The Entry for a balance change already applied to `account` (not saved)."""
    return Entry(
        account=account,
        direction=direction,
        amount=amount,
        balance_after=account.balance,
        kind=kind,
        reason=reason,
        hold=hold,
        order_id=refs.order_id,
        checkout_id=refs.checkout_id,
        transaction_id=refs.transaction_id,
        gift_card_id=refs.gift_card_id,
        reference=refs.reference,
        **actor.entry_fields(),
    )


def _entry_params(entry: Entry) -> list:
    """The values of `_ENTRY_COLUMNS` but the hold, in order."""
    return [entry.account_id, entry.direction, entry.amount, entry.balance_after,
            entry.kind, entry.reason, entry.order_id, entry.checkout_id,
            entry.transaction_id, entry.gift_card_id, entry.reference, entry.actor_type,
            entry.actor_id, entry.actor_label]


def _inserted(entry: Entry, pk, created_at, *, announce: bool = True) -> Entry:
    entry.pk, entry.created_at = pk, created_at
    entry._state.adding = False
    entry._state.db = "default"
    if announce:
        _announce("balance_changed", lambda: entry_payload(entry, entry.account),
                  entry.account.currency)
    return entry


def _insert_entry(
    account: Account,
    *,
    direction: str,
    amount: Decimal,
    kind: str,
    reason: str,
    actor: Actor,
    refs: Refs,
    hold: Hold | None = None,
) -> Entry:
    """Insert the line for a balance change already applied to `account`.

    This runs while the account row is locked, so it is one plain INSERT: the
    shorter the lock is held, the more writers a busy account serves."""
    entry = _entry(account, direction=direction, amount=amount, kind=kind,
                   reason=reason, actor=actor, refs=refs, hold=hold)
    params = _entry_params(entry)
    params.insert(6, hold.pk if hold else None)
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_ENTRY_SQL, params)
        return _inserted(entry, *cursor.fetchone())


_INSERT_ENTRY_SQL = """
INSERT INTO saleor_store_credit_entry (
    account_id, direction, amount, balance_after, kind, reason, hold_id, order_id,
    checkout_id, transaction_id, gift_card_id, reference, actor_type, actor_id,
    actor_label, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NOW())
RETURNING id, created_at
"""

# A plain credit or debit in one statement: the UPDATE locks the account row and
# re-checks the guards on its newest version after any wait (READ COMMITTED), the
# entry is inserted by the same statement. So no round trip happens while the row is
# locked, and outside a transaction (autocommit) the lock lasts only as long as the
# statement runs. Spending from an account with expiring credit is left to the
# two-step path: consuming its lots needs a snapshot taken after the lock
# (`locks.consume_lots`), which a second statement has and a CTE would not.
_POST_SQL = """
WITH account AS (
    UPDATE saleor_store_credit_account
       SET balance = balance + %(delta)s, entry_count = entry_count + 1, updated_at = NOW()
     WHERE id = %(id)s
       AND (%(delta)s > 0 OR expiring = 0)
       AND (%(need)s::numeric IS NULL OR balance - held >= %(need)s)
       AND (%(max)s::numeric IS NULL OR balance + %(delta)s <= %(max)s)
    RETURNING id, user_id, email, currency, balance, held, entry_count, expiring
), entry AS (
    INSERT INTO saleor_store_credit_entry (
        account_id, direction, amount, balance_after, kind, reason, order_id,
        checkout_id, transaction_id, gift_card_id, reference, actor_type, actor_id,
        actor_label, created_at)
    SELECT account.id, %(direction)s, %(amount)s, account.balance, %(kind)s, %(reason)s,
           %(order_id)s::uuid, %(checkout_id)s::uuid, %(transaction_id)s::uuid,
           %(gift_card_id)s::bigint, %(reference)s, %(actor_type)s, %(actor_id)s,
           %(actor_label)s, NOW()
      FROM account
    RETURNING id, created_at
)
SELECT account.id, account.user_id, account.email, account.currency, account.balance,
       account.held, account.entry_count, account.expiring, entry.id, entry.created_at
  FROM account, entry
"""


def _post(account_id: int, *, direction: str, amount: Decimal, kind: str, reason: str,
          actor: Actor, refs: Refs, max_balance=None, announce: bool = True) -> Entry | None:
    """A credit or debit (no hold, no expiry) in one statement (`_POST_SQL`). None
    when a guard refused it (not enough available, over `max_balance`, expiring credit
    to consume): nothing changed, and the two-step path decides and explains."""
    debit = direction == EntryDirection.DEBIT
    with connection.cursor() as cursor:
        cursor.execute(_POST_SQL, {
            "id": account_id, "delta": -amount if debit else amount,
            "need": amount if debit else None, "max": max_balance,
            "direction": direction, "amount": amount, "kind": kind, "reason": reason,
            "order_id": refs.order_id, "checkout_id": refs.checkout_id,
            "transaction_id": refs.transaction_id, "gift_card_id": refs.gift_card_id,
            "reference": refs.reference, **actor.entry_fields(),
        })
        row = cursor.fetchone()
    if row is None:
        return None
    account = Account(
        id=row[0], user_id=row[1], email=row[2], currency=row[3], balance=row[4],
        held=row[5], entry_count=row[6], expiring=row[7],
    )
    account._state.adding = False
    entry = _entry(account, direction=direction, amount=amount, kind=kind, reason=reason,
                   actor=actor, refs=refs)
    return _inserted(entry, row[8], row[9], announce=announce)


def _unwatched(idempotency_key) -> bool:
    """True when a plain write may run as one statement in autocommit: no caller's
    transaction to join, no idempotency record to write with it, and no receiver
    that would write anything for its event (the outbox rows must commit with it)."""
    return (
        idempotency_key is None
        and connection.get_autocommit()
        and not connection.in_atomic_block
        and not event_wanted("balance_changed")
    )


def _announce(event: str, data, currency: str) -> None:
    """Tell receivers (the webhook outbox) about a change, inside its transaction.

    `data` may be a callable so the payload is only built when someone wants it."""
    if store_credit_event.has_listeners(Account):
        store_credit_event.send(sender=Account, event=event, data=data, currency=currency)


def _money_text(amount: Decimal, currency: str) -> str:
    return str(amount.quantize(quantum(currency)))


def entry_payload(entry: Entry, account: Account) -> dict:
    cur = account.currency
    return {
        "entry_id": entry.pk,
        "customer_user_id": account.user_id,
        "customer_email": account.email,
        "currency": account.currency,
        "direction": entry.direction,
        "delta": _money_text(entry.signed_amount, cur),
        "amount": _money_text(entry.amount, cur),
        "balance_after": _money_text(entry.balance_after, cur),
        "available_after": _money_text(account.balance - account.held, cur),
        "reason": entry.reason,
        "origin": {
            "kind": entry.kind,
            "order_id": str(entry.order_id) if entry.order_id else None,
            "checkout_id": str(entry.checkout_id) if entry.checkout_id else None,
            "transaction_id": str(entry.transaction_id) if entry.transaction_id else None,
            "gift_card_id": entry.gift_card_id,
            "reference": entry.reference,
            "hold_id": entry.hold_id,
        },
        "actor": {"type": entry.actor_type, "id": entry.actor_id},
        "created_at": entry.created_at.isoformat(),
    }


def hold_payload(hold: Hold, account: Account) -> dict:
    return {
        "hold_id": hold.pk,
        "customer_user_id": account.user_id,
        "currency": account.currency,
        "amount": _money_text(hold.amount, account.currency),
        "status": hold.status,
        "captured_amount": _money_text(hold.captured_amount, account.currency),
        "checkout_id": str(hold.checkout_id) if hold.checkout_id else None,
        "transaction_id": str(hold.transaction_id) if hold.transaction_id else None,
        "expires_at": hold.expires_at.isoformat() if hold.expires_at else None,
        "reason": hold.resolution_reason,
    }


def _params(account_id: int, amount: Decimal, **extra) -> dict:
    refs = extra.pop("refs", None)
    if refs is not None:
        extra.update({k: v for k, v in asdict(refs).items() if v not in (None, "")})
    return {"account": account_id, "amount": str(amount), **extra}


def credit(
    *,
    account: Account | int,
    amount,
    kind: str,
    actor: Actor,
    reason: str = "",
    refs: Refs = NO_REFS,
    currency: str | None = None,
    max_balance: Decimal | None = None,
    expires_at: datetime | None = None,
    expires_in_days: int | None = None,
    idempotency_key: str | None = None,
) -> Entry:
    """Add credit. `max_balance` (policy) refuses credits that would exceed it;
    `expires_at` makes it a lot that is spent before later-expiring credit and written
    off (an `expiry` entry) if anything is left at that time. `expires_in_days`
    (without `expires_at`): the lot expires that many days after it is posted; a
    replay with the same key is the same request whenever it comes."""
    account_id = _account_id(account)
    current = _known(account)
    _check_currency(current, currency)
    value = parse_amount(amount, current.currency)

    plain = expires_at is None and not expires_in_days
    if plain and _unwatched(idempotency_key):
        entry = _post(account_id, direction=EntryDirection.CREDIT, amount=value, kind=kind,
                      reason=reason, actor=actor, refs=refs, max_balance=max_balance,
                      announce=False)
        if entry is not None:
            return entry

    def work():
        if plain:
            entry = _post(account_id, direction=EntryDirection.CREDIT, amount=value,
                          kind=kind, reason=reason, actor=actor, refs=refs,
                          max_balance=max_balance)
            if entry is not None:
                return entry
        expiry = expires_at or (
            timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        )
        locked = apply_delta(
            account_id, value, max_balance=max_balance,
            expiring_added=value if expiry else 0,
        )
        if locked is None:
            raise BalanceLimitExceeded(
                f"The balance may not exceed {max_balance} {current.currency}."
            )
        entry = _insert_entry(
            locked,
            direction=EntryDirection.CREDIT,
            amount=value,
            kind=kind,
            reason=reason,
            actor=actor,
            refs=refs,
        )
        if expiry:
            CreditLot.objects.create(
                account_id=account_id, entry=entry, amount=value, remaining=value,
                expires_at=expiry,
            )
        return entry

    params = lambda: _params(  # noqa: E731
        account_id, value, kind=kind, reason=reason, refs=refs,
        expires_at=expires_at.isoformat() if expires_at else None,
        expires_in_days=None if expires_at else expires_in_days,
    )
    return run_idempotent(idempotency_key, "credit", params, work)


def debit(
    *,
    account: Account | int,
    amount,
    kind: str,
    actor: Actor,
    reason: str = "",
    refs: Refs = NO_REFS,
    currency: str | None = None,
    idempotency_key: str | None = None,
) -> Entry:
    """Take credit out of the available balance (never below zero)."""
    account_id = _account_id(account)
    current = _known(account)
    _check_currency(current, currency)
    value = parse_amount(amount, current.currency)

    if _unwatched(idempotency_key):
        entry = _post(account_id, direction=EntryDirection.DEBIT, amount=value, kind=kind,
                      reason=reason, actor=actor, refs=refs, announce=False)
        if entry is not None:
            return entry

    def work():
        entry = _post(account_id, direction=EntryDirection.DEBIT, amount=value, kind=kind,
                      reason=reason, actor=actor, refs=refs)
        if entry is not None:
            return entry
        locked = apply_delta(account_id, -value, need=value)
        if locked is None:
            raise InsufficientFunds("Not enough store credit available.")
        return _insert_entry(
            locked,
            direction=EntryDirection.DEBIT,
            amount=value,
            kind=kind,
            reason=reason,
            actor=actor,
            refs=refs,
        )

    params = lambda: _params(account_id, value, kind=kind, reason=reason, refs=refs)  # noqa: E731
    return run_idempotent(idempotency_key, "debit", params, work)


def adjust(
    *,
    account: Account | int,
    amount,
    reason: str,
    actor: Actor,
    currency: str | None = None,
    max_balance: Decimal | None = None,
    expires_at: datetime | None = None,
    expires_in_days: int | None = None,
    idempotency_key: str | None = None,
) -> Entry:
    """Staff adjustment: a positive amount adds credit (expiring at `expires_at`, or
    `expires_in_days` after posting, if given), a negative one deducts it."""
    if not isinstance(reason, str) or not reason.strip():
        raise StoreCreditError("A reason is required.", field="reason", code="required")
    account_id = _account_id(account)
    current = _known(account)
    _check_currency(current, currency)
    signed = parse_signed_amount(amount, current.currency)
    common = {
        "account": account_id,
        "kind": EntryKind.ADJUSTMENT,
        "actor": actor,
        "reason": reason.strip(),
        "idempotency_key": idempotency_key,
    }
    if signed > 0:
        return credit(
            amount=signed, max_balance=max_balance, expires_at=expires_at,
            expires_in_days=expires_in_days, **common
        )
    return debit(amount=-signed, **common)


def place_hold(
    *,
    account: Account | int,
    amount,
    actor: Actor,
    checkout_id: UUID | None = None,
    transaction_id: UUID | None = None,
    reference: str = "",
    expires_at: datetime | None = None,
    requested_amount: Decimal | None = None,
    currency: str | None = None,
    idempotency_key: str | None = None,
    savepoint: bool = True,
) -> Hold:
    """Reserve part of the available balance. `requested_amount`: what the customer
    asked for, if not everything (kept for following cart changes).

    `savepoint=False` (no idempotency key) is for a caller already in a transaction
    that needs no savepoint around the reservation: the account is locked and the
    balance checked before the block, so a refusal leaves the caller's transaction
    usable; only the writes run in it."""
    account_id = _account_id(account)
    current = _known(account)
    _check_currency(current, currency)
    value = parse_amount(amount, current.currency)

    def checked() -> Account:
        locked = lock_account(account_id)
        if value > locked.available:
            raise InsufficientFunds("Not enough store credit available.")
        return locked

    fields = {"checkout_id": checkout_id, "transaction_id": transaction_id,
              "reference": reference, "expires_at": expires_at,
              "requested_amount": requested_amount}
    if not savepoint and idempotency_key is None:
        if not connection.in_atomic_block:
            raise TransactionManagementError("place_hold(savepoint=False) needs a transaction")
        locked = checked()  # a refusal is raised outside the block below
        with transaction.atomic(savepoint=False):
            return _write_hold(locked, value, fields)
    params = _params(
        account_id, value, checkout=checkout_id, transaction=transaction_id
    )
    return run_idempotent(idempotency_key, "hold", params,
                          lambda: _write_hold(checked(), value, fields))


def _write_hold(locked: Account, value: Decimal, fields: dict) -> Hold:
    """The writes of `place_hold`, on the locked and checked account."""
    Account.objects.filter(pk=locked.pk).update(
        held=F("held") + value, updated_at=timezone.now()
    )
    hold = Hold.objects.create(account=locked, amount=value, **fields)
    _announce("hold_placed", lambda: hold_payload(hold, locked), locked.currency)
    return hold


def _hold_id(hold: Hold | int) -> int:
    return hold.pk if isinstance(hold, Hold) else int(hold)


def _resolve(
    hold: Hold, status: str, reason: str, captured: Decimal, *, release_held: bool = True
) -> None:
    hold.status = status
    hold.captured_amount = captured
    hold.resolved_at = timezone.now()
    hold.resolution_reason = reason[:255]
    hold.save(
        update_fields=["status", "captured_amount", "resolved_at", "resolution_reason"]
    )
    if release_held:
        Account.objects.filter(pk=hold.account_id).update(
            held=F("held") - hold.amount, updated_at=timezone.now()
        )


def capture_hold(
    *,
    hold: Hold | int,
    actor: Actor,
    amount=None,
    kind: str = EntryKind.PAYMENT,
    reason: str = "",
    refs: Refs = NO_REFS,
    idempotency_key: str | None = None,
    savepoint: bool = True,
    keep_rest: bool = False,
) -> Entry:
    """Turn an active hold into a debit; capturing less releases the rest.

    Three statements, account row first (the global lock order): the account UPDATE
    takes the hold's whole amount out of `held` and the captured part out of the
    balance, guarded so it cannot run for a hold whose amount is no longer held;
    the hold UPDATE succeeds only while the hold is still active; then the entry.
    Either check failing raises and the transaction rolls back.

    `keep_rest`: what is not captured stays reserved, as a successor hold for the
    same checkout and transaction (a partial charge), instead of being released;
    the successor is `entry.successor_hold` (None when nothing is left).

    `savepoint=False` is for callers that hold the lock that serializes this hold
    (an order's payment transaction) and checked it is active under that lock.
    """
    hold_id = _hold_id(hold)
    current = (
        hold if isinstance(hold, Hold)
        else Hold.objects.select_related("account").get(pk=hold_id)
    )
    value = (
        current.amount
        if amount is None
        else parse_amount(amount, current.account.currency)
    )
    if value > current.amount:
        raise HoldAmountExceeded("Cannot capture more than the hold reserves.")

    rest = current.amount - value if keep_rest else Decimal(0)

    def work():
        with connection.cursor() as cursor:
            cursor.execute(_CAPTURE_ACCOUNT_SQL, {
                "account": current.account_id, "held": current.amount, "captured": value,
                "kept": rest,
            })
            row = cursor.fetchone()
            if row is None:
                raise HoldNotActive("This hold is no longer active.")
            account = account_after_update(row, spent=value)
            entry = _entry(account, direction=EntryDirection.DEBIT, amount=value,
                           kind=kind, reason=reason, actor=actor, refs=refs)
            # the hold's resolution and its entry: one statement (the account row,
            # locked above, comes first in the global lock order)
            cursor.execute(_CAPTURE_HOLD_SQL, [
                value, reason[:255], hold_id, *_entry_params(entry),
            ])
            resolved = cursor.fetchone()
            if resolved is None:
                raise HoldNotActive("This hold is no longer active.")
        locked_hold = Hold(
            id=hold_id, account_id=account.pk, amount=current.amount,
            status=HoldStatus.CAPTURED, captured_amount=value,
            checkout_id=resolved[0], transaction_id=resolved[1],
            expires_at=resolved[2], resolved_at=resolved[3], reference=resolved[5],
            resolution_reason=reason[:255],
        )
        locked_hold._state.adding = False
        _announce(
            "hold_captured", lambda: hold_payload(locked_hold, account), account.currency
        )
        entry.hold = locked_hold
        entry = _inserted(entry, resolved[6], resolved[7])
        entry.successor_hold = (
            _successor(locked_hold, rest, account, resolved[4]) if rest > 0 else None
        )
        return entry

    params = lambda: _params(current.account_id, value, hold=hold_id, kind=kind, refs=refs)  # noqa: E731
    return run_idempotent(idempotency_key, "capture", params, work, savepoint=savepoint)


_CAPTURE_ACCOUNT_SQL = """
UPDATE saleor_store_credit_account
   SET held = held - %(held)s + %(kept)s, balance = balance - %(captured)s,
       expiring = GREATEST(expiring - %(captured)s, 0),
       entry_count = entry_count + 1, updated_at = NOW()
 WHERE id = %(account)s AND held >= %(held)s
""" + ACCOUNT_RETURNING

_CAPTURE_HOLD_SQL = """
WITH resolved AS (
    UPDATE saleor_store_credit_hold
       SET status = 'captured', captured_amount = %s, resolved_at = NOW(),
           resolution_reason = %s
     WHERE id = %s AND status = 'active'
    RETURNING id, checkout_id, transaction_id, expires_at, resolved_at,
              requested_amount, reference
), entry AS (
    INSERT INTO saleor_store_credit_entry (
        account_id, direction, amount, balance_after, kind, reason, order_id,
        checkout_id, transaction_id, gift_card_id, reference, actor_type, actor_id,
        actor_label, hold_id, created_at)
    SELECT %s, %s, %s::numeric, %s::numeric, %s, %s, %s::uuid, %s::uuid, %s::uuid,
           %s::bigint, %s, %s, %s, %s, resolved.id, NOW()
      FROM resolved
    RETURNING id, created_at
)
SELECT resolved.checkout_id, resolved.transaction_id, resolved.expires_at,
       resolved.resolved_at, resolved.requested_amount, resolved.reference,
       entry.id, entry.created_at
  FROM resolved, entry
"""


def _successor(hold: Hold, amount: Decimal, account: Account, requested) -> Hold:
    """The hold that keeps `amount` of a resolved hold reserved (its account's
    `held` already counts it)."""
    successor = Hold.objects.create(
        account_id=hold.account_id, amount=amount, checkout_id=hold.checkout_id,
        transaction_id=hold.transaction_id, reference=hold.reference,
        expires_at=hold.expires_at, requested_amount=requested,
    )
    _announce("hold_placed", lambda: hold_payload(successor, account), account.currency)
    return successor


def release_hold(
    *,
    hold: Hold | int,
    actor: Actor,
    reason: str = "released",
    expired: bool = False,
    idempotency_key: str | None = None,
) -> Hold:
    """Return a hold's amount to the available balance."""
    hold_id = _hold_id(hold)

    def work():
        locked_hold, account = lock_hold_with_account(hold_id)
        if locked_hold.status != HoldStatus.ACTIVE:
            raise HoldNotActive(f"This hold is already {locked_hold.status}.")
        status = HoldStatus.EXPIRED if expired else HoldStatus.RELEASED
        _resolve(locked_hold, status, reason, Decimal(0))
        _announce(
            "hold_released", lambda: hold_payload(locked_hold, account), account.currency
        )
        return locked_hold

    params = {"hold": hold_id, "expired": expired}
    return run_idempotent(idempotency_key, "release", params, work)


def resize_hold(
    *,
    hold: Hold | int,
    amount,
    actor: Actor,
    reason: str = "resized",
    requested_amount=...,
    expires_at=None,
) -> Hold | None:
    """Change what an active hold reserves: it is resolved (released) and a
    successor for `amount` takes its place (None when `amount` is zero: then this is
    a plain release). Growing re-checks the available balance under the lock.
    `requested_amount`: the successor's (default: the hold's own); `expires_at`: a
    new lifetime (default: the hold's own)."""
    hold_id = _hold_id(hold)
    with transaction.atomic():
        locked_hold, account = lock_hold_with_account(hold_id)
        if locked_hold.status != HoldStatus.ACTIVE:
            raise HoldNotActive(f"This hold is already {locked_hold.status}.")
        value = parse_amount_or_zero(amount, account.currency)
        delta = value - locked_hold.amount
        if delta > 0 and delta > account.available:
            raise InsufficientFunds("Not enough store credit available.")
        _resolve(locked_hold, HoldStatus.RELEASED, reason, Decimal(0), release_held=False)
        Account.objects.filter(pk=account.pk).update(
            held=F("held") + delta, updated_at=timezone.now()
        )
        account.held += delta
        _announce(
            "hold_released", lambda: hold_payload(locked_hold, account), account.currency
        )
        if value == 0:
            return None
        requested = (
            locked_hold.requested_amount if requested_amount is ... else requested_amount
        )
        if expires_at is not None:
            locked_hold.expires_at = expires_at
        return _successor(locked_hold, value, account, requested)


def expire_holds(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Expire active holds whose lifetime has passed. Returns how many expired."""
    now = now or timezone.now()
    expired = 0
    ids = list(
        Hold.objects.filter(status=HoldStatus.ACTIVE, expires_at__lt=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    for hold_id in ids:
        try:
            release_hold(
                hold=hold_id, actor=Actor.system("hold expiry"), reason="expired",
                expired=True,
            )
        except HoldNotActive:
            continue  # resolved by someone else meanwhile
        expired += 1
    return expired


# Debit the whole balance of every account in %(ids)s that has nothing reserved and at
# least %(minimum)s, set-based: the accounts are locked in primary-key order by
# `chosen` (whose conditions PostgreSQL re-checks on each row's newest version after
# waiting for its lock), then one UPDATE, one INSERT of the entries and one UPDATE of
# the open lots for the whole set. `{guard}`: more conditions on the account `a`.
# Parameters: ids, minimum, kind, reason, reference, order_id, actor_type, actor_id,
# actor_label, now. Leaves `debited` (id, user_id, currency, amount) and `entries`
# (id, account_id, amount) for the rest of the statement.
_WHOLE_BALANCE_DEBITS = """
chosen AS (
    SELECT a.id, a.balance
      FROM saleor_store_credit_account a
     WHERE a.id = ANY(%(ids)s) AND a.held = 0 AND a.balance > 0
       AND a.balance >= %(minimum)s {guard}
     ORDER BY a.id
       FOR UPDATE OF a
), debited AS (  -- `ANY(ids)` again: the planner then reads the rows by primary key
    UPDATE saleor_store_credit_account a
       SET balance = a.balance - c.balance, expiring = 0,
           entry_count = a.entry_count + 1, updated_at = %(now)s
      FROM chosen c
     WHERE a.id = ANY(%(ids)s) AND a.id = c.id
    RETURNING a.id, a.user_id, a.currency, c.balance AS amount, a.balance AS balance_after
), entries AS (
    INSERT INTO saleor_store_credit_entry (
        account_id, direction, amount, balance_after, kind, reason, order_id, reference,
        actor_type, actor_id, actor_label, created_at)
    SELECT d.id, 'debit', d.amount, d.balance_after, %(kind)s, %(reason)s,
           %(order_id)s::uuid, %(reference)s, %(actor_type)s, %(actor_id)s,
           %(actor_label)s, %(now)s
      FROM debited d
     ORDER BY d.id
    RETURNING id, account_id, amount
), lots AS (
    UPDATE saleor_store_credit_creditlot l
       SET remaining = 0
      FROM debited d
     WHERE l.account_id = d.id AND l.remaining > 0
)"""


def whole_balance_debits(*, account_ids, minimum: Decimal, kind: str, actor: Actor,
                         reason: str, refs: Refs = NO_REFS, guard: str = "",
                         now: datetime | None = None) -> tuple[str, dict]:
    """The CTEs (for a WITH clause) and parameters of `_WHOLE_BALANCE_DEBITS`, for a
    caller that builds on `debited` and `entries` in the same statement (one
    reimbursement batch is one statement)."""
    params = {
        "ids": list(account_ids), "minimum": minimum, "kind": kind, "reason": reason,
        "reference": refs.reference, "order_id": refs.order_id,
        "now": now or timezone.now(), **actor.entry_fields(),
    }
    return _WHOLE_BALANCE_DEBITS.format(guard=guard), params


def announce_entries(entry_ids) -> None:
    """`balance_changed` for many entries of one batch, as one batch event; the
    payloads are read only if a receiver wants them."""
    def items():
        rows = Entry.objects.filter(pk__in=list(entry_ids)).select_related("account")
        return [entry_payload(entry, entry.account) for entry in rows.order_by("pk")]

    if entry_ids and store_credit_events.has_listeners(Account):
        store_credit_events.send(sender=Account, event="balance_changed", items=items,
                                 currency=None)


def debit_whole_balances(
    *,
    account_ids,
    minimum: Decimal,
    kind: str,
    actor: Actor,
    reason: str,
    refs: Refs = NO_REFS,
) -> list[int]:
    """Debit the whole balance of each account that has nothing reserved and at least
    `minimum` available, in one statement. Run inside the caller's transaction.
    Returns the new entries' ids."""
    ctes, params = whole_balance_debits(account_ids=account_ids, minimum=minimum,
                                        kind=kind, actor=actor, reason=reason, refs=refs)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {ctes} SELECT COALESCE(array_agg(id ORDER BY id), '{{}}') "
                       "FROM entries", params)
        entry_ids = cursor.fetchone()[0]
    announce_entries(entry_ids)
    return entry_ids


def expire_credit(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Write off what is left of lots that have expired, but never credit that an
    active hold reserves. Holds reserve the soonest-expiring credit first (capturing
    one consumes those lots first), so of the expired remainder only what exceeds the
    account's held amount is written off now; if a hold is released later, the next
    run takes the rest. Returns how many expiry entries were written."""
    now = now or timezone.now()
    account_ids = list(
        CreditLot.objects.filter(remaining__gt=0, expires_at__lte=now)
        .values_list("account_id", flat=True).distinct()[:batch_size]
    )
    written = 0
    for account_id in account_ids:
        with transaction.atomic():
            account = lock_account(account_id)
            due = CreditLot.objects.filter(
                account_id=account_id, remaining__gt=0, expires_at__lte=now
            ).aggregate(total=Sum("remaining"))["total"] or Decimal(0)
            amount = min(due - account.held, account.available)
            if amount <= 0:
                continue
            # Expired lots are the soonest-expiring, so the debit consumes them first
            # (after the part the holds reserve, which their capture consumes).
            locked = apply_delta(account_id, -amount, need=amount)
            _insert_entry(
                locked, direction=EntryDirection.DEBIT, amount=amount,
                kind=EntryKind.EXPIRY, reason="Store credit expired", actor=Actor.system("credit expiry"),
                refs=NO_REFS,
            )
            written += 1
    return written
