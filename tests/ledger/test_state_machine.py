"""Hypothesis drives random sequences of ledger operations against an in-memory
model and checks the database agrees with it, and `ledger_verify()` stays clean,
after every step."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from saleor_store_credit.errors import (
    HoldAmountExceeded,
    InsufficientFunds,
)
from saleor_store_credit.ledger import (
    Actor,
    adjust,
    capture_hold,
    credit,
    debit,
    expire_credit,
    expire_holds,
    get_or_create_account,
    ledger_verify,
    place_hold,
    release_hold,
)
from saleor_store_credit.models import Account, CreditLot, Hold, HoldStatus

amounts = st.decimals(
    min_value=Decimal("0.01"), max_value=Decimal("500"), places=2
)
ACTOR = Actor.system("model")


class LedgerMachine(RuleBasedStateMachine):
    holds = Bundle("holds")

    @initialize()
    def open_account(self):
        user = get_user_model().objects.create(username=f"sm-{id(self)}-{timezone.now()}")
        self.account = get_or_create_account(user=user, currency="USD")
        self.balance = Decimal("0")
        self.active: dict[int, tuple[Decimal, bool]] = {}  # hold -> (amount, expired?)
        self.lots: list[list] = []  # [expires_at, remaining]

    @property
    def held(self):
        return sum((amount for amount, _ in self.active.values()), Decimal("0"))

    @rule(amount=amounts)
    def do_credit(self, amount):
        credit(account=self.account, amount=amount, kind="adjustment", actor=ACTOR)
        self.balance += amount

    @rule(amount=amounts)
    def do_debit(self, amount):
        if amount > self.balance - self.held:
            with pytest.raises(InsufficientFunds):
                debit(account=self.account, amount=amount, kind="payment", actor=ACTOR)
        else:
            debit(account=self.account, amount=amount, kind="payment", actor=ACTOR)
            self._spend(amount)

    @rule(amount=amounts, negative=st.booleans())
    def do_adjust(self, amount, negative):
        signed = -amount if negative else amount
        if negative and amount > self.balance - self.held:
            with pytest.raises(InsufficientFunds):
                adjust(account=self.account, amount=signed, reason="sm", actor=ACTOR)
        else:
            adjust(account=self.account, amount=signed, reason="sm", actor=ACTOR)
            if negative:
                self._spend(amount)
            else:
                self.balance += signed

    @rule(target=holds, amount=amounts, already_expired=st.booleans())
    def do_hold(self, amount, already_expired):
        expires_at = timezone.now() + (
            timedelta(days=-1) if already_expired else timedelta(days=1)
        )
        if amount > self.balance - self.held:
            with pytest.raises(InsufficientFunds):
                place_hold(
                    account=self.account, amount=amount, actor=ACTOR,
                    expires_at=expires_at,
                )
            return None
        hold = place_hold(
            account=self.account, amount=amount, actor=ACTOR, expires_at=expires_at
        )
        self.active[hold.pk] = (amount, already_expired)
        return hold.pk

    @rule(hold_id=consumes(holds), fraction=st.sampled_from(["1", "0.5", "1.01"]))
    def do_capture(self, hold_id, fraction):
        if hold_id is None or hold_id not in self.active:
            return
        amount, _ = self.active[hold_id]
        wanted = (amount * Decimal(fraction)).quantize(Decimal("0.01"))
        if wanted > amount:
            with pytest.raises(HoldAmountExceeded):
                capture_hold(hold=hold_id, amount=wanted, actor=ACTOR)
            return
        if wanted <= 0:
            return
        capture_hold(hold=hold_id, amount=wanted, actor=ACTOR)
        del self.active[hold_id]
        self._spend(wanted)

    @rule(hold_id=consumes(holds))
    def do_release(self, hold_id):
        if hold_id is None or hold_id not in self.active:
            return
        release_hold(hold=hold_id, actor=ACTOR)
        del self.active[hold_id]

    @rule()
    def do_expire(self):
        expire_holds(now=timezone.now())
        for hold_id, (_amount, expired) in list(self.active.items()):
            if expired:
                del self.active[hold_id]

    @rule(amount=amounts, days=st.sampled_from([-1, 1, 2, 3]))
    def do_credit_expiring(self, amount, days):
        expires_at = timezone.now() + timedelta(days=days)
        credit(account=self.account, amount=amount, kind="gift_card", actor=ACTOR,
               expires_at=expires_at)
        self.balance += amount
        self.lots.append([expires_at, amount])

    @rule()
    def do_expire_credit(self):
        now = timezone.now()
        expire_credit(now=now)
        due = sum((r for e, r in self.lots if e <= now), Decimal("0"))
        # holds reserve the soonest-expiring credit: only what they leave expires
        amount = min(due - self.held, self.balance - self.held)
        if amount > 0:
            self._spend(amount)

    def _spend(self, amount):
        """The model of lot consumption: soonest expiry first."""
        self.balance -= amount
        for lot in sorted(self.lots, key=lambda item: item[0]):
            take = min(lot[1], amount)
            lot[1] -= take
            amount -= take

    @invariant()
    def database_matches_model(self):
        if not hasattr(self, "account"):
            return
        account = Account.objects.get(pk=self.account.pk)
        assert account.balance == self.balance
        assert account.held == self.held
        assert account.expiring == sum((r for _e, r in self.lots), Decimal("0"))
        stored = sorted(
            CreditLot.objects.filter(account=account).values_list("remaining", flat=True)
        )
        assert stored == sorted(r for _e, r in self.lots)
        assert account.available >= 0
        live = set(
            Hold.objects.filter(
                account=account, status=HoldStatus.ACTIVE
            ).values_list("pk", flat=True)
        )
        assert live == set(self.active)

    @invariant()
    def ledger_verifies(self):
        report = ledger_verify()
        assert report.ok, report.summary()


@pytest.mark.django_db
def test_ledger_matches_the_model_under_random_operations():
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            database=None,
        ),
    )
