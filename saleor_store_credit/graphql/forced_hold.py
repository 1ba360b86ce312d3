"""Staff API for forced credit holds and "evaluate for release" (credit/forced_hold.py)."""

import graphene
from graphene import relay

from ..credit import forced_hold
from ..credit.models import ACTIVE_HOLD_STATUSES, CreditGroup, OrderHold
from ..credit.risk_models import (
    ForcedHold,
    ForcedHoldCondition,
    ForcedHoldRule,
    ForcedHoldStatus,
)
from .auth import accessible_orders, actor_for
from .mutations.base import BaseStoreCreditMutation, decode_user_id, get_by_global_id
from .permissions import require_for
from .risk import CreditRiskClass, risk_class_by_id
from .types import Decimal, global_id


def _enum(name, choices):
    return graphene.Enum(name, [(value.upper(), value) for value in choices.values])


CreditForcedHoldCondition = _enum("CreditForcedHoldCondition", ForcedHoldCondition)
CreditForcedHoldStatus = _enum("CreditForcedHoldStatus", ForcedHoldStatus)


class CreditForcedHoldRule(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    name = graphene.String(required=True)
    condition = CreditForcedHoldCondition(required=True)
    days = graphene.Int()
    threshold = graphene.Field(Decimal)
    currency = graphene.String(required=True, description="Empty: any currency.")
    group_id = graphene.ID(description="Only members of this credit group.")
    risk_class = graphene.Field(CreditRiskClass,
                                description="RISK_CLASS: the class; else only this class.")
    is_active = graphene.Boolean(required=True)
    changed_by = graphene.String(required=True)

    class Meta:
        interfaces = (relay.Node,)

    @staticmethod
    def resolve_group_id(root, _info):
        return global_id("CreditGroup", root.group_id)

    @staticmethod
    def resolve_changed_by(root, _info):
        return root.actor_label


class CreditForcedHold(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    customer_id = graphene.ID(required=True)
    customer_email = graphene.String()
    rule_name = graphene.String(required=True)
    message = graphene.String(required=True)
    values = graphene.JSONString(required=True)
    status = CreditForcedHoldStatus(required=True)
    created_at = graphene.DateTime(required=True)
    lifted_at = graphene.DateTime()
    lifted_by = graphene.String(required=True)
    lift_reason = graphene.String(required=True)
    lifted_until = graphene.Date(description="The task leaves the customer alone until then.")

    class Meta:
        interfaces = (relay.Node,)

    @staticmethod
    def resolve_customer_id(root, _info):
        return global_id("User", root.user_id)

    @staticmethod
    def resolve_customer_email(root, _info):
        return root.user.email if root.user_id else None

    @staticmethod
    def resolve_lifted_by(root, _info):
        return root.lifted_by_label


class CreditForcedHoldCounts(graphene.ObjectType):
    placed = graphene.Int(required=True)
    already = graphene.Int(required=True, description="Already on forced hold.")
    lifted_in_force = graphene.Int(required=True, description="Left alone: lifted by staff.")
    rearmed = graphene.Int(required=True)
    orders_marked = graphene.Int(required=True, description="Held orders that became forced.")


class OrderCreditHoldsEvaluation(graphene.ObjectType):
    released = graphene.Int(required=True)
    ready = graphene.Int(required=True, description="Newly marked ready to release.")
    updated = graphene.Int(required=True)
    unchanged = graphene.Int(required=True)
    inactive = graphene.Int(required=True)


class ForcedHoldQueries(graphene.ObjectType):
    credit_forced_hold_rules = graphene.List(
        graphene.NonNull(CreditForcedHoldRule), required=True,
        description="Rules of the forced credit hold task (MANAGE_USERS).")
    credit_forced_holds = graphene.List(
        graphene.NonNull(CreditForcedHold), required=True,
        active=graphene.Boolean(default_value=True), customer_id=graphene.ID(),
        first=graphene.Int(default_value=50),
        description="Accounts on forced credit hold, newest first (MANAGE_USERS).")

    @staticmethod
    def resolve_credit_forced_hold_rules(_root, info):
        require_for(info.context, "creditForcedHoldRules")
        return list(ForcedHoldRule.objects.select_related("risk_class"))

    @staticmethod
    def resolve_credit_forced_holds(_root, info, active=True, customer_id=None, first=50):
        require_for(info.context, "creditForcedHolds")
        qs = ForcedHold.objects.select_related("user").order_by("-pk")
        if active is not None:
            qs = qs.filter(status=ForcedHoldStatus.ACTIVE) if active else qs.exclude(
                status=ForcedHoldStatus.ACTIVE)
        if customer_id:
            qs = qs.filter(user_id=decode_user_id(customer_id).pk)
        return list(qs[: max(0, min(first or 50, 200))])


class CreditForcedHoldRuleInput(graphene.InputObjectType):
    name = graphene.String(required=True)
    condition = CreditForcedHoldCondition(required=True)
    days = graphene.Int(description="DAYS_OVERDUE: over this many days; OVERDUE_AMOUNT: "
                        "count orders more than this many days overdue.")
    threshold = Decimal(description="OVERDUE_AMOUNT: over this amount.")
    currency = graphene.String(description="Required for OVERDUE_AMOUNT; else empty: any.")
    group_id = graphene.ID()
    risk_class_id = graphene.ID()
    is_active = graphene.Boolean(default_value=True)


class CreditForcedHoldRuleSave(BaseStoreCreditMutation):
    rule = graphene.Field(CreditForcedHoldRule)

    class Arguments:
        id = graphene.ID(description="Omit to create.")
        input = CreditForcedHoldRuleInput(required=True)

    class Meta:
        description = "Create or change a forced credit hold rule (MANAGE_USERS)."

    @classmethod
    def perform(cls, _root, info, input, id=None):
        require_for(info.context, "creditForcedHoldRuleSave")
        data = {
            "name": input.get("name"), "condition": input.get("condition"),
            "days": input.get("days"), "threshold": input.get("threshold"),
            "currency": input.get("currency"), "is_active": input.get("is_active", True),
            "group": get_by_global_id(CreditGroup, input["group_id"], type_name="CreditGroup",
                                      what="Credit group", field="groupId")
            if input.get("group_id") else None,
            "risk_class": risk_class_by_id(input["risk_class_id"])
            if input.get("risk_class_id") else None,
        }
        rule = forced_hold.save_rule(
            actor=actor_for(info.context), data=data,
            rule_id=get_by_global_id(ForcedHoldRule, id, type_name="CreditForcedHoldRule",
                                     what="Forced hold rule").pk if id else None,
        )
        return cls(rule=rule, errors=[])


class CreditForcedHoldRuleDelete(BaseStoreCreditMutation):
    deleted_id = graphene.ID()

    class Arguments:
        id = graphene.ID(required=True)

    class Meta:
        description = "Delete a forced credit hold rule; holds it placed stay (MANAGE_USERS)."

    @classmethod
    def perform(cls, _root, info, id):
        require_for(info.context, "creditForcedHoldRuleDelete")
        rule = get_by_global_id(ForcedHoldRule, id, type_name="CreditForcedHoldRule",
                                what="Forced hold rule")
        forced_hold.delete_rule(rule.pk, actor=actor_for(info.context))
        return cls(deleted_id=id, errors=[])


class CreditForcedHoldsApply(BaseStoreCreditMutation):
    counts = graphene.Field(CreditForcedHoldCounts)

    class Meta:
        description = (
            "Run the forced credit hold task now: accounts that meet a rule are put on "
            "forced hold and their held orders become forced (MANAGE_USERS and "
            "MANAGE_ORDERS)."
        )

    @classmethod
    def perform(cls, _root, info):
        require_for(info.context, "creditForcedHoldsApply")
        counts = forced_hold.apply_forced_holds(actor=actor_for(info.context))
        return cls(counts=CreditForcedHoldCounts(**counts), errors=[])


class CustomerForcedHoldLift(BaseStoreCreditMutation):
    forced_hold = graphene.Field(CreditForcedHold)

    class Arguments:
        customer_id = graphene.ID(required=True)
        reason = graphene.String(required=True)
        until = graphene.Date(description="Review date: the task does not hold the account "
                              "again before it. Omit: not until the customer first stops "
                              "meeting the rules.")

    class Meta:
        description = (
            "Lift a customer's forced credit hold. Orders already held stay held for a "
            "staff release (MANAGE_USERS)."
        )

    @classmethod
    def perform(cls, _root, info, customer_id, reason, until=None):
        require_for(info.context, "customerForcedHoldLift")
        hold = forced_hold.lift(decode_user_id(customer_id), actor=actor_for(info.context),
                                reason=reason, until=until)
        return cls(forced_hold=hold, errors=[])


class OrderCreditHoldsEvaluate(BaseStoreCreditMutation):
    evaluation = graphene.Field(OrderCreditHoldsEvaluation)

    class Arguments:
        customer_id = graphene.ID(description="Only this customer's held orders.")

    class Meta:
        description = (
            "Evaluate for release: re-check the held orders (of the caller's channels). "
            "Those no reason holds any more are released where automatic release is on "
            "and they are not forced; the others are marked ready to release "
            "(MANAGE_ORDERS)."
        )

    @classmethod
    def perform(cls, _root, info, customer_id=None):
        from ..plugin import plugins_manager

        require_for(info.context, "orderCreditHoldsEvaluate")
        qs = OrderHold.objects.filter(status__in=ACTIVE_HOLD_STATUSES).order_by("created_at")
        visible = accessible_orders(info.context)
        if visible is not None:
            qs = qs.filter(order_id__in=visible)
        if customer_id:
            qs = qs.filter(user_id=decode_user_id(customer_id).pk)
        ids = list(qs.values_list("pk", flat=True)[:500])
        counts = forced_hold.evaluate_for_release(
            ids, manager=plugins_manager(), trigger="evaluate for release")
        return cls(evaluation=OrderCreditHoldsEvaluation(**counts), errors=[])


class ForcedHoldMutations(graphene.ObjectType):
    credit_forced_hold_rule_save = CreditForcedHoldRuleSave.Field()
    credit_forced_hold_rule_delete = CreditForcedHoldRuleDelete.Field()
    credit_forced_holds_apply = CreditForcedHoldsApply.Field()
    customer_forced_hold_lift = CustomerForcedHoldLift.Field()
    order_credit_holds_evaluate = OrderCreditHoldsEvaluate.Field()
