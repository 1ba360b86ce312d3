import uuid

import pytest

from saleor.graphql.tests.fixtures import ApiClient
from saleor.plugins.models import PluginConfiguration

from saleor_store_credit.plugin import PLUGIN_ID, StoreCreditPlugin

WEBHOOK_PLUGIN = "saleor.plugins.webhook.plugin.WebhookPlugin"
PLUGIN_PATH = "saleor_store_credit.plugin.StoreCreditPlugin"
STORE_CREDIT_API = f"/plugins/global/{PLUGIN_ID}/graphql/"


@pytest.fixture
def store_credit_config():
    """Override in a test module to change the plugin's configuration."""
    return {}


@pytest.fixture
def saleor_test_plugins(request):
    """Saleor's fixture that resets `settings.PLUGINS` per test: `setup_dummy_gateways`
    up to 3.23, renamed `setup_dummy_gateway` on main (saleor/plugins/tests/fixtures/
    gateway.py, "Remove deprecated Dummy payment gateway plugins")."""
    for name in ("setup_dummy_gateway", "setup_dummy_gateways"):
        try:
            return request.getfixturevalue(name)
        except pytest.FixtureLookupError:
            continue
    raise pytest.UsageError("Saleor's setup_dummy_gateway(s) fixture not found")


@pytest.fixture
def store_credit_plugin(settings, saleor_test_plugins, store_credit_config, db):
    """Install and activate the plugin the way a merchant does (Dashboard toggle)."""
    # As in production: Saleor's WebhookPlugin first, then external plugins.
    settings.PLUGINS = [*settings.PLUGINS, WEBHOOK_PLUGIN, PLUGIN_PATH]
    configuration = [
        {"name": item["name"], "value": store_credit_config.get(item["name"], item["value"])}
        for item in StoreCreditPlugin.DEFAULT_CONFIGURATION
    ]
    return PluginConfiguration.objects.create(
        identifier=PLUGIN_ID, name=StoreCreditPlugin.PLUGIN_NAME, active=True,
        configuration=configuration,
    )


@pytest.fixture
def checkout_ready_to_complete(checkout_ready_to_complete):
    """Saleor's ready-to-complete checkout without gift cards on every version: up to
    3.22 Saleor's fixture also attaches its `gift_card` fixture (10 USD) to it
    (saleor/checkout/tests/fixtures/checkout.py), from 3.23 it does not. Tests that
    want a gift card add one."""
    checkout_ready_to_complete.gift_cards.clear()
    return checkout_ready_to_complete


@pytest.fixture
def shopper_checkout(checkout_ready_to_complete, customer_user):
    """Saleor's ready-to-complete checkout, owned by `customer_user`."""
    checkout = checkout_ready_to_complete
    checkout.user = customer_user
    checkout.email = customer_user.email
    checkout.save(update_fields=["user", "email"])
    return checkout


class StoreCreditClient(ApiClient):
    def query(self, query, variables=None):
        response = self.post_graphql(query, variables)
        assert response.status_code in (200, 400), response.content
        return response.json()


@pytest.fixture
def sc_client(store_credit_plugin):
    def make(*, user=None, app=None):
        return StoreCreditClient(user=user, app=app, api_path=STORE_CREDIT_API)

    return make


def _saleor_has_fixture(module: str, name: str) -> bool:
    import importlib

    return hasattr(importlib.import_module(module), name)


if not _saleor_has_fixture("saleor.checkout.tests.fixtures", "checkout_delivery"):

    @pytest.fixture
    def checkout_delivery():
        """Saleor's `checkout_delivery` exists from 3.23 (a checkout's delivery is a
        `CheckoutDelivery`); before, the delivery is the checkout's `shipping_method`,
        which `clone_checkout` copies with the row, so there is nothing to create."""

        def make(checkout, shipping_method=None):
            if shipping_method is not None:
                checkout.shipping_method = shipping_method
            return checkout.assigned_delivery if hasattr(checkout, "assigned_delivery") else None

        return make


def clone_checkout(checkout, checkout_delivery, user):
    """A fresh copy of a ready-to-complete checkout (same lines and addresses)."""
    from saleor.checkout.models import Checkout

    copy = Checkout.objects.get(pk=checkout.pk)
    copy.pk = None
    copy.token = uuid.uuid4()
    copy.user = user
    copy.email = user.email
    copy.shipping_address = checkout.shipping_address.get_copy()
    copy.billing_address = checkout.billing_address.get_copy()
    copy.save()
    for line in checkout.lines.all():
        line.pk = None
        line.id = None
        line.token = uuid.uuid4()
        line.checkout = copy
        line.save()
    delivery = checkout_delivery(copy)
    if hasattr(copy, "assigned_delivery"):
        copy.assigned_delivery = delivery
    copy.save()
    return copy
