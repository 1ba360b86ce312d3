import graphene
from graphene import relay

from ...errors import NotFound
from ...models import Account
from ..auth import actor_for
from ..permissions import require_for
from ..types import StoreCreditAccount, StoreCreditEntry
from .base import BaseStoreCreditMutation


class StoreCreditWriteOffOrphaned(BaseStoreCreditMutation):
    entry = graphene.Field(StoreCreditEntry)
    account = graphene.Field(StoreCreditAccount)

    class Arguments:
        account_id = graphene.ID(required=True, description="StoreCreditAccount ID.")
        reason = graphene.String(required=True)
        idempotency_key = graphene.String(
            description="Retrying with the same key returns the first result."
        )

    class Meta:
        description = (
            "Write off the balance of a customer Saleor deleted (an orphaned balance), "
            "with a reason. Requires HANDLE_PAYMENTS."
        )

    @classmethod
    def perform(cls, _root, info, account_id, reason, idempotency_key=None):
        from ...privacy import write_off_orphaned

        require_for(info.context, "storeCreditWriteOffOrphaned")
        try:
            kind, pk = relay.Node.from_global_id(account_id)
            if kind != "StoreCreditAccount":
                raise ValueError
            pk = int(pk)
        except (ValueError, TypeError, UnicodeDecodeError):
            raise NotFound("Store credit account not found.", field="accountId") from None
        entry = write_off_orphaned(
            account_id=pk, reason=reason, actor=actor_for(info.context),
            idempotency_key=idempotency_key,
        )
        return cls(entry=entry, account=Account.objects.get(pk=entry.account_id), errors=[])
