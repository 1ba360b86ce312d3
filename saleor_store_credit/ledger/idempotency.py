"""Idempotency keys: a replay returns the first result.

Exactly-once comes from the unique key column: two concurrent first calls may both
do the work, but only one can insert the key and commit; the other's whole DB
transaction rolls back and it returns the winner's result.

Two namespaces share the column and can never meet: keys a client sends are stored
as `client:<operation>:<sha256 of caller, operation, key>` (`client_key`), so one
caller's key means nothing to another caller or another operation; keys the plugin
makes for itself are `internal:<what>:<id>` (`internal_key`). No client input can
produce an `internal:` key, so nobody can pre-claim the key of a staff refund or a
payout reversal.
"""

import hashlib
import json
from collections.abc import Callable
from decimal import Decimal

from django.db import IntegrityError, transaction

from ..errors import IdempotencyKeyReused, StoreCreditError
from ..models import (
    CreditMemo,
    Entry,
    Hold,
    IdempotencyRecord,
    LimitAdjustment,
    OnAccountEntry,
    OrderHold,
    Payout,
    ReimbursementRun,
)

MAX_KEY_LENGTH = 255
_KEY_CONSTRAINT = "store_credit_idempotency_key"
# What a keyed operation may return, and the record field that remembers it.
_RESULT_FIELDS = {
    Entry: "entry",
    Hold: "hold",
    CreditMemo: "credit_memo",
    ReimbursementRun: "reimbursement_run",
    Payout: "payout",
}
# Results remembered by reference (`result_ref`): rows a foreign key must not pin.
_RESULT_REFS = {LimitAdjustment: "limit_adjustment", OrderHold: "order_hold",
                OnAccountEntry: "on_account_entry"}
_REF_MODELS = {name: model for model, name in _RESULT_REFS.items()}


def client_key(key, *, caller: str, operation: str) -> str | None:
    """The stored form of a key a client sent (None: no key). `caller`: who sent it
    (e.g. "user:12", "app:3"); `operation`: the API operation it was sent to."""
    if key is None:
        return None
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise StoreCreditError(
            f"Idempotency key must be 1-{MAX_KEY_LENGTH} characters.",
            field="idempotencyKey",
        )
    digest = hashlib.sha256(json.dumps([caller, operation, key]).encode()).hexdigest()
    return f"client:{operation[:64]}:{digest}"


def internal_key(what: str, ident) -> str:
    """A key the plugin makes for its own exactly-once writes."""
    return f"internal:{what}:{ident}"


def fingerprint(operation: str, params: dict) -> str:
    def default(value):
        if isinstance(value, Decimal):
            return str(value)
        return str(value)

    payload = json.dumps([operation, params], sort_keys=True, default=default)
    return hashlib.sha256(payload.encode()).hexdigest()


def _replay(record: IdempotencyRecord, operation: str, digest: str):
    if record.operation != operation or record.fingerprint != digest:
        raise IdempotencyKeyReused(
            "This idempotency key was already used for a different request."
        )
    for field in _RESULT_FIELDS.values():
        if getattr(record, f"{field}_id"):
            return getattr(record, field)
    if record.result_ref:
        name, pk = record.result_ref.split(":", 1)
        return _REF_MODELS[name].objects.get(pk=int(pk))
    raise AssertionError(f"idempotency record {record.pk} remembers no result")


def run_idempotent(
    key: str | None,
    operation: str,
    params,
    work: Callable[[], object],
    *,
    savepoint: bool = True,
):
    """Run `work` in one DB transaction, at most once per `key`."""
    if key is None:
        with transaction.atomic(savepoint=savepoint):
            return work()
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise StoreCreditError(
            f"Idempotency key must be 1-{MAX_KEY_LENGTH} characters.",
            field="idempotencyKey",
        )
    digest = fingerprint(operation, params() if callable(params) else params)
    existing = IdempotencyRecord.objects.filter(key=key).first()
    if existing:
        return _replay(existing, operation, digest)
    try:
        with transaction.atomic():
            result = work()
            remembered = (
                {"result_ref": f"{_RESULT_REFS[type(result)]}:{result.pk}"}
                if type(result) in _RESULT_REFS
                else {_RESULT_FIELDS[type(result)]: result}
            )
            IdempotencyRecord.objects.create(
                key=key, operation=operation, fingerprint=digest, **remembered
            )
            return result
    except IntegrityError as exc:
        if not _is_key_violation(exc):
            raise
    return _replay(IdempotencyRecord.objects.get(key=key), operation, digest)


def _is_key_violation(exc: IntegrityError) -> bool:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == _KEY_CONSTRAINT
