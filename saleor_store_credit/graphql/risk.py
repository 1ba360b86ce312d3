"""Staff API for risk scores and automatic limits (credit/risk.py). MANAGE_USERS."""

import graphene
from django.db import transaction
from graphene import relay

from ..credit import risk
from ..credit.risk_models import (
    AutomaticLimitRule,
    CustomerRiskScore,
    ManualScoreValue,
    RiskClass,
    RiskRunStatus,
    RiskScoreRun,
    ScoreKind,
    ScoringGroup,
)
from .auth import actor_for
from .mutations.base import BaseStoreCreditMutation, decode_user_id, get_by_global_id
from .permissions import require_for
from .types import Decimal, Money, global_id, money


def _enum(name, choices):
    return graphene.Enum(name, [(value.upper(), value) for value in choices.values])


CreditScoreKind = _enum("CreditScoreKind", ScoreKind)
CreditRiskScoreRunStatus = _enum("CreditRiskScoreRunStatus", RiskRunStatus)


def _page(first):
    return max(0, min(first or 20, 100))


class CreditScoreBand(graphene.ObjectType):
    from_ = graphene.String(name="from", description="Lowest value in the band (inclusive); "
                            "null: no lower end.")
    to = graphene.String(description="End of the band (exclusive); null: no upper end.")
    points = graphene.String(required=True, description="0-100.")

    @staticmethod
    def resolve_from_(root, _info):
        return root.get("from")

    @staticmethod
    def resolve_to(root, _info):
        return root.get("to")

    @staticmethod
    def resolve_points(root, _info):
        return root.get("points")


class CreditScoreType(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    kind = CreditScoreKind(required=True)
    name = graphene.String(required=True)
    weight = graphene.Field(Decimal, required=True)
    period_days = graphene.Int(description="Look-back for order-based kinds.")
    days = graphene.Int(description="OVERDUE_AMOUNT: orders more than this many days overdue.")
    currency = graphene.String(required=True)
    manual_key = graphene.String(required=True)
    bands = graphene.List(graphene.NonNull(CreditScoreBand), required=True)

    class Meta:
        interfaces = (relay.Node,)


class CreditScoringGroup(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    name = graphene.String(required=True)
    description = graphene.String(required=True)
    credit_group_id = graphene.ID(description="Scores this credit group's members; null: "
                                  "every customer outside scored credit groups.")
    credit_group_name = graphene.String()
    is_active = graphene.Boolean(required=True)
    score_types = graphene.List(graphene.NonNull(CreditScoreType), required=True)

    class Meta:
        interfaces = (relay.Node,)

    @staticmethod
    def resolve_credit_group_id(root, _info):
        return global_id("CreditGroup", root.credit_group_id)

    @staticmethod
    def resolve_credit_group_name(root, _info):
        return root.credit_group.name if root.credit_group_id else None

    @staticmethod
    def resolve_score_types(root, _info):
        return list(root.score_types.all())


class CreditRiskClass(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    name = graphene.String(required=True)
    description = graphene.String(required=True)
    min_score = graphene.Field(Decimal, required=True)

    class Meta:
        interfaces = (relay.Node,)


class CreditActorRef(graphene.ObjectType):
    type = graphene.String(required=True)
    label = graphene.String(required=True)


class CreditAutomaticLimitRule(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    name = graphene.String(required=True)
    risk_class = graphene.Field(CreditRiskClass, required=True)
    currency = graphene.String(required=True)
    amount = graphene.Field(Money, description="Null when unlimited.")
    unlimited = graphene.Boolean(required=True)
    condition_kind = CreditScoreKind()
    condition_min = graphene.Field(Decimal)
    condition_key = graphene.String(required=True, description="MANUAL: the value's key.")
    valid_days = graphene.Int(description="Proposed limits expire this many days after.")
    is_active = graphene.Boolean(required=True)
    proposer = graphene.Field(CreditActorRef, required=True,
                              description="Who last changed the rule: the proposer of its "
                              "journal lines (four-eyes keeps them from approving).")

    class Meta:
        interfaces = (relay.Node,)

    @staticmethod
    def resolve_amount(root, _info):
        return None if root.amount is None else money(root.amount, root.currency)

    @staticmethod
    def resolve_unlimited(root, _info):
        return root.amount is None

    @staticmethod
    def resolve_condition_kind(root, _info):
        return root.condition_kind or None

    @staticmethod
    def resolve_proposer(root, _info):
        return CreditActorRef(type=root.actor_type, label=root.actor_label)


class CreditRiskScoreRun(graphene.ObjectType):
    id = graphene.GlobalID(required=True)
    status = CreditRiskScoreRunStatus(required=True)
    total = graphene.Int(required=True)
    processed = graphene.Int(required=True)
    percent = graphene.Float(required=True)
    class_changes = graphene.Int(required=True)
    proposals = graphene.Int(required=True, description="Journal lines proposed.")
    error = graphene.String(required=True)
    started_by = graphene.String(required=True)
    started_at = graphene.DateTime(required=True)
    finished_at = graphene.DateTime()

    class Meta:
        interfaces = (relay.Node,)

    @staticmethod
    def resolve_percent(root, _info):
        if root.status == RiskRunStatus.COMPLETED:
            return 100.0
        return round(100.0 * root.processed / root.total, 1) if root.total else 0.0

    @staticmethod
    def resolve_started_by(root, _info):
        return root.actor_label or root.actor_type


class CreditScoreDetail(graphene.ObjectType):
    kind = CreditScoreKind(required=True)
    name = graphene.String(required=True)
    weight = graphene.String(required=True)
    value = graphene.String(description="Null: no data (left out of the score).")
    points = graphene.String(description="Null: no data; 0 when the value is in no band.")
    band = graphene.Field(CreditScoreBand)


class CreditManualScoreValue(graphene.ObjectType):
    key = graphene.String(required=True)
    value = graphene.Field(Decimal, required=True)
    set_by = graphene.String(required=True)
    updated_at = graphene.DateTime(required=True)

    @staticmethod
    def resolve_set_by(root, _info):
        return root.actor_label


class CustomerRiskScoreType(graphene.ObjectType):
    score = graphene.Field(Decimal, description="0-100; null: nothing to score.")
    risk_class = graphene.Field(CreditRiskClass)
    scoring_group = graphene.String(description="The scoring group used.")
    computed_at = graphene.DateTime()
    class_changed_at = graphene.DateTime()
    details = graphene.List(graphene.NonNull(CreditScoreDetail), required=True)
    manual_values = graphene.List(graphene.NonNull(CreditManualScoreValue), required=True)

    class Meta:
        name = "CustomerRiskScore"


def customer_risk_score(user_id) -> CustomerRiskScoreType:
    """For CustomerCredit.riskScore (the customerCredit permission applies)."""
    row = CustomerRiskScore.objects.filter(user_id=user_id).select_related(
        "risk_class", "scoring_group").first()
    manual = list(ManualScoreValue.objects.filter(user_id=user_id).order_by("key"))
    if row is None:
        return CustomerRiskScoreType(details=[], manual_values=manual)
    return CustomerRiskScoreType(
        score=row.score, risk_class=row.risk_class,
        scoring_group=row.scoring_group.name if row.scoring_group_id else None,
        computed_at=row.computed_at, class_changed_at=row.class_changed_at,
        details=[CreditScoreDetail(kind=d.get("kind"), name=d.get("name") or "",
                                   weight=d.get("weight"), value=d.get("value"),
                                   points=d.get("points"), band=d.get("band"))
                 for d in row.details or []],
        manual_values=manual,
    )


# --- queries -----------------------------------------------------------------------------------


class RiskQueries(graphene.ObjectType):
    credit_scoring_groups = graphene.List(
        graphene.NonNull(CreditScoringGroup), required=True,
        description="Scoring groups and their score types (MANAGE_USERS).")
    credit_risk_classes = graphene.List(
        graphene.NonNull(CreditRiskClass), required=True,
        description="Risk classes, lowest minimum score first (MANAGE_USERS).")
    credit_automatic_limit_rules = graphene.List(
        graphene.NonNull(CreditAutomaticLimitRule), required=True,
        description="Automatic limit by risk class (MANAGE_USERS).")
    credit_risk_score_runs = graphene.List(
        graphene.NonNull(CreditRiskScoreRun), required=True,
        first=graphene.Int(default_value=20),
        description="Risk score runs with their progress, newest first (MANAGE_USERS).")

    @staticmethod
    def resolve_credit_scoring_groups(_root, info):
        require_for(info.context, "creditScoringGroups")
        return list(ScoringGroup.objects.select_related("credit_group")
                    .prefetch_related("score_types"))

    @staticmethod
    def resolve_credit_risk_classes(_root, info):
        require_for(info.context, "creditRiskClasses")
        return list(RiskClass.objects.all())

    @staticmethod
    def resolve_credit_automatic_limit_rules(_root, info):
        require_for(info.context, "creditAutomaticLimitRules")
        return list(AutomaticLimitRule.objects.select_related("risk_class"))

    @staticmethod
    def resolve_credit_risk_score_runs(_root, info, first=20):
        require_for(info.context, "creditRiskScoreRuns")
        return list(RiskScoreRun.objects.all()[: _page(first)])


# --- mutations ---------------------------------------------------------------------------------


def risk_class_by_id(value, field="riskClassId"):
    return get_by_global_id(RiskClass, value, type_name="CreditRiskClass",
                            what="Risk class", field=field)


def _credit_group(value):
    from ..credit.models import CreditGroup

    return get_by_global_id(CreditGroup, value, type_name="CreditGroup",
                            what="Credit group", field="creditGroupId")


class CreditScoreBandInput(graphene.InputObjectType):
    from_ = graphene.String(name="from", description="Inclusive; omit for no lower end.")
    to = graphene.String(description="Exclusive; omit for no upper end.")
    points = graphene.String(required=True, description="0-100.")


class CreditScoreTypeInput(graphene.InputObjectType):
    kind = CreditScoreKind(required=True)
    name = graphene.String()
    weight = Decimal(required=True, description="Above 0, at most 1000.")
    period_days = graphene.Int(description="Order-based kinds; default 365.")
    days = graphene.Int(description="OVERDUE_AMOUNT: count orders more than N days overdue.")
    currency = graphene.String(description="ORDER_VALUE and OVERDUE_AMOUNT.")
    manual_key = graphene.String(description="MANUAL: the key staff set values under.")
    bands = graphene.List(graphene.NonNull(CreditScoreBandInput), required=True)


class CreditScoringGroupInput(graphene.InputObjectType):
    name = graphene.String(required=True)
    description = graphene.String()
    credit_group_id = graphene.ID(description="Omit: the default scoring group.")
    is_active = graphene.Boolean(default_value=True)
    score_types = graphene.List(graphene.NonNull(CreditScoreTypeInput), required=True)


def _score_type_values(data) -> dict:
    return {
        "kind": data.get("kind"), "name": data.get("name"), "weight": data.get("weight"),
        "period_days": data.get("period_days"), "days": data.get("days"),
        "currency": data.get("currency"), "manual_key": data.get("manual_key"),
        "bands": [{"from": b.get("from_"), "to": b.get("to"), "points": b.get("points")}
                  for b in data.get("bands") or []],
    }


class CreditScoringGroupSave(BaseStoreCreditMutation):
    scoring_group = graphene.Field(CreditScoringGroup)

    class Arguments:
        id = graphene.ID(description="Omit to create.")
        input = CreditScoringGroupInput(required=True)

    class Meta:
        description = "Create or replace a scoring group and its score types (MANAGE_USERS)."

    @classmethod
    def perform(cls, _root, info, input, id=None):
        require_for(info.context, "creditScoringGroupSave")
        group_id = get_by_global_id(ScoringGroup, id, type_name="CreditScoringGroup",
                                    what="Scoring group").pk if id else None
        group = risk.save_scoring_group(
            actor=actor_for(info.context), name=input.get("name"),
            description=input.get("description") or "",
            credit_group=_credit_group(input["credit_group_id"])
            if input.get("credit_group_id") else None,
            is_active=input.get("is_active", True),
            score_types=[_score_type_values(t) for t in input.get("score_types") or []],
            group_id=group_id,
        )
        return cls(scoring_group=group, errors=[])


class CreditScoringGroupDelete(BaseStoreCreditMutation):
    deleted_id = graphene.ID()

    class Arguments:
        id = graphene.ID(required=True)

    class Meta:
        description = "Delete a scoring group (MANAGE_USERS)."

    @classmethod
    def perform(cls, _root, info, id):
        require_for(info.context, "creditScoringGroupDelete")
        group = get_by_global_id(ScoringGroup, id, type_name="CreditScoringGroup",
                                 what="Scoring group")
        risk.delete_scoring_group(group.pk, actor=actor_for(info.context))
        return cls(deleted_id=id, errors=[])


class CreditRiskClassInput(graphene.InputObjectType):
    name = graphene.String(required=True)
    min_score = Decimal(required=True, description="0-100; unique.")
    description = graphene.String()


class CreditRiskClassSave(BaseStoreCreditMutation):
    risk_class = graphene.Field(CreditRiskClass)

    class Arguments:
        id = graphene.ID(description="Omit to create.")
        input = CreditRiskClassInput(required=True)

    class Meta:
        description = "Create or change a risk class (MANAGE_USERS)."

    @classmethod
    def perform(cls, _root, info, input, id=None):
        require_for(info.context, "creditRiskClassSave")
        row = risk.save_risk_class(
            actor=actor_for(info.context), name=input.get("name"),
            min_score=input.get("min_score"), description=input.get("description") or "",
            class_id=risk_class_by_id(id, field="id").pk if id else None,
        )
        return cls(risk_class=row, errors=[])


class CreditRiskClassDelete(BaseStoreCreditMutation):
    deleted_id = graphene.ID()

    class Arguments:
        id = graphene.ID(required=True)

    class Meta:
        description = "Delete a risk class no rule uses (MANAGE_USERS)."

    @classmethod
    def perform(cls, _root, info, id):
        require_for(info.context, "creditRiskClassDelete")
        risk.delete_risk_class(risk_class_by_id(id, field="id").pk,
                               actor=actor_for(info.context))
        return cls(deleted_id=id, errors=[])


class CreditAutomaticLimitRuleInput(graphene.InputObjectType):
    name = graphene.String(required=True)
    risk_class_id = graphene.ID(required=True)
    currency = graphene.String(required=True)
    amount = Decimal(description="0 means no credit.")
    unlimited = graphene.Boolean(default_value=False)
    condition_kind = CreditScoreKind(description="Only when this measure is ≥ conditionMin.")
    condition_min = Decimal()
    condition_key = graphene.String(description="MANUAL conditions: the manual value's key.")
    valid_days = graphene.Int(description="The proposed limit expires after this many days.")
    is_active = graphene.Boolean(default_value=True)


class CreditAutomaticLimitRuleSave(BaseStoreCreditMutation):
    rule = graphene.Field(CreditAutomaticLimitRule)

    class Arguments:
        id = graphene.ID(description="Omit to create.")
        input = CreditAutomaticLimitRuleInput(required=True)

    class Meta:
        description = (
            "Create or change an automatic limit by risk class. Its lines are proposed "
            "in the adjustment journal by the risk score task; who saves the rule is "
            "their proposer (MANAGE_USERS)."
        )

    @classmethod
    def perform(cls, _root, info, input, id=None):
        require_for(info.context, "creditAutomaticLimitRuleSave")
        rule = risk.save_automatic_limit_rule(
            actor=actor_for(info.context), name=input.get("name"),
            risk_class=risk_class_by_id(input.get("risk_class_id")),
            currency=input.get("currency"), amount=input.get("amount"),
            unlimited=bool(input.get("unlimited")),
            condition_kind=input.get("condition_kind") or "",
            condition_min=input.get("condition_min"),
            condition_key=input.get("condition_key") or "", valid_days=input.get("valid_days"),
            is_active=input.get("is_active", True),
            rule_id=get_by_global_id(AutomaticLimitRule, id,
                                     type_name="CreditAutomaticLimitRule",
                                     what="Automatic limit rule").pk if id else None,
        )
        return cls(rule=rule, errors=[])


class CreditAutomaticLimitRuleDelete(BaseStoreCreditMutation):
    deleted_id = graphene.ID()

    class Arguments:
        id = graphene.ID(required=True)

    class Meta:
        description = "Delete an automatic limit rule (MANAGE_USERS)."

    @classmethod
    def perform(cls, _root, info, id):
        require_for(info.context, "creditAutomaticLimitRuleDelete")
        rule = get_by_global_id(AutomaticLimitRule, id, type_name="CreditAutomaticLimitRule",
                                what="Automatic limit rule")
        risk.delete_automatic_limit_rule(rule.pk, actor=actor_for(info.context))
        return cls(deleted_id=id, errors=[])


class CustomerManualScoreSet(BaseStoreCreditMutation):
    value = graphene.Field(CreditManualScoreValue)

    class Arguments:
        customer_id = graphene.ID(required=True)
        key = graphene.String(required=True, description="The MANUAL score type's key.")
        value = Decimal(description="Omit or null to clear.")

    class Meta:
        description = "Set a customer's value for MANUAL score types (MANAGE_USERS)."

    @classmethod
    def perform(cls, _root, info, customer_id, key, value=None):
        require_for(info.context, "customerManualScoreSet")
        row = risk.set_manual_score(actor=actor_for(info.context),
                                    user=decode_user_id(customer_id), key=key, value=value)
        return cls(value=row, errors=[])


class CreditRiskScoresUpdate(BaseStoreCreditMutation):
    run = graphene.Field(CreditRiskScoreRun)

    class Meta:
        description = (
            "Score every customer now (the daily task's work, in the background): class "
            "changes, then automatic limit proposals. Follow `run`. A second run at the "
            "same time changes nothing twice (MANAGE_USERS)."
        )

    @classmethod
    def perform(cls, _root, info):
        require_for(info.context, "creditRiskScoresUpdate")
        with transaction.atomic():
            run = risk.start_run(actor_for(info.context))
            transaction.on_commit(lambda: _enqueue(run.pk))
        run.refresh_from_db()
        return cls(run=run, errors=[])


def _enqueue(run_id: int) -> None:
    from ..tasks import update_risk_scores_task

    update_risk_scores_task.delay(run_id=run_id)


class RiskMutations(graphene.ObjectType):
    credit_scoring_group_save = CreditScoringGroupSave.Field()
    credit_scoring_group_delete = CreditScoringGroupDelete.Field()
    credit_risk_class_save = CreditRiskClassSave.Field()
    credit_risk_class_delete = CreditRiskClassDelete.Field()
    credit_automatic_limit_rule_save = CreditAutomaticLimitRuleSave.Field()
    credit_automatic_limit_rule_delete = CreditAutomaticLimitRuleDelete.Field()
    customer_manual_score_set = CustomerManualScoreSet.Field()
    credit_risk_scores_update = CreditRiskScoresUpdate.Field()
