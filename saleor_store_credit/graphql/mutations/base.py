"""Shared mutation plumbing: service errors become `errors[{field code message}]`."""

import graphene
from graphene import relay

from ...errors import NotFound, PermissionDenied, StoreCreditError
from ...ledger.idempotency import client_key
from ..auth import caller_key
from ..types import StoreCreditError as StoreCreditErrorType


class BaseStoreCreditMutation(graphene.Mutation):
    errors = graphene.List(
        graphene.NonNull(StoreCreditErrorType), required=True, default_value=[]
    )
    # A shopper calls it: error messages in the customer's language (i18n.py).
    shopper_facing = False

    class Meta:
        abstract = True

    @classmethod
    def perform(cls, root, info, **data):
        raise NotImplementedError

    @classmethod
    def mutate(cls, root, info, **data):
        try:
            if data.get("idempotency_key") is not None:
                # A client's key only ever names this caller's call of this mutation.
                data["idempotency_key"] = client_key(
                    data["idempotency_key"], caller=caller_key(info.context),
                    operation=cls.__name__,
                )
            return cls.perform(root, info, **data)
        except PermissionDenied:
            raise  # top-level error, as in Saleor's API
        except StoreCreditError as exc:
            message = exc.message
            if cls.shopper_facing:
                from ...i18n import shopper_error, shopper_language

                message = shopper_error(exc.code, message, shopper_language(info.context))
            return cls(
                errors=[
                    StoreCreditErrorType(
                        field=exc.field,
                        code=getattr(exc.code, "value", exc.code),
                        message=message,
                    )
                ]
            )


def decode_user_id(global_id: str, *, field: str = "customerId"):
    """Return the Saleor User for a global ID, or raise NotFound."""
    from saleor.account.models import User

    try:
        type_name, pk = relay.Node.from_global_id(global_id)
        if type_name != "User":
            raise ValueError
        return User.objects.get(pk=int(pk))
    except (ValueError, TypeError, User.DoesNotExist, UnicodeDecodeError):
        raise NotFound("Customer not found.", field=field) from None


def get_by_global_id(model, global_id, *, type_name: str, what: str, field: str = "id"):
    """The row behind one of this API's Relay IDs, or NotFound naming `what`."""
    try:
        kind, pk = relay.Node.from_global_id(global_id)
        if kind != type_name:
            raise ValueError
        return model.objects.get(pk=int(pk))
    except (ValueError, TypeError, UnicodeDecodeError, model.DoesNotExist):
        raise NotFound(f"{what} not found.", field=field) from None
