"""Staff API for customer credit management (limits, groups, rules, held orders).

Permissions: `permissions.MATRIX` (credit data of customers need MANAGE_USERS; held
orders MANAGE_ORDERS and access to the order's channel).
"""

from datetime import timedelta
from decimal import Decimal as DecimalValue

import graphene
from django.db.models import Q
from django.utils import timezone
from graphene import relay

from ..credit import holds, limits, rules
from ..credit.exposure import profile_for
from ..credit.models import (
    ACTIVE_HOLD_STATUSES,
    AdjustmentStatus,
    AuditKind,
    BlockingRule,
    CreditAudit,
    CreditGroup,
    LimitAdjustment,
    OrderHold,
    OrderHoldStatus,
    RuleAction,
    RuleScope,
    RuleType,
)
from ..errors import NotFound
from ..ledger.idempotency import run_idempotent
from ..money import normalize_currency
from ..plugin import plugins_manager
from .auth import (
    accessible_orders,
    actor_for,
    check_channel_slug_access,
    check_order_channel_access,
)
from .permissions import require_for
from .mutations.base import BaseStoreCreditMutation, decode_user_id, get_by_global_id
from .types import (
    Decimal,
    Money,
    StoreCreditActorType,
    global_id,
    id_field,
    money,
    money_field,
)



def _enum(name, choices):
    return graphene.Enum(name, [(value.upper(), value) for value in choices.values])


CreditRuleType = _enum("CreditRuleType", RuleType)
CreditRuleAction = _enum("CreditRuleAction", RuleAction)
CreditRuleScope = _enum("CreditRuleScope", RuleScope)
CreditHoldStatus = _enum("OrderCreditHoldStatus", OrderHoldStatus)
CreditAdjustmentStatus = _enum("CreditLimitAdjustmentStatus", AdjustmentStatus)
CreditAuditKind = _enum("CreditAuditKind", AuditKind)
CreditAdjustmentAction = graphene.Enum(
    "CreditLimitAdjustmentAction", [(a.upper(), a) for a in limits.TRANSITIONS]
)




def _page(first):
    return max(0, min(first or 50, 200))


class CreditActor(graphene.ObjectType):
    type = StoreCreditActorType(required=True)
    id = graphene.String(required=True)
    label = graphene.String(required=True)


class CreditLimitType(graphene.ObjectType):
    currency = graphene.String(required=True)
    amount = graphene.Field(Money, description="Null when unlimited.")
    unlimited = graphene.Boolean(required=True)
    temporary = graphene.Boolean(required=True)
    valid_to = graphene.DateTime(description="End of a temporary limit.")
    expires_on = graphene.Date(description="After this day the 'limit expired' rule fires.")

    class Meta:
        name = "CreditLimit"

    @classmethod
    def of(cls, limit, currency):
        if limit is None:
            return None
        return cls(
            currency=currency, unlimited=limit.unlimited, temporary=limit.temporary,
            amount=None if limit.unlimited else money(limit.amount, currency),
            valid_to=limit.valid_to, expires_on=limit.expires_on,
        )


class CreditGroupType(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    name = graphene.String(required=True)
    description = graphene.String(required=True)
    member_ids = graphene.List(graphene.NonNull(graphene.ID), required=True)
    member_emails = graphene.List(graphene.NonNull(graphene.String), required=True)
    limit = graphene.Field(CreditLimitType, currency=graphene.String(required=True),
                           description="The group's shared limit in force.")

    class Meta:
        name = "CreditGroup"
        interfaces = (relay.Node,)

    @staticmethod
    def resolve_member_ids(root, _info):
        return [global_id("User", p.user_id) for p in root.profiles.order_by("user_id")]

    @staticmethod
    def resolve_member_emails(root, _info):
        return [p.user.email for p in root.profiles.select_related("user").order_by("user_id")]

    @staticmethod
    def resolve_limit(root, _info, currency):
        currency = normalize_currency(currency)
        return CreditLimitType.of(
            limits.limit_in_force(currency=currency, group_id=root.pk), currency
        )


class CustomerCredit(graphene.ObjectType):
    customer_id = graphene.ID(required=True)
    email = graphene.String(required=True)
    currency = graphene.String(required=True)
    group = graphene.Field(CreditGroupType)
    on_hold = graphene.Boolean(required=True, description="Account status 'on hold'.")
    on_hold_reason = graphene.String(required=True)
    limit = graphene.Field(CreditLimitType, description="Customer limit in force.")
    group_limit = graphene.Field(CreditLimitType)
    exposure = graphene.Field(
        Money, required=True, description="Unpaid open orders + checkouts being completed."
    )
    group_exposure = graphene.Field(Money)
    available_credit = graphene.Field(
        Money, description="Headroom under the lower of customer and group limits; "
        "null when no finite limit applies."
    )
    held_orders = graphene.Int(required=True)
    # risk scores, insurance and guarantees, forced holds (graphql/risk.py, insurance.py,
    # forced_hold.py)
    limit_without_cover = graphene.Field(
        CreditLimitType, description="The customer limit before insurance and guarantees "
        "(null when they change nothing).")
    insurance_cover = graphene.Field(
        Money, description="Insurance and guarantees counting now; null: none on record.")
    covers = graphene.List(
        graphene.NonNull("saleor_store_credit.graphql.insurance.CreditCoverType"),
        required=True, description="Insurance and guarantees in this currency, any status.")
    risk_score = graphene.Field(
        "saleor_store_credit.graphql.risk.CustomerRiskScoreType", required=True)
    forced_hold = graphene.Field(
        "saleor_store_credit.graphql.forced_hold.CreditForcedHold",
        description="The account's forced credit hold in force; null: none.")

    @staticmethod
    def resolve_covers(root, _info):
        from ..credit.insurance import covers_of

        return list(covers_of(root.user_pk, root.currency))

    @staticmethod
    def resolve_risk_score(root, _info):
        from .risk import customer_risk_score

        return customer_risk_score(root.user_pk)

    @staticmethod
    def resolve_forced_hold(root, _info):
        from ..credit.forced_hold import active_forced_hold

        return active_forced_hold(root.user_pk)

    @property
    def user_pk(self):
        return int(relay.Node.from_global_id(self.customer_id)[1])


class CreditHoldReason(graphene.ObjectType):
    rule_id = graphene.Int()
    rule_name = graphene.String(required=True)
    rule_type = CreditRuleType(required=True)
    action = CreditRuleAction(required=True)
    scope = CreditRuleScope(required=True)
    message = graphene.String(required=True)
    values = graphene.JSONString(required=True, description="Rule and figures at the time.")


class OrderCreditHoldType(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    order_id = id_field("Order", "order_id", required=True, description="Saleor Order ID.")
    order_number = graphene.Int()
    customer_id = id_field("User", "user_id")
    customer_email = graphene.String()
    channel = graphene.String(required=True)
    total = money_field("order_total", required=True)
    exposure = money_field("exposure", required=True)
    status = CreditHoldStatus(required=True)
    active = graphene.Boolean(required=True)
    reasons = graphene.List(graphene.NonNull(CreditHoldReason), required=True)
    review_date = graphene.Date()
    resolution_reason = graphene.String(required=True)
    requested_by = graphene.String(required=True, description="Four-eyes: who asked.")
    resolved_by = graphene.String(required=True)
    created_at = graphene.DateTime(required=True)
    resolved_at = graphene.DateTime()
    forced = graphene.Boolean(required=True, description="Forced credit hold: never "
                              "released by the system.")
    ready_to_release = graphene.Boolean(required=True, description="Evaluate for release "
                                        "found no hold reason; awaiting a staff release.")
    ready_to_release_at = graphene.DateTime()

    class Meta:
        name = "OrderCreditHold"
        interfaces = (relay.Node,)

    @staticmethod
    def resolve_customer_email(root, _info):
        return root.user.email if root.user_id else None

    @staticmethod
    def resolve_channel(root, _info):
        return root.channel_slug

    @staticmethod
    def resolve_active(root, _info):
        return root.is_active

    @staticmethod
    def resolve_reasons(root, _info):
        return [
            CreditHoldReason(
                rule_id=r.get("rule_id"), rule_name=r.get("rule_name", ""),
                rule_type=r.get("rule_type"), action=r.get("action"),
                scope=r.get("scope"), message=r.get("message", ""),
                values=r.get("values", {}),
            )
            for r in root.reasons
        ]

    @staticmethod
    def resolve_requested_by(root, _info):
        return root.requested_by_label

    @staticmethod
    def resolve_ready_to_release(root, _info):
        return root.is_active and root.ready_to_release_at is not None

    @staticmethod
    def resolve_resolved_by(root, _info):
        return root.resolved_by_label


class CreditLimitAdjustmentType(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    customer_id = id_field("User", "user_id")
    group_id = id_field("CreditGroup", "group_id")
    currency = graphene.String(required=True)
    amount = graphene.Field(Money, description="Null when unlimited.")
    unlimited = graphene.Boolean(required=True)
    temporary = graphene.Boolean(required=True)
    valid_from = graphene.DateTime()
    valid_to = graphene.DateTime()
    expires_on = graphene.Date()
    reason = graphene.String(required=True)
    status = CreditAdjustmentStatus(required=True)
    created_by = graphene.Field(CreditActor, required=True)
    submitted_by = graphene.String(required=True)
    approved_by = graphene.String(required=True)
    posted_by = graphene.String(required=True)
    created_at = graphene.DateTime(required=True)
    posted_at = graphene.DateTime()

    class Meta:
        name = "CreditLimitAdjustment"
        interfaces = (relay.Node,)

    @staticmethod
    def resolve_amount(root, _info):
        return None if root.amount is None else money(root.amount, root.currency)

    @staticmethod
    def resolve_unlimited(root, _info):
        return root.amount is None

    @staticmethod
    def resolve_created_by(root, _info):
        return CreditActor(type=root.actor_type, id=root.actor_id, label=root.actor_label)


class CreditBlockingRuleType(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    name = graphene.String(required=True)
    rule_type = CreditRuleType(required=True)
    action = CreditRuleAction(required=True)
    scope = CreditRuleScope(required=True)
    group_id = id_field("CreditGroup", "group_id")
    customer_id = id_field("User", "user_id")
    currency = graphene.String(required=True)
    threshold = graphene.Field(Decimal)
    days = graphene.Int()
    payment_methods = graphene.List(graphene.NonNull(graphene.String), required=True)
    excluded_customer_ids = graphene.List(graphene.NonNull(graphene.ID), required=True)
    excluded_group_ids = graphene.List(graphene.NonNull(graphene.ID), required=True)
    risk_class_id = id_field("CreditRiskClass", "risk_class_id",
                             description="Only customers of this risk class.")
    is_active = graphene.Boolean(required=True)

    class Meta:
        name = "CreditBlockingRule"
        interfaces = (relay.Node,)

    @staticmethod
    def resolve_excluded_customer_ids(root, _info):
        return [global_id("User", pk) for pk in root.excluded_user_ids]

    @staticmethod
    def resolve_excluded_group_ids(root, _info):
        return [global_id("CreditGroup", pk) for pk in root.excluded_group_ids]


class CreditAuditEvent(graphene.ObjectType):
    id = graphene.Int(required=True)
    kind = CreditAuditKind(required=True)
    message = graphene.String(required=True)
    actor = graphene.Field(CreditActor, required=True)
    order_id = id_field("Order", "order_id")
    customer_id = id_field("User", "user_id")
    data = graphene.JSONString(required=True)
    created_at = graphene.DateTime(required=True)

    @staticmethod
    def resolve_actor(root, _info):
        return CreditActor(type=root.actor_type, id=root.actor_id, label=root.actor_label)


# --- queries ---------------------------------------------------------------------------


def _group(value, field="groupId"):
    return get_by_global_id(CreditGroup, value, type_name="CreditGroup",
                            what="Credit group", field=field)


def resolve_customer_credit(info, customer_id, currency):
    from ..credit.rules import Figures

    require_for(info.context, "customerCredit")
    user = decode_user_id(customer_id)
    currency = normalize_currency(currency)
    profile = profile_for(user.pk)
    subject = holds.customer_subject(
        user.pk, currency, profile=profile, order_total=DecimalValue(0), now=timezone.now()
    )
    figures = Figures(subject)
    headroom = [limit.amount - exposure for _who, exposure, limit in figures.checks()]
    in_group = subject.group_id is not None
    cover, without_cover = figures.cover()
    return CustomerCredit(
        limit_without_cover=CreditLimitType.of(without_cover, currency),
        insurance_cover=None if cover is None else money(cover, currency),
        customer_id=customer_id, email=user.email, currency=currency,
        group=profile.group if profile else None,
        on_hold=subject.on_hold, on_hold_reason=profile.on_hold_reason if profile else "",
        limit=CreditLimitType.of(figures.customer_limit(), currency),
        group_limit=CreditLimitType.of(figures.group_limit(), currency),
        exposure=money(figures.customer_exposure(), currency),
        group_exposure=money(figures.group_exposure(), currency) if in_group else None,
        available_credit=money(max(min(headroom), DecimalValue(0)), currency) if headroom else None,
        held_orders=OrderHold.objects.filter(
            user_id=user.pk, status__in=ACTIVE_HOLD_STATUSES
        ).count(),
    )


def resolve_holds(info, status=None, active=None, reason=None, customer_id=None,
                  channel=None, older_than_hours=None, first=50, ready_to_release=None,
                  forced=None):
    require_for(info.context, "orderCreditHolds")
    check_channel_slug_access(info.context, channel)
    qs = OrderHold.objects.select_related("user").order_by("created_at")
    visible = accessible_orders(info.context)
    if visible is not None:
        qs = qs.filter(order_id__in=visible)
    if active is None and status is None:
        active = True
    if active is not None:
        qs = qs.filter(status__in=ACTIVE_HOLD_STATUSES) if active else qs.exclude(
            status__in=ACTIVE_HOLD_STATUSES)
    if status:
        qs = qs.filter(status=status)
    if reason:
        qs = qs.filter(reason_types__contains=[reason])
    if customer_id:
        qs = qs.filter(user_id=decode_user_id(customer_id).pk)
    if channel:
        qs = qs.filter(channel_slug=channel)
    if older_than_hours:
        qs = qs.filter(created_at__lte=timezone.now() - timedelta(hours=older_than_hours))
    if ready_to_release is not None:
        qs = qs.filter(ready_to_release_at__isnull=not ready_to_release)
    if forced is not None:
        qs = qs.filter(forced=forced)
    return list(qs[: _page(first)])


def _hold(value) -> OrderHold:
    """An OrderCreditHold ID, or a Saleor Order ID (its active, else latest, hold)."""
    from uuid import UUID

    try:
        kind, pk = relay.Node.from_global_id(value)
        if kind == "OrderCreditHold":
            return OrderHold.objects.get(pk=int(pk))
        if kind == "Order":
            order_id = UUID(pk)
            hold = OrderHold.objects.filter(
                order_id=order_id, status__in=ACTIVE_HOLD_STATUSES
            ).first() or OrderHold.objects.filter(order_id=order_id).order_by("-pk").first()
            if hold is not None:
                return hold
        raise ValueError
    except (ValueError, TypeError, UnicodeDecodeError, OrderHold.DoesNotExist):
        raise NotFound("Held order not found.", field="id") from None


class CreditQueries(graphene.ObjectType):
    customer_credit = graphene.Field(
        CustomerCredit, required=True, customer_id=graphene.ID(required=True),
        currency=graphene.String(required=True),
        description="Limits, exposure and status of a customer (MANAGE_USERS).",
    )
    credit_groups = graphene.List(graphene.NonNull(CreditGroupType), required=True)
    credit_limit_adjustments = graphene.List(
        graphene.NonNull(CreditLimitAdjustmentType), required=True,
        status=CreditAdjustmentStatus(), customer_id=graphene.ID(), group_id=graphene.ID(),
        first=graphene.Int(default_value=50),
    )
    credit_blocking_rules = graphene.List(
        graphene.NonNull(CreditBlockingRuleType), required=True
    )
    order_credit_holds = graphene.List(
        graphene.NonNull(OrderCreditHoldType), required=True,
        status=CreditHoldStatus(), active=graphene.Boolean(
            description="Default: only active holds unless a status is given."),
        reason=CreditRuleType(), customer_id=graphene.ID(), channel=graphene.String(),
        older_than_hours=graphene.Int(), first=graphene.Int(default_value=50),
        ready_to_release=graphene.Boolean(description="Only holds evaluate-for-release "
                                          "marked ready (true) or not (false)."),
        forced=graphene.Boolean(description="Only forced (true) or other (false) holds."),
        description="Orders on credit hold, oldest first (MANAGE_ORDERS).",
    )
    order_credit_hold = graphene.Field(
        OrderCreditHoldType, id=graphene.ID(required=True,
                                            description="OrderCreditHold or Order ID."),
    )
    credit_audit_events = graphene.List(
        graphene.NonNull(CreditAuditEvent), required=True,
        order_id=graphene.ID(), customer_id=graphene.ID(), group_id=graphene.ID(),
        kind=CreditAuditKind(), first=graphene.Int(default_value=50),
        description="Every credit decision, newest first (MANAGE_USERS or MANAGE_ORDERS).",
    )

    @staticmethod
    def resolve_customer_credit(_root, info, customer_id, currency):
        return resolve_customer_credit(info, customer_id, currency)

    @staticmethod
    def resolve_credit_groups(_root, info):
        require_for(info.context, "creditGroups")
        return list(CreditGroup.objects.all())

    @staticmethod
    def resolve_credit_limit_adjustments(_root, info, status=None, customer_id=None,
                                         group_id=None, first=50):
        require_for(info.context, "creditLimitAdjustments")
        qs = LimitAdjustment.objects.order_by("-created_at", "-pk")
        if status:
            qs = qs.filter(status=status)
        if customer_id:
            qs = qs.filter(user_id=decode_user_id(customer_id).pk)
        if group_id:
            qs = qs.filter(group_id=_group(group_id).pk)
        return list(qs[: _page(first)])

    @staticmethod
    def resolve_credit_blocking_rules(_root, info):
        require_for(info.context, "creditBlockingRules")
        return list(BlockingRule.objects.all())

    @staticmethod
    def resolve_order_credit_holds(_root, info, **kwargs):
        return resolve_holds(info, **kwargs)

    @staticmethod
    def resolve_order_credit_hold(_root, info, id):
        require_for(info.context, "orderCreditHold")
        try:
            hold = _hold(id)
        except NotFound:
            return None
        check_order_channel_access(info.context, hold.order_id)
        return hold

    @staticmethod
    def resolve_credit_audit_events(_root, info, order_id=None, customer_id=None,
                                    group_id=None, kind=None, first=50):
        from uuid import UUID

        if order_id:
            require_for(info.context, "creditAuditEvents(orderId)")
        else:
            require_for(info.context, "creditAuditEvents")
        qs = CreditAudit.objects.order_by("-pk")
        if order_id:
            try:
                kind_name, pk = relay.Node.from_global_id(order_id)
                qs = qs.filter(order_id=UUID(pk)) if kind_name == "Order" else qs.none()
                if kind_name == "Order":
                    check_order_channel_access(info.context, UUID(pk))
            except (ValueError, TypeError, UnicodeDecodeError):
                qs = qs.none()
        visible = accessible_orders(info.context)
        if visible is not None:
            # rows of orders in channels the caller cannot access are left out, as
            # Saleor's order events (saleor/graphql/order/resolvers.py)
            qs = qs.filter(Q(order_id__isnull=True) | Q(order_id__in=visible))
        if customer_id:
            qs = qs.filter(user_id=decode_user_id(customer_id).pk)
        if group_id:
            qs = qs.filter(group_id=_group(group_id).pk)
        if kind:
            qs = qs.filter(kind=kind)
        return list(qs[: _page(first)])


# --- mutations -----------------------------------------------------------------------------


class CreditGroupInput(graphene.InputObjectType):
    name = graphene.String(required=True)
    description = graphene.String()


class CreditGroupSave(BaseStoreCreditMutation):
    group = graphene.Field(CreditGroupType)

    class Arguments:
        id = graphene.ID(description="Omit to create a group.")
        input = CreditGroupInput(required=True)

    class Meta:
        description = "Create or rename a credit group (MANAGE_USERS)."

    @classmethod
    def perform(cls, _root, info, input, id=None):
        require_for(info.context, "creditGroupSave")
        group = limits.save_group(
            actor=actor_for(info.context), name=input.get("name"),
            description=input.get("description") or "",
            group_id=_group(id, field="id").pk if id else None,
        )
        return cls(group=group, errors=[])


class CustomerCreditProfileUpdate(BaseStoreCreditMutation):
    customer_credit = graphene.Field(CustomerCredit)

    class Arguments:
        customer_id = graphene.ID(required=True)
        currency = graphene.String(required=True, description="Currency of the result.")
        group_id = graphene.ID(description="Put the customer in this credit group.")
        remove_from_group = graphene.Boolean()
        on_hold = graphene.Boolean(description="Account status 'on hold'.")
        on_hold_reason = graphene.String()

    class Meta:
        description = "Set a customer's credit group and account status (MANAGE_USERS)."

    @classmethod
    def perform(cls, _root, info, customer_id, currency, group_id=None,
                remove_from_group=False, on_hold=None, on_hold_reason=None):
        require_for(info.context, "customerCreditProfileUpdate")
        user = decode_user_id(customer_id)
        group = ...
        if remove_from_group:
            group = None
        elif group_id:
            group = _group(group_id)
        limits.update_profile(
            user=user, actor=actor_for(info.context), group=group, on_hold=on_hold,
            on_hold_reason=on_hold_reason,
        )
        return cls(customer_credit=resolve_customer_credit(info, customer_id, currency),
                   errors=[])


class CreditLimitInput(graphene.InputObjectType):
    customer_id = graphene.ID()
    group_id = graphene.ID()
    currency = graphene.String(required=True)
    amount = Decimal(description="0 means no credit.")
    unlimited = graphene.Boolean(default_value=False)
    expires_on = graphene.Date(description="Standing limits: after this day the "
                                           "'limit expired' rule fires.")
    temporary = graphene.Boolean(default_value=False)
    valid_from = graphene.DateTime()
    valid_to = graphene.DateTime()
    reason = graphene.String()


def _limit_values(data) -> dict:
    return {
        "user": decode_user_id(data["customer_id"]) if data.get("customer_id") else None,
        "group": _group(data["group_id"]) if data.get("group_id") else None,
        "currency": data.get("currency"), "amount": data.get("amount"),
        "unlimited": bool(data.get("unlimited")), "temporary": bool(data.get("temporary")),
        "valid_from": data.get("valid_from"), "valid_to": data.get("valid_to"),
        "expires_on": data.get("expires_on"), "reason": data.get("reason") or "",
    }


class CreditLimitSet(BaseStoreCreditMutation):
    adjustment = graphene.Field(CreditLimitAdjustmentType)

    class Arguments:
        input = CreditLimitInput(required=True)
        idempotency_key = graphene.String()

    class Meta:
        description = (
            "Change a limit directly: a journal line posted at once. Refused when "
            "direct edits are switched off (MANAGE_USERS)."
        )

    @classmethod
    def perform(cls, _root, info, input, idempotency_key=None):
        require_for(info.context, "creditLimitSet")
        values = _limit_values(input)
        row = run_idempotent(idempotency_key, "credit_limit_set", dict(input), lambda: (
            limits.set_limit_directly(
                actor=actor_for(info.context),
                settings=info.context.store_credit_settings, **values,
            )))
        return cls(adjustment=row, errors=[])


class CreditLimitAdjustmentCreate(BaseStoreCreditMutation):
    adjustment = graphene.Field(CreditLimitAdjustmentType)

    class Arguments:
        input = CreditLimitInput(required=True)
        idempotency_key = graphene.String()

    class Meta:
        description = "Draft a limit adjustment (permanent or temporary) (MANAGE_USERS)."

    @classmethod
    def perform(cls, _root, info, input, idempotency_key=None):
        require_for(info.context, "creditLimitAdjustmentCreate")
        values = _limit_values(input)
        row = run_idempotent(idempotency_key, "credit_limit_adjustment_create", dict(input), lambda: (
            limits.create_adjustment(actor=actor_for(info.context), **values)))
        return cls(adjustment=row, errors=[])


class CreditLimitAdjustmentUpdateStatus(BaseStoreCreditMutation):
    adjustment = graphene.Field(CreditLimitAdjustmentType)

    class Arguments:
        id = graphene.ID(required=True)
        action = CreditAdjustmentAction(required=True)
        idempotency_key = graphene.String()

    class Meta:
        description = (
            "Move an adjustment on: SUBMIT, APPROVE (a second person under four-eyes), "
            "POST (applies it) or REJECT (MANAGE_USERS)."
        )

    @classmethod
    def perform(cls, _root, info, id, action, idempotency_key=None):
        require_for(info.context, "creditLimitAdjustmentUpdateStatus")
        row = get_by_global_id(LimitAdjustment, id, type_name="CreditLimitAdjustment",
                               what="Limit adjustment")
        row = run_idempotent(idempotency_key, "credit_limit_adjustment_status",
                    {"id": id, "action": action}, lambda: limits.advance_adjustment(
                        row.pk, action, actor=actor_for(info.context),
                        settings=info.context.store_credit_settings,
                    ))
        return cls(adjustment=row, errors=[])


class CreditBlockingRuleInput(graphene.InputObjectType):
    name = graphene.String(required=True)
    rule_type = CreditRuleType(required=True)
    action = CreditRuleAction(required=True)
    scope = CreditRuleScope(description="Default: ALL.")
    group_id = graphene.ID()
    customer_id = graphene.ID()
    currency = graphene.String(description="Required for money thresholds.")
    threshold = Decimal(description="Amount, or percent for LIMIT_USED_PERCENT.")
    days = graphene.Int(description="OVERDUE_AMOUNT: orders older than this many days.")
    payment_methods = graphene.List(
        graphene.NonNull(graphene.String),
        description="PAYMENT_METHOD: gateway/app ids, transaction names, method types, "
        f"or '{rules.NO_PAYMENT}' for orders placed without payment.",
    )
    excluded_customer_ids = graphene.List(graphene.NonNull(graphene.ID))
    excluded_group_ids = graphene.List(graphene.NonNull(graphene.ID))
    risk_class_id = graphene.ID(description="Only customers of this risk class; more "
                                "specific than the same scope without one.")
    is_active = graphene.Boolean(default_value=True)


def _rule_values(data) -> dict:
    return rules.clean_rule_input({
        "name": data.get("name"), "rule_type": data.get("rule_type"),
        "action": data.get("action"), "scope": data.get("scope"),
        "group": _group(data["group_id"]) if data.get("group_id") else None,
        "user": decode_user_id(data["customer_id"]) if data.get("customer_id") else None,
        "currency": data.get("currency"), "threshold": data.get("threshold"),
        "days": data.get("days"), "payment_methods": data.get("payment_methods"),
        "excluded_user_ids": [
            decode_user_id(g, field="excludedCustomerIds").pk
            for g in data.get("excluded_customer_ids") or []
        ],
        "excluded_group_ids": [
            _group(g, field="excludedGroupIds").pk for g in data.get("excluded_group_ids") or []
        ],
        "risk_class": _risk_class(data["risk_class_id"]) if data.get("risk_class_id")
        else None,
        "is_active": data.get("is_active", True),
    })


def _risk_class(value):
    from .risk import risk_class_by_id

    return risk_class_by_id(value)


class CreditBlockingRuleSave(BaseStoreCreditMutation):
    rule = graphene.Field(CreditBlockingRuleType)

    class Arguments:
        id = graphene.ID(description="Omit to create a rule.")
        input = CreditBlockingRuleInput(required=True)

    class Meta:
        description = "Create or change a blocking rule (MANAGE_USERS)."

    @classmethod
    def perform(cls, _root, info, input, id=None):
        from django.db import transaction

        from ..credit import audit

        require_for(info.context, "creditBlockingRuleSave")
        values = _rule_values(input)
        with transaction.atomic():
            if id:
                rule = get_by_global_id(BlockingRule, id, type_name="CreditBlockingRule",
                                        what="Blocking rule")
                for key, value in values.items():
                    setattr(rule, key, value)
                rule.save()
            else:
                rule = BlockingRule.objects.create(**values)
            audit.record(
                AuditKind.RULE_CHANGED, actor_for(info.context),
                f"Blocking rule '{rule.name}' saved.", rule_id=rule.pk,
                data={key: str(value) if value is not None else None
                      for key, value in values.items()
                      if key not in ("group", "user", "risk_class")}
                | {"group_id": rule.group_id, "user_id": rule.user_id,
                   "risk_class_id": rule.risk_class_id},
            )
        return cls(rule=rule, errors=[])


class CreditBlockingRuleDelete(BaseStoreCreditMutation):
    deleted_id = graphene.ID()

    class Arguments:
        id = graphene.ID(required=True)

    class Meta:
        description = "Delete a blocking rule; holds keep the rule's values (MANAGE_USERS)."

    @classmethod
    def perform(cls, _root, info, id):
        from ..credit import audit

        require_for(info.context, "creditBlockingRuleDelete")
        rule = get_by_global_id(BlockingRule, id, type_name="CreditBlockingRule",
                                what="Blocking rule")
        audit.record(AuditKind.RULE_CHANGED, actor_for(info.context),
                     f"Blocking rule '{rule.name}' deleted.", rule_id=rule.pk)
        rule.delete()
        return cls(deleted_id=id, errors=[])


def _staff(info):
    context = info.context
    return {"user": getattr(context, "user", None), "app": getattr(context, "app", None)}


class OrderCreditHoldRelease(BaseStoreCreditMutation):
    hold = graphene.Field(OrderCreditHoldType)

    class Arguments:
        id = graphene.ID(required=True, description="OrderCreditHold or Order ID.")
        reason = graphene.String(required=True)
        review_date = graphene.Date()
        idempotency_key = graphene.String()

    class Meta:
        description = (
            "Release a held order: it is confirmed and store credit on it is charged. "
            "With four-eyes approval on, the first call requests the release and a "
            "different staff member's call releases (MANAGE_ORDERS)."
        )

    @classmethod
    def perform(cls, _root, info, id, reason, review_date=None, idempotency_key=None):
        require_for(info.context, "orderCreditHoldRelease")
        hold = _hold(id)
        check_order_channel_access(info.context, hold.order_id)
        hold_id = hold.pk
        hold = run_idempotent(
            idempotency_key, "order_credit_hold_release",
            {"id": hold_id, "reason": reason, "review_date": review_date},
            lambda: holds.release(
                hold_id, actor=actor_for(info.context),
                settings=info.context.store_credit_settings, manager=plugins_manager(),
                reason=reason, review_date=review_date, **_staff(info),
            ),
        )
        hold.refresh_from_db()
        return cls(hold=hold, errors=[])


class OrderCreditHoldReject(BaseStoreCreditMutation):
    hold = graphene.Field(OrderCreditHoldType)

    class Arguments:
        id = graphene.ID(required=True, description="OrderCreditHold or Order ID.")
        reason = graphene.String(required=True)
        idempotency_key = graphene.String()

    class Meta:
        description = "Reject a held order: Saleor cancels it (MANAGE_ORDERS)."

    @classmethod
    def perform(cls, _root, info, id, reason, idempotency_key=None):
        require_for(info.context, "orderCreditHoldReject")
        hold = _hold(id)
        check_order_channel_access(info.context, hold.order_id)
        hold_id = hold.pk
        hold = run_idempotent(
            idempotency_key, "order_credit_hold_reject", {"id": hold_id, "reason": reason},
            lambda: holds.reject(
                hold_id, actor=actor_for(info.context), manager=plugins_manager(),
                reason=reason, **_staff(info),
            ),
        )
        hold.refresh_from_db()
        return cls(hold=hold, errors=[])


class CreditMutations(graphene.ObjectType):
    credit_group_save = CreditGroupSave.Field()
    customer_credit_profile_update = CustomerCreditProfileUpdate.Field()
    credit_limit_set = CreditLimitSet.Field()
    credit_limit_adjustment_create = CreditLimitAdjustmentCreate.Field()
    credit_limit_adjustment_update_status = CreditLimitAdjustmentUpdateStatus.Field()
    credit_blocking_rule_save = CreditBlockingRuleSave.Field()
    credit_blocking_rule_delete = CreditBlockingRuleDelete.Field()
    order_credit_hold_release = OrderCreditHoldRelease.Field()
    order_credit_hold_reject = OrderCreditHoldReject.Field()
