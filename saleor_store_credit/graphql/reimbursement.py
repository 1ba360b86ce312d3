"""Staff API for reimbursement runs and payouts (MANAGE_USERS + HANDLE_PAYMENTS)."""

import graphene
from graphene import relay

from saleor.permission.enums import PaymentPermissions

from ..errors import NotFound
from ..models import Payout, PayoutStatus, ReimbursementRun, RunStatus
from .auth import actor_for, check_channel_slug_access, require
from .mutations.base import BaseStoreCreditMutation
from .permissions import require_for
from .types import Decimal, Money, money, money_field

ReimbursementRunStatus = graphene.Enum(
    "ReimbursementRunStatus", [(v.upper(), v) for v in RunStatus.values]
)
PayoutStatusEnum = graphene.Enum("PayoutStatus", [(v.upper(), v) for v in PayoutStatus.values])


class PayoutType(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    customer_id = graphene.ID()
    amount = money_field("amount", required=True)
    status = PayoutStatusEnum(required=True)
    payee_name = graphene.String(required=True)
    payee_email = graphene.String(required=True)
    payee_address = graphene.String(required=True)
    payout_account = graphene.String(
        required=True, description="Bank account, masked (last four characters)."
    )
    payout_account_full = graphene.String(
        description="Bank account in full. Requires HANDLE_PAYMENTS."
    )
    details_missing = graphene.Boolean(required=True)
    reference = graphene.String(required=True)
    note = graphene.String(required=True)
    created_at = graphene.DateTime(required=True)
    resolved_at = graphene.DateTime()

    class Meta:
        name = "Payout"
        interfaces = (relay.Node,)

    @staticmethod
    def resolve_customer_id(root, _info):
        user_id = root.account.user_id
        return relay.Node.to_global_id("User", user_id) if user_id else None

    @staticmethod
    def resolve_payout_account(root, _info):
        from ..payouts import mask

        return mask(root.payout_account)

    @staticmethod
    def resolve_payout_account_full(root, info):
        # A field guarded by its own permission, as Saleor's PermissionsField does
        # (saleor/graphql/core/fields.py): refused with PermissionDenied.
        require(info.context, [PaymentPermissions.HANDLE_PAYMENTS])
        return root.payout_account



class RunProgress(graphene.ObjectType):
    selected = graphene.Int(required=True)
    processed = graphene.Int(required=True)
    percent = graphene.Float(required=True)


class ReimbursementRunType(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    currency = graphene.String(required=True)
    minimum_amount = money_field("minimum_amount", required=True)
    status = ReimbursementRunStatus(required=True)
    progress = graphene.Field(RunProgress, required=True)
    payout_count = graphene.Int(required=True)
    total = money_field("total_amount", required=True)
    filters = graphene.JSONString(required=True)
    created_at = graphene.DateTime(required=True)
    started_at = graphene.DateTime()
    finished_at = graphene.DateTime()
    payouts = graphene.List(
        graphene.NonNull(PayoutType), required=True,
        first=graphene.Int(default_value=100), after_id=graphene.Int(),
        status=PayoutStatusEnum(), details_missing=graphene.Boolean(),
    )
    csv = graphene.String(
        required=True, full_payout_accounts=graphene.Boolean(default_value=False),
        description="All payouts as CSV for finance; bank accounts masked unless "
        "fullPayoutAccounts (requires HANDLE_PAYMENTS).",
    )

    class Meta:
        name = "ReimbursementRun"
        interfaces = (relay.Node,)

    @staticmethod
    def resolve_progress(root, _info):
        selected = root.selected_count
        done = root.processed_count if root.status != RunStatus.COMPLETED else selected
        percent = 100.0 if not selected else round(100.0 * min(done, selected) / selected, 1)
        return RunProgress(selected=selected, processed=min(done, selected), percent=percent)

    @staticmethod
    def resolve_payouts(root, _info, first=100, after_id=None, status=None, details_missing=None):
        qs = root.payouts.select_related("account").order_by("pk")
        if after_id:
            qs = qs.filter(pk__gt=after_id)
        if status:
            qs = qs.filter(status=status)
        if details_missing is not None:
            qs = qs.filter(details_missing=details_missing)
        return list(qs[: max(0, min(first, 500))])

    @staticmethod
    def resolve_csv(root, info, full_payout_accounts=False):
        from ..reimbursement import run_csv

        if full_payout_accounts:
            require(info.context, [PaymentPermissions.HANDLE_PAYMENTS])
        return run_csv(root.pk, full_accounts=bool(full_payout_accounts))


class PreviewAccount(graphene.ObjectType):
    customer_id = graphene.ID(required=True)
    email = graphene.String(required=True)
    amount = graphene.Field(Money, required=True)
    details_missing = graphene.Boolean(required=True)


class ReimbursementPreview(graphene.ObjectType):
    count = graphene.Int(required=True)
    total = graphene.Field(Money, required=True)
    skipped = graphene.Int(
        required=True, description="At or above the minimum but held back (holds, held orders)."
    )
    accounts = graphene.List(graphene.NonNull(PreviewAccount), required=True)


class ReimbursementRunInput(graphene.InputObjectType):
    currency = graphene.String(required=True)
    minimum_amount = Decimal(description="Default: the plugin's minimum reimbursement amount.")
    customer_ids = graphene.List(graphene.NonNull(graphene.ID))
    email = graphene.String(description="Customers whose email contains this.")
    channel = graphene.String(description="Customers with orders in this channel (slug).")


def _spec(info, data):
    from ..reimbursement import RunSpec
    from .mutations.base import decode_user_id

    # the channel filter selects customers by their orders: Saleor's rule for an
    # order list filtered by channel applies (saleor/graphql/order/resolvers.py)
    check_channel_slug_access(info.context, data.get("channel"))
    ids = [decode_user_id(gid, field="customerIds").pk for gid in data.get("customer_ids") or []]
    return RunSpec.build(
        currency=data["currency"], minimum=data.get("minimum_amount"),
        settings=info.context.store_credit_settings, customer_ids=ids,
        email=data.get("email") or "", channel=data.get("channel") or "",
    )


def resolve_preview(info, input):
    from ..models import PayoutDetails
    from ..reimbursement import preview

    require_for(info.context, "reimbursementRunPreview")
    spec = _spec(info, input)
    result = preview(spec)
    with_details = set(PayoutDetails.objects.filter(
        user_id__in=[account.user_id for account in result.accounts]
    ).values_list("user_id", flat=True))
    return ReimbursementPreview(
        count=result.count, total=money(result.total, spec.currency), skipped=result.skipped,
        accounts=[
            PreviewAccount(
                customer_id=relay.Node.to_global_id("User", account.user_id),
                email=account.user.email, amount=money(account.spendable, spec.currency),
                details_missing=account.user_id not in with_details,
            )
            for account in result.accounts
        ],
    )


def _run_by_id(global_id):
    try:
        _type, pk = relay.Node.from_global_id(global_id)
        return ReimbursementRun.objects.get(pk=int(pk))
    except (ValueError, TypeError, ReimbursementRun.DoesNotExist):
        raise NotFound("Reimbursement run not found.", field="id") from None


def resolve_run(info, id):
    require_for(info.context, "reimbursementRun")
    try:
        return _run_by_id(id)
    except NotFound:
        return None


def resolve_runs(info, first=20):
    require_for(info.context, "reimbursementRuns")
    return list(ReimbursementRun.objects.order_by("-pk")[: max(0, min(first, 100))])


class ReimbursementRunStart(BaseStoreCreditMutation):
    run = graphene.Field(ReimbursementRunType)

    class Arguments:
        input = ReimbursementRunInput(required=True)
        idempotency_key = graphene.String()

    class Meta:
        description = "Start a reimbursement run (processed by Celery in batches)."

    @classmethod
    def perform(cls, _root, info, input, idempotency_key=None):
        from ..reimbursement import start_run

        require_for(info.context, "reimbursementRunStart")
        run = start_run(
            spec=_spec(info, input), actor=actor_for(info.context),
            idempotency_key=idempotency_key,
        )
        run.refresh_from_db()
        return cls(run=run, errors=[])


def _payout_mutation(name, status, doc):
    operation = name[0].lower() + name[1:]

    class Arguments:
        id = graphene.ID(required=True)
        note = graphene.String(description="Why (failed/voided) or a remark.")
        reference = graphene.String(description="Bank or payment reference.")
        idempotency_key = graphene.String()

    class Meta:
        description = doc + " Requires MANAGE_USERS and HANDLE_PAYMENTS."

    @classmethod
    def perform(cls, _root, info, id, note="", reference="", idempotency_key=None):
        from ..reimbursement import resolve_payout

        require_for(info.context, operation)
        try:
            _type, pk = relay.Node.from_global_id(id)
            payout_id = Payout.objects.values_list("pk", flat=True).get(pk=int(pk))
        except (ValueError, TypeError, Payout.DoesNotExist):
            raise NotFound("Payout not found.", field="id") from None
        payout = resolve_payout(
            payout_id=payout_id, status=status, actor=actor_for(info.context),
            note=note or "", reference=reference or "", idempotency_key=idempotency_key,
        )
        return cls(payout=payout, errors=[])

    return type(
        name, (BaseStoreCreditMutation,),
        {"payout": graphene.Field(PayoutType), "Arguments": Arguments, "Meta": Meta,
         "perform": perform},
    )


PayoutMarkPaid = _payout_mutation("PayoutMarkPaid", PayoutStatus.PAID, "Finance paid it.")
PayoutMarkFailed = _payout_mutation(
    "PayoutMarkFailed", PayoutStatus.FAILED, "The payment failed: the amount is re-credited."
)
PayoutVoid = _payout_mutation(
    "PayoutVoid", PayoutStatus.VOIDED, "Cancel before payment: the amount is re-credited."
)
