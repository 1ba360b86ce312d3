import graphene


from ..errors import NotFound
from .permissions import require_for
from .credit import CreditMutations, CreditQueries
from .emails import EmailQueries
from .on_account import OnAccountMutations, OnAccountQueries
from .terms import TermsMutations, TermsQueries
from .forced_hold import ForcedHoldMutations, ForcedHoldQueries
from .insurance import InsuranceMutations
from .risk import RiskMutations, RiskQueries
from .mutations.adjust import StoreCreditAdjust
from .mutations.base import decode_user_id
from .mutations.creditmemo import OrderCreditMemoCreate
from .mutations.giftcard import GiftCardRedeemToStoreCredit
from .mutations.write_off import StoreCreditWriteOffOrphaned
from .payout_details import StoreCreditPayoutDetailsSet
from .mutations.checkout import (
    CheckoutStoreCredit,
    CheckoutStoreCreditApply,
    CheckoutStoreCreditRemove,
    resolve_checkout_store_credit,
)
from .reimbursement import (
    PayoutMarkFailed,
    PayoutMarkPaid,
    PayoutVoid,
    ReimbursementPreview,
    ReimbursementRunInput,
    ReimbursementRunStart,
    ReimbursementRunType,
    resolve_preview,
    resolve_run,
    resolve_runs,
)
from .reports import LedgerCheckType, LiabilityReport, resolve_checks, resolve_liability
from .types import Decimal, StoreCreditCustomer, StoreCreditOwner
from .webhooks import (
    StoreCreditWebhookDelivery,
    StoreCreditWebhookDeliveryStatus,
    StoreCreditWebhookRedeliver,
    resolve_deliveries,
)


class StoreCreditSettingsType(graphene.ObjectType):
    refund_to_store_credit_by_default = graphene.Boolean(
        required=True,
        description="Staff UIs preselect 'Refund to store credit' when this is on.",
    )
    enabled_channels = graphene.List(
        graphene.NonNull(graphene.String), required=True,
        description="Channels where store credit pays; empty means all.",
    )
    max_balance = graphene.Field(Decimal)
    hold_lifetime_minutes = graphene.Int(required=True)

    class Meta:
        name = "StoreCreditSettings"


class Query(CreditQueries, RiskQueries, ForcedHoldQueries, EmailQueries, TermsQueries,
            OnAccountQueries, graphene.ObjectType):
    store_credit_liability_report = graphene.Field(
        LiabilityReport, required=True,
        start=graphene.DateTime(required=True), end=graphene.DateTime(required=True),
        currency=graphene.String(),
        description="Outstanding credit and issued/spent/expired/refunded in a period "
        "(HANDLE_PAYMENTS).",
    )
    store_credit_ledger_checks = graphene.List(
        graphene.NonNull(LedgerCheckType), required=True,
        first=graphene.Int(default_value=10),
        description="Nightly reconciliation results, newest first (MANAGE_SETTINGS).",
    )

    @staticmethod
    def resolve_store_credit_liability_report(_root, info, **kwargs):
        return resolve_liability(info, **kwargs)

    @staticmethod
    def resolve_store_credit_ledger_checks(_root, info, first=10):
        return resolve_checks(info, first)

    reimbursement_run_preview = graphene.Field(
        ReimbursementPreview, required=True,
        input=ReimbursementRunInput(required=True),
        description="Dry run: who would be paid, how much, in total.",
    )
    reimbursement_run = graphene.Field(ReimbursementRunType, id=graphene.ID(required=True))
    reimbursement_runs = graphene.List(
        graphene.NonNull(ReimbursementRunType), required=True,
        first=graphene.Int(default_value=20),
    )

    @staticmethod
    def resolve_reimbursement_run_preview(_root, info, input):
        return resolve_preview(info, input)

    @staticmethod
    def resolve_reimbursement_run(_root, info, id):
        return resolve_run(info, id)

    @staticmethod
    def resolve_reimbursement_runs(_root, info, first=20):
        return resolve_runs(info, first)

    store_credit_webhook_deliveries = graphene.List(
        graphene.NonNull(StoreCreditWebhookDelivery),
        required=True,
        first=graphene.Int(default_value=50),
        status=StoreCreditWebhookDeliveryStatus(),
        event=graphene.String(),
        description="Outgoing webhook delivery log, newest first. Requires MANAGE_SETTINGS.",
    )

    @staticmethod
    def resolve_store_credit_webhook_deliveries(_root, info, **kwargs):
        return resolve_deliveries(info, **kwargs)

    store_credit_settings = graphene.Field(
        StoreCreditSettingsType,
        description="The plugin configuration that staff screens need (staff, apps).",
    )

    @staticmethod
    def resolve_store_credit_settings(_root, info):
        require_for(info.context, "storeCreditSettings")
        settings = info.context.store_credit_settings
        return StoreCreditSettingsType(
            refund_to_store_credit_by_default=settings.refund_to_store_credit_by_default,
            enabled_channels=list(settings.enabled_channels),
            max_balance=settings.max_balance,
            hold_lifetime_minutes=settings.hold_lifetime_minutes,
        )

    me = graphene.Field(
        StoreCreditCustomer,
        description="The logged-in customer's store credit; null when anonymous.",
    )
    customer_store_credit = graphene.Field(
        StoreCreditCustomer,
        customer_id=graphene.ID(required=True, description="Saleor User ID."),
        description="A customer's store credit. Requires MANAGE_USERS.",
    )

    checkout_store_credit = graphene.Field(
        CheckoutStoreCredit,
        checkout_id=graphene.ID(required=True),
        description="Store credit applied to the logged-in customer's checkout.",
    )

    @staticmethod
    def resolve_checkout_store_credit(_root, info, checkout_id):
        return resolve_checkout_store_credit(info, checkout_id)

    @staticmethod
    def resolve_me(_root, info):
        user = getattr(info.context, "user", None)
        return StoreCreditOwner(user) if user else None

    @staticmethod
    def resolve_customer_store_credit(_root, info, customer_id):
        require_for(info.context, "customerStoreCredit")
        try:
            return StoreCreditOwner(decode_user_id(customer_id))
        except NotFound:
            return None


class Mutation(CreditMutations, TermsMutations, OnAccountMutations, RiskMutations,
               InsuranceMutations, ForcedHoldMutations, graphene.ObjectType):
    store_credit_adjust = StoreCreditAdjust.Field()
    checkout_store_credit_apply = CheckoutStoreCreditApply.Field()
    checkout_store_credit_remove = CheckoutStoreCreditRemove.Field()
    gift_card_redeem_to_store_credit = GiftCardRedeemToStoreCredit.Field()
    order_credit_memo_create = OrderCreditMemoCreate.Field()
    store_credit_webhook_redeliver = StoreCreditWebhookRedeliver.Field()
    reimbursement_run_start = ReimbursementRunStart.Field()
    payout_mark_paid = PayoutMarkPaid.Field()
    payout_mark_failed = PayoutMarkFailed.Field()
    payout_void = PayoutVoid.Field()
    store_credit_write_off_orphaned = StoreCreditWriteOffOrphaned.Field()
    store_credit_payout_details_set = StoreCreditPayoutDetailsSet.Field()


schema = graphene.Schema(query=Query, mutation=Mutation)
