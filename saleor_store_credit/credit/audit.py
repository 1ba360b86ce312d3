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


def require_second_person(actor: Actor, *first: str, what: str, field: str = "id") -> None:
    """Four-eyes: the second pair of eyes is a staff member who is not the first.

    Who counts as a person: a staff user, identified by their Saleor account. An app
    token names no person (Saleor's App has no staff member behind it, and anyone
    holding the token can call with it), so an app can never be the second person;
    it may still make the first step (a proposal, a release request).
    """
    from ..errors import StoreCreditError, StoreCreditErrorCode
    from ..models import ActorType

    if actor.type != ActorType.STAFF:
        raise StoreCreditError(
            f"Four-eyes approval: an app cannot {what}; a second staff member must, "
            "with their own account.",
            field=field, code=StoreCreditErrorCode.FOUR_EYES_REQUIRED,
        )
    if actor_key(actor) in first:
        raise StoreCreditError(
            f"Four-eyes approval: a different staff member must {what}.",
            field=field, code=StoreCreditErrorCode.FOUR_EYES_REQUIRED,
        )
