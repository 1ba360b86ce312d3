"""Staff API for payment terms, orders on terms and pay-on-account invoices
(issue 19, items 1 and 2).

Permissions (`permissions.MATRIX`): terms and who has them are credit management
(MANAGE_USERS); orders on terms are order data (MANAGE_ORDERS and access to the
order's channel); recording an invoice payment moves money on an order
(MANAGE_ORDERS + HANDLE_PAYMENTS, as `orderCreditMemoCreate`: Saleor's
`transactionRequestAction` needs HANDLE_PAYMENTS, its order mutations MANAGE_ORDERS).
"""

from decimal import Decimal as DecimalValue

import graphene
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone
from graphene import relay

from ..credit import exposure as exp
from ..credit import terms as terms_service
from ..credit.terms_models import (
    OnAccountEntryKind,
    OnAccountPayment,
    OrderTerms,
    PaymentTerms,
    PaymentTermsAssignment,
    TermsBasis,
    TermsSource,
)
from ..errors import NotFound
from ..ledger.idempotency import run_idempotent
from .auth import accessible_orders, actor_for, check_channel_slug_access, check_order_channel_access
from .credit import CreditActor, _group, _page
from .mutations.base import BaseStoreCreditMutation, decode_user_id, get_by_global_id
from .permissions import require_for
from .types import Decimal, Money, global_id, money


def _enum(name, choices):
    return graphene.Enum(name, [(value.upper(), value) for value in choices.values])


PaymentTermsBasis = _enum("PaymentTermsBasis", TermsBasis)
PaymentTermsSource = _enum("PaymentTermsSource", TermsSource)
PayOnAccountEntryKind = _enum("PayOnAccountEntryKind", OnAccountEntryKind)
STATUSES = ("not_due", "due", "overdue", "paid", "awaiting_fulfilment", "closed")
OrderPaymentTermsStatus = graphene.Enum(
    "OrderPaymentTermsStatus", [(value.upper(), value) for value in STATUSES],
    description="NOT_DUE, DUE (today is the due date), OVERDUE (owing after the due "
    "date), PAID (owes nothing), AWAITING_FULFILMENT (due date set when fulfilled), "
    "CLOSED (cancelled, expired or returned).",
)


class PaymentTermsType(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    name = graphene.String(required=True)
    description = graphene.String(required=True)
    basis = PaymentTermsBasis(required=True)
    days = graphene.Int(required=True)
    is_active = graphene.Boolean(required=True)
    due = graphene.String(required=True, description="In words, e.g. '30 days after the "
                                                      "order date'.")

    class Meta:
        name = "PaymentTerms"
        interfaces = (relay.Node,)

    @staticmethod
    def resolve_due(root, _info):
        return terms_service.describe(root.basis, root.days)


class PaymentTermsAssignmentType(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    terms = graphene.Field(PaymentTermsType, required=True)
    customer_id = graphene.ID()
    customer_email = graphene.String()
    group_id = graphene.ID()
    group_name = graphene.String()
    channel = graphene.String(description="Set for a channel's default terms.")

    class Meta:
        name = "PaymentTermsAssignment"
        interfaces = (relay.Node,)

    @staticmethod
    def resolve_customer_id(root, _info):
        return global_id("User", root.user_id)

    @staticmethod
    def resolve_customer_email(root, _info):
        return root.user.email if root.user_id else None

    @staticmethod
    def resolve_group_id(root, _info):
        return global_id("CreditGroup", root.group_id)

    @staticmethod
    def resolve_group_name(root, _info):
        return root.group.name if root.group_id else None

    @staticmethod
    def resolve_channel(root, _info):
        return root.channel_slug or None


class CustomerPaymentTerms(graphene.ObjectType):
    customer_id = graphene.ID(required=True)
    channel = graphene.String(required=True)
    terms = graphene.Field(PaymentTermsType, description="Null: no terms apply.")
    source = PaymentTermsSource(description="Where the terms come from.")


class PayOnAccountEntry(graphene.ObjectType):
    id = graphene.Int(required=True)
    kind = PayOnAccountEntryKind(required=True)
    amount = graphene.Field(Money, required=True)
    reference = graphene.String(required=True)
    note = graphene.String(required=True)
    actor = graphene.Field(CreditActor, required=True)
    created_at = graphene.DateTime(required=True)

    @staticmethod
    def resolve_amount(root, _info):
        return money(root.amount, root.payment.currency)

    @staticmethod
    def resolve_actor(root, _info):
        return CreditActor(type=root.actor_type, id=root.actor_id, label=root.actor_label)


class PayOnAccount(graphene.ObjectType):
    transaction_id = graphene.ID(required=True, description="Saleor TransactionItem ID.")
    authorized = graphene.Field(Money, required=True, description="Authorized at checkout.")
    open = graphene.Field(Money, required=True, description="Still owed on the invoice "
                                                            "(Saleor: authorized).")
    paid = graphene.Field(Money, required=True, description="Invoice payments recorded.")
    refunded = graphene.Field(Money, required=True)
    cancelled = graphene.Field(Money, required=True)
    entries = graphene.List(graphene.NonNull(PayOnAccountEntry), required=True)

    @staticmethod
    def resolve_transaction_id(root, _info):
        return global_id("TransactionItem", root.transaction_token)

    @staticmethod
    def resolve_authorized(root, _info):
        return money(root.authorized_amount, root.currency)

    @staticmethod
    def resolve_open(root, _info):
        return money(root.open_amount, root.currency)

    @staticmethod
    def resolve_paid(root, _info):
        return money(root.paid_amount, root.currency)

    @staticmethod
    def resolve_refunded(root, _info):
        return money(root.refunded_amount, root.currency)

    @staticmethod
    def resolve_cancelled(root, _info):
        return money(root.cancelled_amount, root.currency)

    @staticmethod
    def resolve_entries(root, _info):
        return list(root.entries.select_related("payment").order_by("pk"))


class OrderView:
    """What the API shows of one order: its terms row (or None), what it owes. The
    terms row's fields read as None for an order not on terms."""

    _ROW_FIELDS = ("terms_name", "basis", "days", "source", "placed_at", "fulfilled_at",
                   "due_date", "paid_at", "due_notified_at", "overdue_notified_at")

    def __init__(self, order, row, owed):
        self.order, self.row, self.owed = order, row, owed or DecimalValue(0)

    def __getattr__(self, name):
        if name in self._ROW_FIELDS:
            return getattr(self.row, name) if self.row is not None else None
        raise AttributeError(name)


class OrderPaymentTermsType(graphene.ObjectType):
    order_id = graphene.ID(required=True, description="Saleor Order ID.")
    order_number = graphene.Int()
    customer_id = graphene.ID()
    customer_email = graphene.String()
    channel = graphene.String(required=True)
    on_terms = graphene.Boolean(required=True, description="Placed on payment terms.")
    terms_name = graphene.String()
    basis = PaymentTermsBasis()
    days = graphene.Int()
    source = PaymentTermsSource()
    placed_at = graphene.DateTime()
    fulfilled_at = graphene.DateTime()
    due_date = graphene.Date(description="Null until fulfilled for the fulfilment basis.")
    status = OrderPaymentTermsStatus(required=True)
    days_overdue = graphene.Int(required=True)
    owed = graphene.Field(Money, required=True, description="Unpaid, including the open "
                                                            "invoice on account.")
    paid_at = graphene.DateTime(description="When it stopped owing.")
    due_notified_at = graphene.DateTime(description="store_credit.order_due sent.")
    overdue_notified_at = graphene.DateTime(description="store_credit.order_overdue sent.")
    on_account = graphene.List(graphene.NonNull(PayOnAccount), required=True,
                               description="Pay-on-account authorizations of the order.")

    class Meta:
        name = "OrderPaymentTerms"

    @staticmethod
    def resolve_order_id(root, _info):
        return global_id("Order", root.order.pk)

    @staticmethod
    def resolve_order_number(root, _info):
        return root.order.number

    @staticmethod
    def resolve_customer_id(root, _info):
        return global_id("User", root.order.user_id)

    @staticmethod
    def resolve_customer_email(root, _info):
        return root.order.user_email or None

    @staticmethod
    def resolve_channel(root, _info):
        return root.order.channel.slug

    @staticmethod
    def resolve_on_terms(root, _info):
        return root.row is not None

    @staticmethod
    def resolve_status(root, _info):
        today = timezone.localdate()
        if root.row is None:
            if root.order.status not in exp.OPEN_STATUSES:
                return "closed"
            return "paid" if root.owed <= 0 else "not_due"
        return terms_service.status_of(root.row, root.owed, today, root.order.status)

    @staticmethod
    def resolve_days_overdue(root, _info):
        due = root.row.due_date if root.row is not None else None
        if due is None or root.owed <= 0 or root.order.status not in exp.OPEN_STATUSES:
            return 0
        return max((timezone.localdate() - due).days, 0)

    @staticmethod
    def resolve_owed(root, _info):
        return money(root.owed, root.order.currency)

    @staticmethod
    def resolve_on_account(root, _info):
        return list(OnAccountPayment.objects.filter(order_id=root.order.pk).order_by("pk"))


# --- queries ----------------------------------------------------------------------------------


def _terms(value, field="termsId") -> PaymentTerms:
    return get_by_global_id(PaymentTerms, value, type_name="PaymentTerms",
                            what="Payment terms", field=field)


def _order(value):
    from uuid import UUID

    from saleor.order.models import Order

    try:
        kind, pk = relay.Node.from_global_id(value)
        if kind != "Order":
            raise ValueError
        order = Order.objects.select_related("channel").filter(pk=UUID(pk)).first()
    except (ValueError, TypeError, UnicodeDecodeError):
        order = None
    if order is None:
        raise NotFound("Order not found.", field="orderId")
    return order


def order_view(order) -> OrderView | None:
    row = OrderTerms.objects.filter(order_id=order.pk).first()
    if row is None and not OnAccountPayment.objects.filter(order_id=order.pk).exists():
        return None
    return OrderView(order, row, terms_service.order_owed(order.pk))


def resolve_orders_on_terms(info, status=None, customer_id=None, channel=None, first=50):
    from saleor.order.models import Order

    require_for(info.context, "ordersOnTerms")
    check_channel_slug_access(info.context, channel)
    orders = Order.objects.filter(pk=OuterRef("order_id"))
    qs = OrderTerms.objects.annotate(
        sc_open=Exists(orders.filter(status__in=exp.OPEN_STATUSES)),
        sc_owed=Subquery(orders.annotate(o=exp.unpaid_expression()).values("o")[:1]),
    )
    visible = accessible_orders(info.context)
    if visible is not None:
        qs = qs.filter(order_id__in=visible)
    if customer_id:
        qs = qs.filter(user_id=decode_user_id(customer_id).pk)
    if channel:
        qs = qs.filter(channel_slug=channel)
    today = timezone.localdate()
    owing = Q(sc_open=True, sc_owed__gt=0)
    qs = qs.filter({
        None: owing,
        "overdue": owing & Q(due_date__lt=today),
        "due": owing & Q(due_date=today),
        "not_due": owing & Q(due_date__gt=today),
        "awaiting_fulfilment": owing & Q(due_date__isnull=True),
        "paid": Q(sc_open=True) & ~Q(sc_owed__gt=0),
        "closed": Q(sc_open=False),
    }[status])
    rows = list(qs.order_by("due_date", "pk")[: _page(first)])
    found = Order.objects.select_related("channel").in_bulk([r.order_id for r in rows])
    return [OrderView(found[r.order_id], r, r.sc_owed) for r in rows if r.order_id in found]


class TermsQueries(graphene.ObjectType):
    payment_terms = graphene.List(graphene.NonNull(PaymentTermsType), required=True,
                                  description="Payment terms (MANAGE_USERS).")
    payment_terms_assignments = graphene.List(
        graphene.NonNull(PaymentTermsAssignmentType), required=True,
        customer_id=graphene.ID(), group_id=graphene.ID(), channel=graphene.String(),
        description="Who has which terms: customers, credit groups, channel defaults "
        "(MANAGE_USERS).",
    )
    customer_payment_terms = graphene.Field(
        CustomerPaymentTerms, required=True, customer_id=graphene.ID(required=True),
        channel=graphene.String(required=True),
        description="The terms a customer's next order in the channel is placed on "
        "(MANAGE_USERS).",
    )
    order_payment_terms = graphene.Field(
        OrderPaymentTermsType, order_id=graphene.ID(required=True),
        description="An order's terms, due date and pay-on-account invoice; null when "
        "it has neither (MANAGE_ORDERS).",
    )
    orders_on_terms = graphene.List(
        graphene.NonNull(OrderPaymentTermsType), required=True,
        status=OrderPaymentTermsStatus(description="Default: every order still owing."),
        customer_id=graphene.ID(), channel=graphene.String(),
        first=graphene.Int(default_value=50),
        description="Orders on payment terms, soonest due first (MANAGE_ORDERS).",
    )

    @staticmethod
    def resolve_payment_terms(_root, info):
        require_for(info.context, "paymentTerms")
        return list(PaymentTerms.objects.all())

    @staticmethod
    def resolve_payment_terms_assignments(_root, info, customer_id=None, group_id=None,
                                          channel=None):
        require_for(info.context, "paymentTermsAssignments")
        qs = PaymentTermsAssignment.objects.select_related("terms", "user", "group")
        if customer_id:
            qs = qs.filter(user_id=decode_user_id(customer_id).pk)
        if group_id:
            qs = qs.filter(group_id=_group(group_id).pk)
        if channel:
            qs = qs.filter(channel_slug=channel)
        return list(qs.order_by("channel_slug", "group_id", "user_id", "pk"))

    @staticmethod
    def resolve_customer_payment_terms(_root, info, customer_id, channel):
        require_for(info.context, "customerPaymentTerms")
        user = decode_user_id(customer_id)
        profile = exp.profile_for(user.pk)
        resolved = terms_service.terms_for(
            user_id=user.pk, group_id=profile.group_id if profile else None,
            channel_slug=channel)
        return CustomerPaymentTerms(
            customer_id=customer_id, channel=channel,
            terms=resolved.terms if resolved else None,
            source=resolved.source if resolved else None)

    @staticmethod
    def resolve_order_payment_terms(_root, info, order_id):
        require_for(info.context, "orderPaymentTerms")
        try:
            order = _order(order_id)
        except NotFound:
            return None
        check_order_channel_access(info.context, order.pk)
        return order_view(order)

    @staticmethod
    def resolve_orders_on_terms(_root, info, **kwargs):
        return resolve_orders_on_terms(info, **kwargs)


# --- mutations --------------------------------------------------------------------------------


class PaymentTermsInput(graphene.InputObjectType):
    name = graphene.String(required=True, description="e.g. 'Net 30'.")
    basis = PaymentTermsBasis(description="Default: ORDER_DATE.")
    days = graphene.Int(description="0-3650; with FULFILMENT, 0 means due on fulfilment.")
    description = graphene.String()
    is_active = graphene.Boolean(default_value=True,
                                 description="Inactive terms are not given to new orders.")


class PaymentTermsSave(BaseStoreCreditMutation):
    terms = graphene.Field(PaymentTermsType)

    class Arguments:
        id = graphene.ID(description="Omit to create terms.")
        input = PaymentTermsInput(required=True)

    class Meta:
        description = ("Create or change payment terms; orders already placed keep "
                       "theirs (MANAGE_USERS).")

    @classmethod
    def perform(cls, _root, info, input, id=None):
        require_for(info.context, "paymentTermsSave")
        terms = terms_service.save_terms(
            actor=actor_for(info.context), name=input.get("name"),
            basis=input.get("basis") or TermsBasis.ORDER_DATE, days=input.get("days"),
            description=input.get("description") or "",
            is_active=input.get("is_active", True),
            terms_id=_terms(id, field="id").pk if id else None,
        )
        return cls(terms=terms, errors=[])


class PaymentTermsDelete(BaseStoreCreditMutation):
    deleted_id = graphene.ID()

    class Arguments:
        id = graphene.ID(required=True)

    class Meta:
        description = ("Delete payment terms and their assignments; orders placed on "
                       "them keep their terms and due dates (MANAGE_USERS).")

    @classmethod
    def perform(cls, _root, info, id):
        require_for(info.context, "paymentTermsDelete")
        terms_service.delete_terms(actor=actor_for(info.context),
                                   terms_id=_terms(id, field="id").pk)
        return cls(deleted_id=id, errors=[])


class PaymentTermsAssign(BaseStoreCreditMutation):
    assignment = graphene.Field(PaymentTermsAssignmentType,
                                description="Null when the assignment was removed.")

    class Arguments:
        terms_id = graphene.ID(description="Omit (or null) to remove the assignment.")
        customer_id = graphene.ID()
        group_id = graphene.ID()
        channel = graphene.String(description="A channel slug: the channel's default.")

    class Meta:
        description = ("Give one customer, credit group or channel (its default) payment "
                       "terms; the customer's apply over the group's over the channel's "
                       "(MANAGE_USERS).")

    @classmethod
    def perform(cls, _root, info, terms_id=None, customer_id=None, group_id=None,
                channel=None):
        require_for(info.context, "paymentTermsAssign")
        row = terms_service.assign_terms(
            actor=actor_for(info.context),
            terms=_terms(terms_id) if terms_id else None,
            user=decode_user_id(customer_id) if customer_id else None,
            group=_group(group_id) if group_id else None,
            channel_slug=(channel or "").strip() or None,
        )
        return cls(assignment=row, errors=[])


class OrderInvoicePaymentRecord(BaseStoreCreditMutation):
    order_payment_terms = graphene.Field(OrderPaymentTermsType)
    entry = graphene.Field(PayOnAccountEntry)

    class Arguments:
        order_id = graphene.ID(required=True)
        amount = Decimal(description="Default: everything still open on account.")
        currency = graphene.String(description="Checked against the order's currency.")
        reference = graphene.String(description="Bank reference or invoice number.")
        note = graphene.String()
        idempotency_key = graphene.String()

    class Meta:
        description = (
            "Record (part of) a pay-on-account order's invoice as paid: its transaction "
            "is charged by the amount (never more than is open) "
            "(MANAGE_ORDERS + HANDLE_PAYMENTS)."
        )

    @classmethod
    def perform(cls, _root, info, order_id, amount=None, currency=None, reference=None,
                note=None, idempotency_key=None):
        from ..checkout.on_account import record_payment

        require_for(info.context, "orderInvoicePaymentRecord")
        order = _order(order_id)
        check_order_channel_access(info.context, order.pk)
        reference = (reference or "").strip()[:255]
        context = info.context
        entry = run_idempotent(
            idempotency_key, "order_invoice_payment_record",
            {"order": str(order.pk), "amount": amount, "currency": currency,
             "reference": reference, "note": note},
            lambda: record_payment(
                order_id=order.pk, amount=amount, currency=currency,
                actor=actor_for(context), reference=reference, note=(note or "")[:255],
                user=getattr(context, "user", None), app=getattr(context, "app", None),
            ),
        )
        order.refresh_from_db()
        return cls(order_payment_terms=order_view(order), entry=entry, errors=[])


class TermsMutations(graphene.ObjectType):
    payment_terms_save = PaymentTermsSave.Field()
    payment_terms_delete = PaymentTermsDelete.Field()
    payment_terms_assign = PaymentTermsAssign.Field()
    order_invoice_payment_record = OrderInvoicePaymentRecord.Field()
