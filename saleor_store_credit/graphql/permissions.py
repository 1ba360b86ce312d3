"""Who may do what: the plugin's permission matrix, in one place.

Every staff/app operation of the plugin's API names its row here and checks it with
`require_for`; the README's permission table and `tests/integration/test_access.py`
(every cell: allowed with exactly these permissions, refused without each) follow
this dict. A caller needs *all* permissions of a row, as Saleor's `permissions = (...)`
on a mutation (saleor/graphql/core/mutations.py, `check_permissions` with
`all_permissions_required`).

Money movement is gated the way Saleor gates it: payments need HANDLE_PAYMENTS
(Saleor's transaction actions, refunds and captures), gift card balances
MANAGE_GIFT_CARD (Saleor's `giftCardUpdate` of a balance). Reading a balance, credit
limits and rules stay with MANAGE_USERS (customer data), held orders with
MANAGE_ORDERS (Saleor's `orderConfirm` and `orderCancel`, which also charge or release
gift cards), reconciliation and webhooks with MANAGE_SETTINGS.

Operations not listed belong to the caller's own data and need no permission: `me`,
`checkoutStoreCredit`, `checkoutStoreCreditApply`/`Remove`, `checkoutPayOnAccount`,
`checkoutPayOnAccountAuthorize`/`Remove` (the checkout's owner) and
`giftCardRedeemToStoreCredit` without `customerId` (the logged-in customer).
"""

from saleor.permission.enums import (
    AccountPermissions,
    GiftcardPermissions,
    OrderPermissions,
    PaymentPermissions,
    SitePermissions,
)

from ..errors import PermissionDenied
from .auth import is_staff_context, require

MANAGE_USERS = AccountPermissions.MANAGE_USERS
MANAGE_ORDERS = OrderPermissions.MANAGE_ORDERS
HANDLE_PAYMENTS = PaymentPermissions.HANDLE_PAYMENTS
MANAGE_GIFT_CARD = GiftcardPermissions.MANAGE_GIFT_CARD
MANAGE_SETTINGS = SitePermissions.MANAGE_SETTINGS

# Any staff user or app, no permission needed (configuration the staff screens read).
STAFF = ()

# operation -> (area, permissions: all required)
MATRIX = {
    # read balance
    "customerStoreCredit": ("read balance", (MANAGE_USERS,)),
    # move money
    "storeCreditAdjust": ("move money", (MANAGE_USERS, HANDLE_PAYMENTS)),
    "orderCreditMemoCreate": ("move money", (MANAGE_ORDERS, HANDLE_PAYMENTS)),
    "giftCardRedeemToStoreCredit(customerId)": ("move money", (MANAGE_USERS, MANAGE_GIFT_CARD)),
    "storeCreditWriteOffOrphaned": ("move money", (HANDLE_PAYMENTS,)),
    # payouts
    "reimbursementRunPreview": ("payouts", (MANAGE_USERS, HANDLE_PAYMENTS)),
    "reimbursementRun": ("payouts", (MANAGE_USERS, HANDLE_PAYMENTS)),
    "reimbursementRuns": ("payouts", (MANAGE_USERS, HANDLE_PAYMENTS)),
    "reimbursementRunStart": ("payouts", (MANAGE_USERS, HANDLE_PAYMENTS)),
    "payoutMarkPaid": ("payouts", (MANAGE_USERS, HANDLE_PAYMENTS)),
    "payoutMarkFailed": ("payouts", (MANAGE_USERS, HANDLE_PAYMENTS)),
    "payoutVoid": ("payouts", (MANAGE_USERS, HANDLE_PAYMENTS)),
    "storeCreditPayoutDetailsSet": ("payouts", (MANAGE_USERS, HANDLE_PAYMENTS)),
    # credit management
    "customerCredit": ("credit management", (MANAGE_USERS,)),
    "creditGroups": ("credit management", (MANAGE_USERS,)),
    "creditLimitAdjustments": ("credit management", (MANAGE_USERS,)),
    "creditBlockingRules": ("credit management", (MANAGE_USERS,)),
    "creditAuditEvents": ("credit management", (MANAGE_USERS,)),
    "creditGroupSave": ("credit management", (MANAGE_USERS,)),
    "customerCreditProfileUpdate": ("credit management", (MANAGE_USERS,)),
    "creditLimitSet": ("credit management", (MANAGE_USERS,)),
    "creditLimitAdjustmentCreate": ("credit management", (MANAGE_USERS,)),
    "creditLimitAdjustmentUpdateStatus": ("credit management", (MANAGE_USERS,)),
    "creditBlockingRuleSave": ("credit management", (MANAGE_USERS,)),
    "creditBlockingRuleDelete": ("credit management", (MANAGE_USERS,)),
    # risk scores, automatic limits, insurance and guarantees, forced holds
    "creditScoringGroups": ("credit risk", (MANAGE_USERS,)),
    "creditRiskClasses": ("credit risk", (MANAGE_USERS,)),
    "creditAutomaticLimitRules": ("credit risk", (MANAGE_USERS,)),
    "creditRiskScoreRuns": ("credit risk", (MANAGE_USERS,)),
    "creditScoringGroupSave": ("credit risk", (MANAGE_USERS,)),
    "creditScoringGroupDelete": ("credit risk", (MANAGE_USERS,)),
    "creditRiskClassSave": ("credit risk", (MANAGE_USERS,)),
    "creditRiskClassDelete": ("credit risk", (MANAGE_USERS,)),
    "creditAutomaticLimitRuleSave": ("credit risk", (MANAGE_USERS,)),
    "creditAutomaticLimitRuleDelete": ("credit risk", (MANAGE_USERS,)),
    "customerManualScoreSet": ("credit risk", (MANAGE_USERS,)),
    "creditRiskScoresUpdate": ("credit risk", (MANAGE_USERS,)),
    "customerCreditCoverSave": ("credit risk", (MANAGE_USERS,)),
    "customerCreditCoverCancel": ("credit risk", (MANAGE_USERS,)),
    "creditForcedHoldRules": ("credit risk", (MANAGE_USERS,)),
    "creditForcedHolds": ("credit risk", (MANAGE_USERS,)),
    "creditForcedHoldRuleSave": ("credit risk", (MANAGE_USERS,)),
    "creditForcedHoldRuleDelete": ("credit risk", (MANAGE_USERS,)),
    "customerForcedHoldLift": ("credit risk", (MANAGE_USERS,)),
    "creditForcedHoldsApply": ("credit risk", (MANAGE_USERS, MANAGE_ORDERS)),
    # held orders (order-scoped: Saleor's channel access applies too)
    "orderCreditHolds": ("held orders", (MANAGE_ORDERS,)),
    "orderCreditHold": ("held orders", (MANAGE_ORDERS,)),
    "creditAuditEvents(orderId)": ("held orders", (MANAGE_ORDERS,)),
    "orderCreditHoldRelease": ("held orders", (MANAGE_ORDERS,)),
    "orderCreditHoldReject": ("held orders", (MANAGE_ORDERS,)),
    # payment terms (credit management: MANAGE_USERS)
    "paymentTerms": ("payment terms", (MANAGE_USERS,)),
    "paymentTermsAssignments": ("payment terms", (MANAGE_USERS,)),
    "customerPaymentTerms": ("payment terms", (MANAGE_USERS,)),
    "paymentTermsSave": ("payment terms", (MANAGE_USERS,)),
    "paymentTermsDelete": ("payment terms", (MANAGE_USERS,)),
    "paymentTermsAssign": ("payment terms", (MANAGE_USERS,)),
    # orders on terms and pay-on-account invoices (order-scoped: channel access too)
    "orderPaymentTerms": ("invoices", (MANAGE_ORDERS,)),
    "ordersOnTerms": ("invoices", (MANAGE_ORDERS,)),
    "orderInvoicePaymentRecord": ("invoices", (MANAGE_ORDERS, HANDLE_PAYMENTS)),
    "orderCreditHoldsEvaluate": ("held orders", (MANAGE_ORDERS,)),
    # reports
    "storeCreditLiabilityReport": ("reports", (HANDLE_PAYMENTS,)),
    "storeCreditLedgerChecks": ("reports", (MANAGE_SETTINGS,)),
    # webhooks admin
    "storeCreditWebhookDeliveries": ("webhooks admin", (MANAGE_SETTINGS,)),
    "storeCreditWebhookRedeliver": ("webhooks admin", (MANAGE_SETTINGS,)),
    # e-mails (customer data, like Saleor's customer events: MANAGE_USERS)
    "storeCreditEmailDeliveries": ("e-mails", (MANAGE_USERS,)),
    # settings
    "storeCreditSettings": ("settings", STAFF),
}


def permissions_for(operation: str) -> tuple:
    return MATRIX[operation][1]


def require_for(context, operation: str) -> None:
    """PermissionDenied (Saleor's top-level error) unless the caller may `operation`."""
    permissions = permissions_for(operation)
    if permissions == STAFF:
        if not is_staff_context(context):
            raise PermissionDenied(
                "You do not have permission to perform this action. Staff or apps only."
            )
        return
    require(context, list(permissions))
