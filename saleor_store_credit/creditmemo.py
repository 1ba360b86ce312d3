"""Credit memos: refund (part of) an order to the customer's store credit.

Never more than what was paid and not yet refunded, across all payment methods; the
order row is locked for the whole operation so concurrent memos serialize.

Each part of a memo is settled on the payment that took the money, so that Saleor's
own refund limits then hold on every path (Dashboard refund, `orderGrantRefundCreate`,
`transactionRequestAction REFUND`), even with the plugin switched off:
- the part paid with store credit goes back through the store-credit transaction
  (a granted refund on it + REFUND_SUCCESS + a `refund` ledger entry);
- the part paid by another method (a card app's transaction) gets a granted refund on
  that transaction and a REFUND_SUCCESS event written by the plugin ("Refunded to
  store credit (credit memo N)"): no money moves on the card and the payment app is
  not called, but Saleor lowers that transaction's charged amount, so the card can no
  longer be refunded for the same money. The ledger gets a `credit_memo` entry.
Lines and shipping follow Saleor's own rule for granted refunds
(graphql/order/mutations/order_grant_refund_utils.py): a line's quantity across all
granted refunds never exceeds the line, shipping is granted once.
"""

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from django.db.models import Sum

from saleor.order import OrderGrantedRefundStatus
from saleor.order.models import Order, OrderGrantedRefund, OrderGrantedRefundLine
from saleor.payment import TransactionAction, TransactionEventType
from saleor.payment.models import TransactionItem

from . import saleor_tx as tx
from .checkout.order import refund_item
from .conf import StoreCreditSettings
from .errors import InvalidAmount, NotFound, StoreCreditError, StoreCreditErrorCode
from .integration import after_balance_change
from .ledger import Actor, Refs, credit, get_or_create_account
from .ledger.idempotency import run_idempotent
from .models import CreditMemo, CreditMemoLine, EntryKind
from .money import parse_amount, quantum
from .signals import store_credit_event

GATEWAY_ID = tx.GATEWAY_ID
CREDIT_MEMO_ID = "saleor-store-credit.credit-memo"


@dataclass(frozen=True)
class MemoLine:
    order_line_id: UUID
    quantity: int


def _open_grants(transactions_or_order) -> Decimal:
    return transactions_or_order.granted_refunds.exclude(
        status=OrderGrantedRefundStatus.SUCCESS
    ).aggregate(total=Sum("amount_value"))["total"] or Decimal(0)


def refundable_amount(order) -> Decimal:
    """Paid and not yet refunded, minus refunds already granted but not settled."""
    charged = order.payment_transactions.aggregate(total=Sum("charged_value"))["total"]
    return max((charged or Decimal(0)) - _open_grants(order), Decimal(0))


def _refundable_on(item) -> Decimal:
    """What one payment can still give back: charged, less refunds requested and
    granted refunds on it that are not settled yet."""
    open_grants = OrderGrantedRefund.objects.filter(transaction_item=item).exclude(
        status=OrderGrantedRefundStatus.SUCCESS
    ).aggregate(total=Sum("amount_value"))["total"] or Decimal(0)
    return max(item.charged_value - item.refund_pending_value - open_grants, Decimal(0))


def _line_amounts(order, lines: list[MemoLine]) -> list[tuple]:
    """Saleor's rule for granted refund lines (order_grant_refund_utils.py,
    `handle_lines_with_quantity_already_refunded`): every granted refund of the order,
    whatever its status, counts against the line. Memos grant their lines too."""
    if not lines:
        return []
    by_id = {line.pk: line for line in order.lines.all()}
    granted = dict(
        OrderGrantedRefundLine.objects.filter(granted_refund__order_id=order.pk)
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
        left = order_line.quantity - granted.get(line.order_line_id, 0)
        if line.quantity <= 0 or line.quantity > left:
            raise StoreCreditError(
                f"Line {order_line.product_name}: at most {left} more can be refunded.",
                field="lines", code=StoreCreditErrorCode.INVALID,
            )
        amount = (order_line.unit_price_gross_amount * line.quantity).quantize(
            quantum(order.currency)
        )
        result.append((order_line, line.quantity, amount))
    return result


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
            # Saleor's rule (order_grant_refund_utils.py, shipping_costs_already_granted)
            if locked.granted_refunds.filter(shipping_costs_included=True).exists():
                raise StoreCreditError(
                    "Shipping was already refunded.", field="includeShipping",
                    code=StoreCreditErrorCode.INVALID,
                )
            shipping = locked.shipping_price_gross_amount.quantize(quantum(locked.currency))
        total = lines_total + shipping + extra
        if total <= 0:
            raise InvalidAmount("Choose lines, shipping or an amount to credit.")
        refundable = refundable_amount(locked)
        if total > refundable:
            raise StoreCreditError(
                f"Only {tx.fmt(refundable, locked.currency)} paid on this order can still "
                "be refunded.",
                field="amount", code=StoreCreditErrorCode.REFUND_EXCEEDS_PAID,
            )
        account = get_or_create_account(user=locked.user, currency=locked.currency)
        settle = _Settlement(locked, reason, user, app, line_parts, include_shipping)
        from_credit = settle.store_credit(total)
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
            settle.other_payments(other, memo)
        last_entry = account.entries.order_by("-pk").first()
        # The customer's e-mail follows `credit_memo_issued` (notifications).
        after_balance_change(last_entry, settings=settings, channel_slug=locked.channel.slug)
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
        tx.timeline(
            locked.pk,
            f"Credit memo: {tx.fmt(total, locked.currency)} refunded to store credit "
            f"({reason}).",
            f"store-credit-memo:{memo.pk}",
        )
        return memo

    params = {
        "order": str(order.pk), "lines": sorted((str(line.order_line_id), line.quantity) for line in lines),
        "shipping": include_shipping, "amount": str(extra), "reason": reason,
    }
    return run_idempotent(idempotency_key, "credit_memo", params, work)


class _Settlement:
    """Settles a memo's total on the order's payments, store credit first; the chosen
    lines and shipping go on the first granted refund."""

    def __init__(self, order, reason, user, app, line_parts, shipping):
        self.order, self.reason, self.user, self.app = order, reason, user, app
        self.lines, self.shipping = list(line_parts), shipping

    def _grant(self, amount, item):
        granted = _grant(self.order, amount, self.reason, item, self.user, self.app,
                         lines=self.lines, shipping=self.shipping)
        self.lines, self.shipping = [], False
        return granted

    def _payments(self, *, ours: bool):
        # Not `self.order.payment_transactions`: items fetched through it share this
        # Order instance as `item.order`, on which Saleor before 3.23 recomputes the
        # order's totals (payment/utils.py `update_order_with_transaction_details`);
        # on 3.22 the second refund of a memo then left the order's total charged
        # stale. Items fetched on their own load their order fresh.
        payments = TransactionItem.objects.filter(order_id=self.order.pk, charged_value__gt=0)
        payments = payments.filter(app_identifier=GATEWAY_ID) if ours else payments.exclude(
            app_identifier=GATEWAY_ID)
        return payments.select_for_update(of=("self",)).order_by("created_at", "pk")

    def store_credit(self, total) -> Decimal:
        """Refund up to `total` through the order's store-credit payments."""
        remaining = total
        for item in self._payments(ours=True):
            part = min(remaining, _refundable_on(item)).quantize(quantum(self.order.currency))
            if part <= 0:
                continue
            request_event = tx.request(
                item, part, TransactionAction.REFUND, user=self.user, app=self.app,
                related_granted_refund=self._grant(part, item),
            )
            if not refund_item(item, request_event):
                raise StoreCreditError(
                    "The store credit payment could not be refunded.",
                    field="amount", code=StoreCreditErrorCode.REFUND_EXCEEDS_PAID,
                )
            remaining -= part
            if remaining <= 0:
                break
        return total - remaining

    def other_payments(self, amount, memo) -> None:
        """Mark `amount` of the other payments as refunded to store credit."""
        remaining = amount
        for item in self._payments(ours=False):
            part = min(remaining, _refundable_on(item)).quantize(quantum(self.order.currency))
            if part <= 0:
                continue
            request_event = tx.request(
                item, part, TransactionAction.REFUND, user=self.user, app=self.app,
                app_identifier=CREDIT_MEMO_ID, related_granted_refund=self._grant(part, item),
            )
            # No `actions`: the payment app's own actions on its transaction stay.
            tx.answer(
                request_event, TransactionEventType.REFUND_SUCCESS, part,
                f"Refunded to store credit (credit memo {memo.pk}); no money was "
                "returned to this payment method.",
            )
            remaining -= part
            if remaining <= 0:
                return
        raise StoreCreditError(
            "The order's payments cannot cover this refund.", field="amount",
            code=StoreCreditErrorCode.REFUND_EXCEEDS_PAID,
        )
