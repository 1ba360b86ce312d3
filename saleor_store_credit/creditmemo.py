"""Credit memos: refund (part of) an order to the customer's store credit.

Never more than what was paid and not yet refunded, across all payment methods; the
order row is locked for the whole operation so concurrent memos serialize.

- The part paid with store credit goes back through the store-credit transaction
  (a granted refund on it + REFUND_SUCCESS + a `refund` ledger entry).
- The part paid by other methods is settled by a granted refund pointing at a
  plugin-owned "credit memo" transaction, whose REFUND_SUCCESS lowers the order's
  charged total; Saleor then shows the order as refunded by that amount
  (`totalRefunded`, `chargeStatus`, `grantedRefunds[].status = SUCCESS`), and the
  ledger gets a `credit_memo` entry.
"""

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from django.db.models import Sum

from saleor.graphql.payment.mutations.transaction.utils import (
    create_transaction_event_requested,
)
from saleor.order import OrderGrantedRefundStatus
from saleor.order.models import Order, OrderGrantedRefund, OrderGrantedRefundLine
from saleor.payment import TransactionAction, TransactionEventType
from saleor.payment.models import TransactionItem
from saleor.payment.utils import (
    create_transaction_event_from_request_and_webhook_response,
    get_transaction_item_params,
)

from .conf import StoreCreditSettings
from .errors import InvalidAmount, NotFound, StoreCreditError, StoreCreditErrorCode
from .integration import NOTIFY_CREDIT_MEMO, after_balance_change
from .ledger import Actor, Refs, credit, get_or_create_account
from .ledger.idempotency import run_idempotent
from .models import CreditMemo, CreditMemoLine, EntryKind
from .money import parse_amount, quantum
from .signals import store_credit_event
from .payments import GATEWAY_ID, _fmt, _response, _timeline, refund_item

CREDIT_MEMO_ID = "saleor-store-credit.credit-memo"
CREDIT_MEMO_NAME = "Store credit (credit memo)"


@dataclass(frozen=True)
class MemoLine:
    order_line_id: UUID
    quantity: int


def refundable_amount(order) -> Decimal:
    """Paid and not yet refunded, minus refunds already granted but not settled."""
    charged = order.payment_transactions.aggregate(total=Sum("charged_value"))["total"]
    open_grants = order.granted_refunds.exclude(
        status=OrderGrantedRefundStatus.SUCCESS
    ).aggregate(total=Sum("amount_value"))["total"]
    return max((charged or Decimal(0)) - (open_grants or Decimal(0)), Decimal(0))


def _line_amounts(order, lines: list[MemoLine]) -> list[tuple]:
    if not lines:
        return []
    by_id = {line.pk: line for line in order.lines.all()}
    credited = dict(
        CreditMemoLine.objects.filter(
            order_line_id__in=[line.order_line_id for line in lines]
        )
        .values_list("order_line_id")
        .annotate(total=Sum("quantity"))
    )
    result, seen = [], set()
    for line in lines:
        order_line = by_id.get(line.order_line_id)
        if order_line is None or line.order_line_id in seen:
            raise StoreCreditError(
                "Unknown or repeated order line.", field="lines",
                code=StoreCreditErrorCode.INVALID,
            )
        seen.add(line.order_line_id)
        left = order_line.quantity - credited.get(line.order_line_id, 0)
        if line.quantity <= 0 or line.quantity > left:
            raise StoreCreditError(
                f"Line {order_line.product_name}: at most {left} more can be credited.",
                field="lines", code=StoreCreditErrorCode.INVALID,
            )
        amount = (order_line.unit_price_gross_amount * line.quantity).quantize(
            quantum(order.currency)
        )
        result.append((order_line, line.quantity, amount))
    return result


def _memo_transaction(order, user, app) -> TransactionItem:
    params = get_transaction_item_params(
        order, user, app, None, available_actions=[], name=CREDIT_MEMO_NAME
    )
    params["app_identifier"] = CREDIT_MEMO_ID
    return TransactionItem.objects.create(
        **params, payment_method_type="other", payment_method_name="Store credit"
    )


def _grant(order, amount, reason, item, user, app, *, lines=(), shipping=False):
    granted = OrderGrantedRefund.objects.create(
        order=order, amount_value=amount, currency=order.currency, reason=reason,
        user=user, app=app, transaction_item=item, shipping_costs_included=shipping,
    )
    OrderGrantedRefundLine.objects.bulk_create(
        [
            OrderGrantedRefundLine(
                granted_refund=granted, order_line=order_line, quantity=quantity,
                reason=reason,
            )
            for order_line, quantity, _amount in lines
        ]
    )
    return granted


def create_credit_memo(
    *,
    order_id,
    actor: Actor,
    settings: StoreCreditSettings,
    reason: str,
    lines: list[MemoLine] = (),
    include_shipping: bool = False,
    amount=None,
    user=None,
    app=None,
    idempotency_key: str | None = None,
) -> CreditMemo:
    if not isinstance(reason, str) or not reason.strip():
        raise StoreCreditError("A reason is required.", field="reason", code="required")
    reason = reason.strip()
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        raise NotFound("Order not found.", field="orderId")
    if order.user_id is None:
        raise StoreCreditError(
            "This order was placed as a guest and has no customer account to credit. "
            "Refund it to the original payment method instead.",
            field="orderId", code=StoreCreditErrorCode.GUEST_ORDER,
        )
    extra = Decimal(0) if amount in (None, "") else parse_amount(amount, order.currency)

    def work():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        line_parts = _line_amounts(locked, list(lines))
        lines_total = sum((part[2] for part in line_parts), Decimal(0))
        shipping = Decimal(0)
        if include_shipping:
            if CreditMemo.objects.filter(order_id=locked.pk, shipping_amount__gt=0).exists():
                raise StoreCreditError(
                    "Shipping was already credited.", field="includeShipping",
                    code=StoreCreditErrorCode.INVALID,
                )
            shipping = locked.shipping_price_gross_amount.quantize(quantum(locked.currency))
        total = lines_total + shipping + extra
        if total <= 0:
            raise InvalidAmount("Choose lines, shipping or an amount to credit.")
        refundable = refundable_amount(locked)
        if total > refundable:
            raise StoreCreditError(
                f"Only {_fmt(refundable, locked.currency)} paid on this order can still "
                "be refunded.",
                field="amount", code=StoreCreditErrorCode.REFUND_EXCEEDS_PAID,
            )
        account = get_or_create_account(user=locked.user, currency=locked.currency)
        from_credit = _refund_store_credit_part(
            locked, total, reason, user, app, line_parts, include_shipping
        )
        other = total - from_credit
        memo = CreditMemo.objects.create(
            order_id=locked.pk, account=account, amount=total,
            lines_amount=lines_total, shipping_amount=shipping, extra_amount=extra,
            from_store_credit=from_credit, from_other_methods=other, reason=reason,
            **actor.entry_fields(),
        )
        CreditMemoLine.objects.bulk_create(
            [
                CreditMemoLine(memo=memo, order_line_id=line.pk, quantity=qty, amount=amt)
                for line, qty, amt in line_parts
            ]
        )
        if other > 0:
            credit(
                account=account, amount=other, kind=EntryKind.CREDIT_MEMO, actor=actor,
                reason=reason, refs=Refs(order_id=locked.pk, reference=f"credit-memo:{memo.pk}"),
                expires_in_days=settings.credit_expiry_days,
            )
            _settle_other_part(
                locked, other, reason, user, app,
                line_parts if from_credit == 0 else (),
                include_shipping and from_credit == 0,
            )
        last_entry = account.entries.order_by("-pk").first()
        after_balance_change(
            last_entry, settings=settings, notify=True, event=NOTIFY_CREDIT_MEMO,
            channel_slug=locked.channel.slug,
        )
        store_credit_event.send(
            sender=CreditMemo, event="credit_memo_issued", currency=locked.currency,
            data={
                "credit_memo_id": memo.pk, "order_id": str(locked.pk),
                "order_number": locked.number, "customer_user_id": locked.user_id,
                "currency": locked.currency, "amount": str(total),
                "from_store_credit": str(from_credit), "from_other_methods": str(other),
                "lines": [
                    {"order_line_id": str(line.pk), "quantity": qty, "amount": str(amt)}
                    for line, qty, amt in line_parts
                ],
                "shipping": str(shipping), "reason": reason,
            },
        )
        _timeline(
            locked.pk,
            f"Credit memo: {_fmt(total, locked.currency)} refunded to store credit "
            f"({reason}).",
            f"store-credit-memo:{memo.pk}",
        )
        return memo

    params = {
        "order": str(order.pk), "lines": sorted((str(line.order_line_id), line.quantity) for line in lines),
        "shipping": include_shipping, "amount": str(extra), "reason": reason,
    }
    return run_idempotent(idempotency_key, "credit_memo", params, work)


def _refund_store_credit_part(order, total, reason, user, app, line_parts, shipping) -> Decimal:
    """Refund up to `total` through the order's store-credit payments."""
    remaining = total
    for item in order.payment_transactions.filter(
        app_identifier=GATEWAY_ID, charged_value__gt=0
    ).order_by("created_at"):
        if remaining <= 0:
            break
        part = min(remaining, item.charged_value).quantize(quantum(order.currency))
        granted = _grant(
            order, part, reason, item, user, app,
            lines=line_parts if remaining == total else (),
            shipping=shipping and remaining == total,
        )
        request_event = create_transaction_event_requested(
            item, part, TransactionAction.REFUND, user=user, app=app,
            app_identifier=GATEWAY_ID, related_granted_refund=granted,
        )
        if not refund_item(item, request_event):
            raise StoreCreditError(
                "The store credit payment could not be refunded.",
                field="amount", code=StoreCreditErrorCode.REFUND_EXCEEDS_PAID,
            )
        remaining -= part
    return total - remaining


def _settle_other_part(order, amount, reason, user, app, line_parts, shipping) -> None:
    item = _memo_transaction(order, user, app)
    granted = _grant(order, amount, reason, item, user, app, lines=line_parts, shipping=shipping)
    request_event = create_transaction_event_requested(
        item, amount, TransactionAction.REFUND, user=user, app=app,
        app_identifier=CREDIT_MEMO_ID, related_granted_refund=granted,
    )
    create_transaction_event_from_request_and_webhook_response(
        request_event,
        None,
        transaction_webhook_response=_response(
            TransactionEventType.REFUND_SUCCESS, amount,
            "Refunded to the customer's store credit.", actions=[],
        ),
    )
