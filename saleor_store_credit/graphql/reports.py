import graphene


from ..models import LedgerCheck
from .permissions import require_for
from .types import Decimal, global_id, money_field


class _Movements:
    """The period's movements (reports.MOVEMENTS), shared by both row types."""

    currency = graphene.String(required=True)
    issued = graphene.Field(Decimal, required=True)
    refunded = graphene.Field(Decimal, required=True)
    reversed = graphene.Field(Decimal, required=True)
    spent = graphene.Field(Decimal, required=True)
    paid_out = graphene.Field(Decimal, required=True)
    expired = graphene.Field(Decimal, required=True)
    deducted = graphene.Field(Decimal, required=True)
    written_off = graphene.Field(
        Decimal, required=True, description="Orphaned balances written off by staff."
    )


class LiabilityRowType(_Movements, graphene.ObjectType):
    opening = graphene.Field(Decimal, required=True)
    closing = graphene.Field(Decimal, required=True)
    orphaned = graphene.Field(
        Decimal, required=True,
        description="Part of the closing balance owed to customers Saleor deleted.",
    )

    class Meta:
        name = "StoreCreditLiabilityRow"


class OrphanedBalanceType(graphene.ObjectType):
    account_id = graphene.ID(
        required=True, resolver=lambda root, _info: global_id("StoreCreditAccount", root.pk)
    )
    currency = graphene.String(required=True)
    label = graphene.String(required=True, description='E.g. "deleted user #42".')
    balance = money_field("balance", required=True)
    held = money_field("held", required=True, description="Reserved by open checkouts.")
    orphaned_at = graphene.DateTime(
        description="When Saleor deleted the customer (null: before this was recorded).",
        resolver=lambda root, _info: root.anonymised_at,
    )

    class Meta:
        name = "StoreCreditOrphanedBalance"


class ChannelMovementType(_Movements, graphene.ObjectType):
    channel = graphene.String(required=True, description="Empty: not tied to an order.")

    class Meta:
        name = "StoreCreditChannelMovements"


class LiabilityReport(graphene.ObjectType):
    rows = graphene.List(graphene.NonNull(LiabilityRowType), required=True)
    by_channel = graphene.List(
        graphene.NonNull(ChannelMovementType), required=True,
        description="The period's movements by the channel of their order.",
    )
    orphaned = graphene.List(
        graphene.NonNull(OrphanedBalanceType), required=True,
        description="Balances of deleted customers, now (write them off with "
        "storeCreditWriteOffOrphaned).",
    )
    period = None  # (start, end, currency), set by resolve_liability

    @staticmethod
    def resolve_orphaned(root, _info):
        from ..privacy import orphaned_accounts

        _start, _end, currency = root.period
        return list(orphaned_accounts(currency)[:500])

    @staticmethod
    def resolve_by_channel(root, _info):
        from ..reports import movements_by_channel

        start, end, currency = root.period
        return movements_by_channel(start=start, end=end, currency=currency)
    csv = graphene.String(required=True)

    class Meta:
        name = "StoreCreditLiabilityReport"


class LedgerCheckType(graphene.ObjectType):
    ok = graphene.Boolean(required=True)
    accounts_checked = graphene.Int(required=True)
    drift = graphene.JSONString(required=True)
    orphaned = graphene.JSONString(
        required=True, description="Balances of deleted customers (not drift)."
    )
    created_at = graphene.DateTime(required=True)

    class Meta:
        name = "StoreCreditLedgerCheck"


def resolve_liability(info, start, end, currency=None):
    from ..reports import liability_csv, liability_report

    require_for(info.context, "storeCreditLiabilityReport")
    rows = liability_report(start=start, end=end, currency=currency)
    report = LiabilityReport(rows=rows, csv=liability_csv(rows))
    report.period = (start, end, currency)
    return report


def resolve_checks(info, first=10):
    require_for(info.context, "storeCreditLedgerChecks")
    return list(LedgerCheck.objects.order_by("-pk")[: max(0, min(first, 100))])
