"""Audit rows and outgoing events for credit decisions (same transaction as the change)."""

from ..ledger import Actor
from ..signals import store_credit_event
from .models import CreditAudit


def actor_key(actor: Actor) -> str:
    return f"{actor.type}:{actor.id}"


def record(kind: str, actor: Actor, message: str, *, event: str | None = None,
           currency: str | None = None, **fields) -> CreditAudit:
    """Write one audit row; with `event`, also the outgoing webhook (outbox)."""
    data = fields.pop("data", {}) or {}
    row = CreditAudit.objects.create(
        kind=kind, message=message, data=data, **actor.entry_fields(), **fields
    )
    if event:
        payload = {
            "message": message,
            "actor": {"type": actor.type, "id": actor.id, "label": actor.label},
            "audit_id": row.pk,
            **{key: str(value) for key, value in fields.items() if value is not None},
            **data,
        }
        store_credit_event.send(
            sender=CreditAudit, event=event, data=payload, currency=currency
        )
    return row
