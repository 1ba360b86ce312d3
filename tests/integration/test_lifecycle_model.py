"""Issue 14, the proof: a Hypothesis state machine drives real Saleor through what a
shopper, staff, a payment app and the scheduler can do to a checkout and its order
when store credit pays part of it, and checks the money invariants after every step
(`support.assert_money_consistent`: Saleor's view of each store-credit transaction
equals the ledger's; nothing overcharged; nothing refunded beyond what was paid).

Every example runs in a savepoint that is rolled back afterwards, so examples are
independent and cheap. `make test` runs a few examples; `make fuzz` runs it deep:
    SC_MODEL_EXAMPLES=300 SC_MODEL_STEPS=40 (see the Makefile).
Everything goes through Saleor's and the plugin's GraphQL APIs, except the clock:
the periodic tasks (hold sweeper, credit expiry) are called with the model's time.
"""

import os
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)
pytest.importorskip("hypothesis")

from django.db import transaction  # noqa: E402
from django.db.models import F  # noqa: E402
from django.utils import timezone  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import (  # noqa: E402
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from saleor.graphql.tests.fixtures import ApiClient  # noqa: E402
from saleor.order.models import Order  # noqa: E402
from saleor.payment.models import TransactionItem  # noqa: E402

from saleor_store_credit.checkout.sweeper import release_abandoned_holds  # noqa: E402
from saleor_store_credit.ledger import Actor, credit, get_or_create_account  # noqa: E402
from saleor_store_credit.ledger.services import expire_credit  # noqa: E402
from saleor_store_credit.models import Account, Hold, HoldStatus  # noqa: E402

from .fixtures import STORE_CREDIT_API, StoreCreditClient, clone_checkout  # noqa: E402
from .support import (  # noqa: E402
    ADD_PROMO_CODE,
    CREDIT_MEMO,
    GATEWAY_ID,
    GRANT_REFUND,
    LINES_UPDATE,
    ORDER_CANCEL,
    ORDER_CONFIRM,
    ORDER_LINE_UPDATE,
    REFUND_GRANTED,
    REQUEST_ACTION,
    TRANSACTION_CREATE,
    TRANSACTION_CREATE_CHARGED,
    assert_money_consistent,
    gid,
    payment_app_client,
)
from .test_checkout import APPLY, COMPLETE, REMOVE, grant  # noqa: E402

EXAMPLES = int(os.environ.get("SC_MODEL_EXAMPLES", "8"))
STEPS = int(os.environ.get("SC_MODEL_STEPS", "14"))

CHECKOUT_VIEW = """
query ($id: ID) { checkout(id: $id) { totalPrice { gross { amount } }
  transactions { authorizedAmount { amount } chargedAmount { amount } } } }
"""
PLUGIN_UPDATE = """
mutation ($active: Boolean!) { pluginUpdate(id: "saleor-store-credit", input: {active: $active}) {
  errors { field code message } } }
"""
ADJUST = """
mutation ($id: ID!, $amount: Decimal!) {
  storeCreditAdjust(customerId: $id, amount: $amount, currency: "USD", reason: "model") {
    errors { field code message } } }
"""

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("150"), places=2)
fractions = st.sampled_from([Decimal("1"), Decimal("0.5"), Decimal("0.3")])
maybe_amount = st.none() | amounts

COVERAGE: Counter = Counter()


def _ok(response):
    """Whatever the step, Saleor answers without a server error; refusals are fine."""
    assert response.status_code in (200, 400), response.content[:500]
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture
def lifecycle(store_credit_plugin, shopper_checkout, checkout_delivery, customer_user,
              staff_api_client, voucher, permission_manage_orders,
              permission_manage_payments, permission_manage_plugins,
              permission_manage_users):
    grant(staff_api_client.user, permission_manage_orders, permission_manage_payments,
          permission_manage_plugins, permission_manage_users)
    card_app = payment_app_client(permission_manage_payments)
    staff = staff_api_client.user
    channel = shopper_checkout.channel
    code = voucher.codes.first().code

    class Lifecycle(RuleBasedStateMachine):
        """One checkout, its order, the customer's balance and the scheduler."""

        def __init__(self):
            super().__init__()
            self.savepoint = transaction.atomic()
            self.savepoint.__enter__()
            self.clock = timezone.now()
            self.order = None
            self.voucher_used = False
            self.plugin_active = True
            # fresh JWTs per example: a deep run outlives Saleor's access-token lifetime
            self.shopper = ApiClient(user=customer_user)
            self.staff = ApiClient(user=staff)
            self.shopper_sc = StoreCreditClient(user=customer_user, api_path=STORE_CREDIT_API)
            self.staff_sc = StoreCreditClient(user=staff, api_path=STORE_CREDIT_API)

        def teardown(self):
            transaction.set_rollback(True)
            self.savepoint.__exit__(None, None, None)

        def step(self, name):
            COVERAGE[name] += 1

        # --- setting the scene -----------------------------------------------
        @initialize(auto_confirm=st.booleans(), balance=amounts,
                    expiring=st.none() | amounts, quantity=st.integers(1, 4),
                    apply_at_once=st.booleans())
        def begin(self, auto_confirm, balance, expiring, quantity, apply_at_once):
            channel.automatically_confirm_all_new_orders = auto_confirm
            channel.save(update_fields=["automatically_confirm_all_new_orders"])
            account = get_or_create_account(user=customer_user, currency="USD")
            credit(account=account, amount=balance, kind="adjustment", actor=Actor.system())
            if expiring is not None:
                credit(account=account, amount=expiring, kind="adjustment",
                       actor=Actor.system(), expires_at=self.clock + timedelta(days=2))
            self.checkout = clone_checkout(shopper_checkout, checkout_delivery, customer_user)
            self.checkout_gid = gid("Checkout", self.checkout.pk)
            self._quantity(quantity)
            if apply_at_once:  # most shoppers apply credit before anything else
                self.apply_credit(None)

        def _quantity(self, quantity):
            line = self.checkout.lines.first()
            if line is None:
                return
            _ok(self.shopper.post_graphql(LINES_UPDATE, {
                "id": self.checkout_gid,
                "lines": [{"lineId": gid("CheckoutLine", line.pk), "quantity": quantity}],
            }))

        def _left_to_pay(self) -> Decimal:
            view = _ok(card_app.post_graphql(  # reading transactions needs HANDLE_PAYMENTS
                CHECKOUT_VIEW, {"id": self.checkout_gid}))["checkout"]
            if view is None:
                return Decimal(0)
            paid = sum((Decimal(str(t["authorizedAmount"]["amount"]))
                        + Decimal(str(t["chargedAmount"]["amount"]))
                        for t in view["transactions"]), Decimal(0))
            return Decimal(str(view["totalPrice"]["gross"]["amount"])) - paid

        # --- the shopper, before the order exists ----------------------------
        @precondition(lambda self: self.order is None)
        @rule(quantity=st.integers(0, 5))
        def change_quantity(self, quantity):
            self.step("cart: quantity")
            self._quantity(quantity)

        @precondition(lambda self: self.order is None and not self.voucher_used)
        @rule()
        def add_voucher(self):
            self.step("cart: voucher")
            self.voucher_used = True
            _ok(self.shopper.post_graphql(ADD_PROMO_CODE, {
                "id": self.checkout_gid, "code": code}))

        @precondition(lambda self: self.order is None and self.plugin_active)
        @rule(amount=maybe_amount)
        def apply_credit(self, amount):
            self.step("credit: apply" if amount is None else "credit: apply amount")
            variables = {"id": self.checkout_gid}
            if amount is not None:
                variables["amount"] = str(amount)
            self.shopper_sc.query(APPLY, variables)

        @precondition(lambda self: self.order is None and self.plugin_active)
        @rule()
        def remove_credit(self):
            self.step("credit: remove")
            self.shopper_sc.query(REMOVE, {"id": self.checkout_gid})

        @precondition(lambda self: self.order is None)
        @rule(charged=st.booleans(), fraction=fractions)
        def pay_rest_with_card(self, charged, fraction):
            left = (self._left_to_pay() * fraction).quantize(Decimal("0.01"))
            if left <= 0:
                return
            self.step("card: " + ("charged" if charged else "authorized"))
            _ok(card_app.post_graphql(
                TRANSACTION_CREATE_CHARGED if charged else TRANSACTION_CREATE,
                {"id": self.checkout_gid, "amount": str(left), "psp": "card"}))

        @precondition(lambda self: self.order is None)
        @rule(charged=st.booleans())
        def pay_rest_and_complete(self, charged):
            """The usual storefront ending, so most examples go on to an order."""
            self.pay_rest_with_card(charged, Decimal(1))
            self.complete()

        @precondition(lambda self: self.order is None)
        @rule()
        def complete(self):
            result = _ok(self.shopper.post_graphql(
                COMPLETE, {"id": self.checkout_gid}))["checkoutComplete"]
            if result["order"]:
                self.step("checkout: completed")
                self.order = Order.objects.get(checkout_token=str(self.checkout.pk))
            else:
                self.step("checkout: refused")
                if os.environ.get("SC_MODEL_DEBUG"):
                    print("refused:", result["errors"], self._left_to_pay())

        # --- staff and apps, on the order -------------------------------------
        def _order_is(self, *statuses):
            if self.order is None:
                return False
            self.order.refresh_from_db()
            return self.order.status in statuses

        @precondition(lambda self: self.order is not None)
        @rule()
        def confirm(self):
            if self._order_is("unconfirmed"):
                self.step("order: confirm")
                _ok(self.staff.post_graphql(
                    ORDER_CONFIRM, {"id": gid("Order", self.order.pk)}))

        @precondition(lambda self: self.order is not None)
        @rule(quantity=st.integers(1, 3))
        def staff_edits_line(self, quantity):
            if self._order_is("unconfirmed"):
                line = self.order.lines.first()
                self.step("order: edit line")
                _ok(self.staff.post_graphql(ORDER_LINE_UPDATE, {
                    "id": gid("OrderLine", line.pk), "quantity": quantity}))

        def _items(self):
            return list(TransactionItem.objects.filter(order_id=self.order.pk).order_by("pk"))

        # Two rules, not one with `ours`: Hypothesis picks among rules evenly, so
        # actions on the store-credit transaction come up as often as any other step.
        @precondition(lambda self: self.order is not None)
        @rule(action=st.sampled_from(["CHARGE", "CANCEL", "REFUND"]), amount=maybe_amount)
        def action_on_store_credit(self, action, amount):
            self.request_action(True, action, amount)

        @precondition(lambda self: self.order is not None)
        @rule(action=st.sampled_from(["CHARGE", "CANCEL", "REFUND"]), amount=maybe_amount)
        def action_on_card(self, action, amount):
            self.request_action(False, action, amount)

        def request_action(self, ours, action, amount):
            items = [i for i in self._items() if (i.app_identifier == GATEWAY_ID) == ours]
            if not items:
                return
            self.step(f"action: {action} {'credit' if ours else 'card'}"
                      f"{'' if amount is None else ' partial'}")
            variables = {"id": gid("TransactionItem", items[0].token), "type": action}
            if amount is not None:
                variables["amount"] = str(amount)
            _ok(self.staff.post_graphql(REQUEST_ACTION, variables))

        @precondition(lambda self: self.order is not None)
        @rule(ours=st.booleans(), kind=st.sampled_from(["amount", "line", "shipping"]),
              amount=amounts, then_refund=st.booleans())
        def grant_refund(self, ours, kind, amount, then_refund):
            items = [i for i in self._items() if (i.app_identifier == GATEWAY_ID) == ours]
            if not items:
                return
            self.step(f"grant: {kind}{' + refund' if then_refund else ''}")
            order_input = {"transactionId": gid("TransactionItem", items[0].token),
                           "reason": "model"}
            if kind == "amount":
                order_input["amount"] = str(amount)
            elif kind == "line":
                line = self.order.lines.first()
                order_input["lines"] = [{"id": gid("OrderLine", line.pk), "quantity": 1}]
            else:
                order_input["grantRefundForShipping"] = True
            granted = _ok(self.staff.post_graphql(GRANT_REFUND, {
                "id": gid("Order", self.order.pk), "input": order_input,
            }))["orderGrantRefundCreate"]["grantedRefund"]
            if granted and then_refund:
                _ok(self.staff.post_graphql(REFUND_GRANTED, {
                    "id": gid("TransactionItem", items[0].token), "g": granted["id"]}))

        @precondition(lambda self: self.order is not None and self.plugin_active)
        @rule(kind=st.sampled_from(["amount", "line", "shipping"]), amount=amounts)
        def credit_memo(self, kind, amount):
            self.step(f"memo: {kind}")
            memo_input = {"reason": "model"}
            if kind == "amount":
                memo_input["amount"] = str(amount)
            elif kind == "line":
                line = self.order.lines.first()
                memo_input["lines"] = [{"lineId": gid("OrderLine", line.pk), "quantity": 1}]
            else:
                memo_input["includeShipping"] = True
            self.staff_sc.query(CREDIT_MEMO, {"order": gid("Order", self.order.pk),
                                         "input": memo_input})

        @precondition(lambda self: self.order is not None)
        @rule()
        def cancel_order(self):
            self.step("order: cancel")
            _ok(self.staff.post_graphql(ORDER_CANCEL, {"id": gid("Order", self.order.pk)}))

        # --- staff on the balance, the scheduler, the merchant ----------------
        @precondition(lambda self: self.plugin_active)
        @rule(amount=amounts, deduct=st.booleans())
        def staff_adjustment(self, amount, deduct):
            self.step("staff: " + ("deduct" if deduct else "add"))
            self.staff_sc.query(ADJUST, {"id": gid("User", customer_user.pk),
                                    "amount": str(-amount if deduct else amount)})

        @rule(minutes=st.sampled_from([5, 90, 60 * 24 * 3]))
        def scheduler(self, minutes):
            self.step("scheduler: sweep + expiry")
            self.clock += timedelta(minutes=minutes)
            expire_credit(now=self.clock)
            release_abandoned_holds(now=self.clock)
            # after a sweep no hold outlives its lifetime unless its order waits
            for hold in Hold.objects.filter(status=HoldStatus.ACTIVE):
                item = TransactionItem.objects.filter(token=hold.transaction_id).first()
                waits = item is not None and item.order_id is not None and Order.objects.get(
                    pk=item.order_id).status in ("unconfirmed", "draft")
                assert waits or (hold.expires_at and hold.expires_at > self.clock), hold.pk

        @rule()
        def toggle_plugin(self):
            self.plugin_active = not self.plugin_active
            self.step("plugin: " + ("on" if self.plugin_active else "off"))
            _ok(self.staff.post_graphql(PLUGIN_UPDATE, {"active": self.plugin_active}))

        @invariant()
        def money_is_consistent(self):
            assert_money_consistent()
            assert not Account.objects.filter(held__gt=F("balance")).exists(), (
                "more held than the balance")

    return Lifecycle


def test_money_stays_right_whatever_happens(lifecycle):
    COVERAGE.clear()
    run_state_machine_as_test(lifecycle, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
        suppress_health_check=list(HealthCheck), database=None,
        report_multiple_bugs=True,
    ))
    print("\nlifecycle model coverage (steps per kind):")
    for name, count in sorted(COVERAGE.items()):
        print(f"  {name:32} {count}")
    # the model must reach orders, or the order rules above checked nothing
    assert COVERAGE["checkout: completed"] > 0 or EXAMPLES < 3, COVERAGE
