import base64
import decimal

import graphene
from graphene import relay
from graphql.language import ast

from ..errors import StoreCreditErrorCode as ErrorCodeValues
from ..models import ActorType, EntryDirection, EntryKind
from .auth import is_staff_context

MAX_PAGE = 100
DEFAULT_PAGE = 20


class Decimal(graphene.Scalar):
    """Exact decimal. Output is a JSON number written from the Decimal itself;
    input may be a JSON number or a string, never rounded through a float."""

    @staticmethod
    def serialize(value):
        return value

    @staticmethod
    def parse_literal(node):
        if isinstance(node, (ast.IntValue, ast.FloatValue, ast.StringValue)):
            return node.value  # text as written; validated by the money parser
        return None

    @staticmethod
    def parse_value(value):
        return value


class Money(graphene.ObjectType):
    amount = graphene.Field(Decimal, required=True)
    currency = graphene.String(required=True)


def money(amount, currency):
    places = decimal.Decimal(1).scaleb(-_precision(currency))
    return Money(amount=amount.quantize(places), currency=currency)


def money_field(attr: str, *, currency_of=lambda root: root.currency, **kwargs):
    """A `Money` field read from a Decimal attribute and the row's currency."""

    def resolve(root, _info):
        return money(getattr(root, attr), currency_of(root))

    return graphene.Field(Money, resolver=resolve, **kwargs)


def global_id(kind: str, pk):
    """A Relay global ID, or None when there is no object."""
    return relay.Node.to_global_id(kind, pk) if pk is not None else None


def id_field(kind: str, attr: str, **kwargs):
    """A global ID field read from a plain `<attr>` column (no foreign key needed)."""
    return graphene.ID(resolver=lambda root, _info: global_id(kind, getattr(root, attr)), **kwargs)


def account_currency(root):
    return root.account.currency


def _precision(currency):
    from ..money import currency_precision

    return currency_precision(currency)


StoreCreditErrorCode = graphene.Enum(
    "StoreCreditErrorCode", [(code.name, code.value) for code in ErrorCodeValues]
)
StoreCreditEntryKind = graphene.Enum(
    "StoreCreditEntryKind", [(value.upper(), value) for value in EntryKind.values]
)
StoreCreditEntryDirection = graphene.Enum(
    "StoreCreditEntryDirection",
    [(value.upper(), value) for value in EntryDirection.values],
)
StoreCreditActorType = graphene.Enum(
    "StoreCreditActorType", [(value.upper(), value) for value in ActorType.values]
)


class StoreCreditError(graphene.ObjectType):
    field = graphene.String(description="The input field the error is about.")
    code = StoreCreditErrorCode(required=True)
    message = graphene.String()


class StoreCreditAccount(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    currency = graphene.String(required=True)
    balance = money_field("balance", required=True, description="Posted balance.")
    held = money_field("held", required=True, description="Reserved by checkouts.")
    available = money_field(
        "available", required=True, description="Balance minus holds: what can be spent."
    )
    expiring = money_field(
        "expiring", required=True, description="Part of the balance that will expire."
    )
    next_expiry = graphene.DateTime(description="When the soonest credit expires.")
    updated_at = graphene.DateTime(required=True)

    class Meta:
        interfaces = (relay.Node,)

    @staticmethod
    def resolve_next_expiry(root, _info):
        if not root.expiring:
            return None
        lot = root.lots.filter(remaining__gt=0).order_by("expires_at").first()
        return lot.expires_at if lot else None


class StoreCreditEntry(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    kind = StoreCreditEntryKind(required=True)
    direction = StoreCreditEntryDirection(required=True)
    amount = money_field(
        "amount", currency_of=account_currency, required=True,
        description="Always positive.",
    )
    balance_after = money_field("balance_after", currency_of=account_currency, required=True)
    reason = graphene.String(required=True)
    order_id = id_field("Order", "order_id", description="Saleor Order ID the entry belongs to.")
    checkout_id = id_field("Checkout", "checkout_id")
    actor_type = StoreCreditActorType(required=True)
    actor_label = graphene.String(description="Who made the change (staff and apps only).")
    created_at = graphene.DateTime(required=True)

    class Meta:
        interfaces = (relay.Node,)

    @staticmethod
    def resolve_actor_label(root, info):
        return root.actor_label if is_staff_context(info.context) else None


class StoreCreditEntryCountableConnection(relay.Connection):
    total_count = graphene.Int()

    class Meta:
        node = StoreCreditEntry

    @staticmethod
    def resolve_total_count(root, _info):
        total = root.total_count
        return total() if callable(total) else total


def _cursor(pk: int) -> str:
    return base64.b64encode(f"entry:{pk}".encode()).decode()


def _cursor_pk(cursor: str) -> int:
    try:
        kind, pk = base64.b64decode(cursor.encode()).decode().split(":")
        if kind != "entry":
            raise ValueError
        return int(pk)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("Invalid cursor.") from exc


def paginate_entries(page, *, first, after, total):
    """Keyset pagination, newest first: constant cost however long the history.
    `page(before, limit)`: the `limit` newest entries older than entry `before`."""
    if first is None:
        first = DEFAULT_PAGE
    if first < 0 or first > MAX_PAGE:
        raise ValueError(f"`first` must be between 0 and {MAX_PAGE}.")
    rows = page(_cursor_pk(after) if after else None, first + 1)
    has_next = len(rows) > first
    rows = rows[:first]
    edges = [
        StoreCreditEntryCountableConnection.Edge(node=row, cursor=_cursor(row.pk))
        for row in rows
    ]
    return StoreCreditEntryCountableConnection(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=has_next,
            has_previous_page=bool(after),
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=total,
    )


class StoreCredit(graphene.ObjectType):
    accounts = graphene.List(graphene.NonNull(StoreCreditAccount), required=True)
    entries = graphene.Field(
        StoreCreditEntryCountableConnection,
        required=True,
        first=graphene.Int(description=f"Page size, at most {MAX_PAGE}."),
        after=graphene.String(),
        currency=graphene.String(),
    )

    @staticmethod
    def resolve_accounts(root, _info):
        from ..ledger.selectors import accounts_for_user

        return accounts_for_user(root.user_id)

    @staticmethod
    def resolve_entries(root, _info, first=None, after=None, currency=None):
        from ..ledger.selectors import entries_page_for_user, entry_count_for_user

        return paginate_entries(
            lambda before, limit: entries_page_for_user(
                root.user_id, currency, before=before, limit=limit),
            first=first, after=after,
            total=lambda: entry_count_for_user(root.user_id, currency),
        )


class StoreCreditOwner:
    def __init__(self, user):
        self.user = user
        self.user_id = user.pk


class StoreCreditCustomer(graphene.ObjectType):
    id = graphene.ID(required=True, description="Saleor User ID.")
    email = graphene.String(required=True)
    store_credit = graphene.Field(StoreCredit, required=True)
    payout_details = graphene.Field(
        "saleor_store_credit.graphql.payout_details.StoreCreditPayoutDetails",
        description="Bank details for reimbursement payouts (masked); null when none.",
    )

    @staticmethod
    def resolve_payout_details(root, info):
        from .payout_details import resolve_payout_details

        return resolve_payout_details(root, info)

    @staticmethod
    def resolve_id(root, _info):
        return relay.Node.to_global_id("User", root.user.pk)

    @staticmethod
    def resolve_email(root, _info):
        return root.user.email

    @staticmethod
    def resolve_store_credit(root, _info):
        return root
