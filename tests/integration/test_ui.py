"""The companion App manifest and the static staff/storefront pages the plugin serves."""

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from saleor.app.manifest_validations import clean_manifest_data  # noqa: E402

from saleor_store_credit.ui import EXTENSIONS, widget_extensions  # noqa: E402

from .fixtures import STORE_CREDIT_API  # noqa: E402

BASE = STORE_CREDIT_API.removesuffix("graphql/")


def test_manifest_passes_saleors_own_validation(store_credit_plugin, client, settings):
    settings.PUBLIC_URL = None  # then the request's host
    response = client.get(BASE + "app/manifest")
    manifest = response.json()

    clean_manifest_data(manifest)  # raises ValidationError on anything Saleor refuses

    assert manifest["appUrl"] == f"http://testserver{BASE}dashboard"
    mounts = {(e["mount"], e["url"]) for e in manifest["extensions"]}
    assert ("customer_details_more_actions", "/customer") in mounts
    assert ("order_details_more_actions", "/order") in mounts
    assert ("navigation_orders", "/holds") in mounts
    assert len(manifest["extensions"]) == len(EXTENSIONS) + len(widget_extensions())


def test_manifest_uses_saleors_public_url(store_credit_plugin, client, settings):
    settings.PUBLIC_URL = "https://shop.example.com"
    manifest = client.get(BASE + "app/manifest").json()
    assert manifest["tokenTargetUrl"] == f"https://shop.example.com{BASE}app/register"


def test_token_registration_accepts_saleors_post_only(store_credit_plugin, client):
    url = BASE + "app/register"
    assert client.post(url, {"auth_token": "t"}, content_type="application/json").json() == {
        "success": True
    }
    assert client.get(url).status_code == 405


@pytest.mark.parametrize(
    "path, content_type",
    [
        ("dashboard/", "text/html"),
        ("dashboard/customer", "text/html"),
        ("dashboard/holds", "text/html"),
        ("dashboard/app.js", "text/javascript"),
        ("dashboard/style.css", "text/css"),
        ("storefront/", "text/html"),
        ("storefront/storefront.js", "text/javascript"),
        ("storefront/messages.js", "text/javascript"),
    ],
)
def test_static_pages_are_served(store_credit_plugin, client, path, content_type):
    response = client.get(BASE + path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)


@pytest.mark.parametrize(
    "path", ["dashboard/../plugin.py", "dashboard/x.py", "dashboard/missing.js", "nowhere/"]
)
def test_nothing_else_is_served(store_credit_plugin, client, path):
    assert client.get(BASE + path).status_code == 404


def test_dashboard_redirects_to_the_trailing_slash(store_credit_plugin, client):
    response = client.get(BASE + "dashboard")
    assert response.status_code == 301 and response["Location"].endswith("/dashboard/")


def test_the_published_schema_file_is_current():
    """docs/schema.graphql (the SDL the UI pages are written against) matches the API."""
    from pathlib import Path

    from saleor_store_credit.graphql.schema import schema

    published = Path(__file__).resolve().parents[2] / "docs" / "schema.graphql"
    assert published.read_text() == str(schema) + "\n", (
        "regenerate docs/schema.graphql from saleor_store_credit.graphql.schema"
    )


def test_manifest_carries_what_the_dashboard_3_23_shows(store_credit_plugin, client, settings):
    # Saleor's manifest schema (saleor/app/manifest_schema.py) reads `author` and
    # `dataPrivacyUrl`; a `dataPrivacy` key is ignored
    settings.PUBLIC_URL = None
    manifest = client.get(BASE + "app/manifest").json()

    cleaned = dict(manifest)
    clean_manifest_data(cleaned)  # Saleor's own validation (cleans in place)

    assert manifest["author"] and cleaned["author"] == manifest["author"]
    assert "dataPrivacy" not in manifest
    about = f"http://testserver{BASE}dashboard/about.html"
    assert manifest["dataPrivacyUrl"] == about + "#data"
    assert manifest["homepageUrl"] == manifest["supportUrl"] == about


def test_the_about_page_works_outside_the_dashboards_iframe(store_credit_plugin, client):
    # the home, support and data privacy links open in a plain browser tab: a page of
    # its own, without the AppBridge script the extension pages need
    response = client.get(BASE + "dashboard/about.html")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="data"' in page and "app.js" not in page


def test_the_dashboard_redirect_keeps_the_query_string(store_credit_plugin, client):
    # the Dashboard opens the App's home with ?domain=…&saleorApiUrl=…&id=…
    response = client.get(BASE + "dashboard", {"domain": "shop.example.com", "id": "QXBwOjE="})

    assert response.status_code == 301
    assert response["Location"].endswith(
        "/dashboard/?domain=shop.example.com&id=QXBwOjE%3D")


def test_every_graphql_document_of_the_staff_pages_is_valid_against_the_api(tmp_path):
    """The Dashboard pages' queries and mutations (app.js `Q` and `M`) validate
    against the plugin's schema: a renamed field or argument fails here, not in the
    merchant's browser. Needs node to evaluate app.js; skipped without it."""
    import json
    import shutil
    import subprocess
    from pathlib import Path

    from graphql import parse, validate

    from saleor_store_credit.graphql.schema import schema

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    source = (Path(__file__).resolve().parents[2] / "saleor_store_credit" / "static" /
              "dashboard" / "app.js").read_text()
    marker = "  const payoutMutation ="
    assert marker in source
    script = tmp_path / "docs.js"
    script.write_text(
        "globalThis.window = { addEventListener() {}, parent: { postMessage() {} } };\n"
        "globalThis.document = { addEventListener() {}, getElementById() { return {}; } };\n"
        "globalThis.location = { href: 'http://x/d/', search: '', origin: 'http://x', "
        "pathname: '/' };\n"
        + source.replace(marker, "  globalThis.__docs = { Q, M };\n" + marker, 1)
        + "\nconst out = {};\n"
        "for (const [k, v] of Object.entries(globalThis.__docs.Q)) out['Q.' + k] = v;\n"
        "for (const [k, v] of Object.entries(globalThis.__docs.M)) out['M.' + k] = v;\n"
        "process.stdout.write(JSON.stringify(out));\n"
    )
    documents = json.loads(subprocess.run([node, str(script)], check=True, capture_output=True,
                                          text=True, timeout=60).stdout)
    saleors_own = {"Q.order"}  # asked of Saleor's /graphql/

    invalid = {name: [e.message for e in validate(schema, parse(text))]
               for name, text in documents.items() if name not in saleors_own}

    assert len(documents) > 30
    assert {name: errors for name, errors in invalid.items() if errors} == {}


# --- issue 17 item 3: brand logo and the customer/order widgets ---------------------------

from io import BytesIO  # noqa: E402

from django.core.exceptions import ValidationError  # noqa: E402
from django.core.files import File  # noqa: E402
from saleor.account.models import User  # noqa: E402
from saleor.app.models import App, AppExtension  # noqa: E402
from saleor.graphql.tests.fixtures import ApiClient  # noqa: E402
from saleor.permission.enums import get_permissions_from_names  # noqa: E402
from saleor.thumbnail.validators import validate_icon_image  # noqa: E402

from saleor_store_credit import conf  # noqa: E402
from saleor_store_credit.compat import dashboard_widgets_supported  # noqa: E402
from saleor_store_credit.ledger import Actor, place_hold  # noqa: E402
from saleor_store_credit.widgets import WIDGETS  # noqa: E402

from . import test_credit  # noqa: E402
from .test_access import _staff_in_channels  # noqa: E402
from .test_checkout import fund, gid, grant  # noqa: E402
from .test_credit import PROFILE, _held_order_paid_with_credit, ok  # noqa: E402

hold_channel = test_credit.hold_channel
place = test_credit.place
needs_widgets = pytest.mark.skipif(
    not dashboard_widgets_supported(), reason="Saleor < 3.22 has no WIDGET extensions"
)
APP_EXTENSIONS = "{ appExtensions(first: 20) { edges { node { url accessToken } } } }"


@pytest.fixture
def store_credit_config():
    return {conf.CREDIT_CHANNELS: "*"}


def test_manifest_brand_logo_passes_saleors_validation(store_credit_plugin, client, settings):
    settings.PUBLIC_URL = None
    manifest = client.get(BASE + "app/manifest").json()

    clean_manifest_data(dict(manifest))  # Saleor checks the URL and that it names a PNG

    assert manifest["brand"]["logo"]["default"] == f"http://testserver{BASE}dashboard/logo.png"


def test_brand_logo_is_a_square_png_saleor_accepts(store_credit_plugin, client):
    # what Saleor's installation (saleor/app/installation_utils.py fetch_icon_image)
    # checks on the downloaded logo: the exact content type, then the image itself
    response = client.get(BASE + "dashboard/logo.png")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    validate_icon_image(File(BytesIO(response.content), "logo.png"), "invalid")
    from PIL import Image

    with Image.open(BytesIO(response.content)) as image:
        assert image.format == "PNG" and image.width == image.height >= 256


def test_saleors_icon_validation_refuses_what_the_logo_must_not_be():
    # the check above is the real one: it refuses a small or non-square PNG
    from PIL import Image

    for size in [(128, 128), (300, 256)]:
        out = BytesIO()
        Image.new("RGB", size).save(out, "PNG")
        out.seek(0)
        with pytest.raises(ValidationError):
            validate_icon_image(File(out, "x.png"), "invalid")


@needs_widgets
def test_manifest_declares_the_customer_and_order_widgets(store_credit_plugin, client, settings):
    settings.PUBLIC_URL = None
    manifest = client.get(BASE + "app/manifest").json()

    cleaned = dict(manifest)
    clean_manifest_data(cleaned)  # Saleor's own validation, this version's rules

    widgets = {e["mount"].lower(): e for e in cleaned["extensions"]
               if e["target"].lower() == "widget"}
    assert set(widgets) == {"customer_details_widgets", "order_details_widgets"}
    assert widgets["customer_details_widgets"]["url"] == "/widget/customer"
    assert widgets["order_details_widgets"]["url"] == "/widget/order"
    for widget in widgets.values():
        assert widget["options"] == {"widgetTarget": {"method": "POST"}}
        assert [p.codename for p in widget["permissions"]] in (["manage_users"],
                                                              ["manage_orders"])


@pytest.mark.skipif(dashboard_widgets_supported(), reason="only where Saleor has no widgets")
def test_manifest_leaves_widgets_out_where_saleor_has_none(store_credit_plugin, client):
    # Saleor 3.21 refuses any extension target but POPUP and APP_PAGE
    manifest = client.get(BASE + "app/manifest").json()

    assert widget_extensions() == []
    assert [e["target"] for e in manifest["extensions"]] == ["APP_PAGE"] * len(EXTENSIONS)
    clean_manifest_data(manifest)  # accepted by this version's validation


def _install_companion_app(manifest) -> App:
    """The App and widget extensions Saleor creates from the manifest (the fields
    every supported version has; saleor/app/installation_utils.py install_app)."""
    app = App.objects.create(
        name=manifest["name"], identifier=manifest["id"], is_active=True,
        app_url=manifest["appUrl"], version=manifest["version"],
    )
    app.permissions.set(get_permissions_from_names(manifest["permissions"]))
    for label, mount, view, permissions in WIDGETS:
        extension = AppExtension.objects.create(
            app=app, label=label, url=f"/widget/{view}", mount=mount.lower(),
            target="widget",
        )
        extension.permissions.set(get_permissions_from_names(permissions))
    return app


@pytest.fixture
def companion_app(store_credit_plugin, client):
    return _install_companion_app(client.get(BASE + "app/manifest").json())


def dashboard_token(user, view):
    """The token the Dashboard posts into the widget: Saleor's `appExtensions`
    accessToken for the signed-in staff member (None without the permissions)."""
    data = ApiClient(user=user).post_graphql(APP_EXTENSIONS).json()
    assert "errors" not in data, data
    [token] = [e["node"]["accessToken"] for e in data["data"]["appExtensions"]["edges"]
               if e["node"]["url"] == f"/widget/{view}"]
    return token


def post_widget(client, view, **fields):
    return client.post(BASE + f"dashboard/widget/{view}", fields)


def _staff(email, *permissions):
    user = User.objects.create(email=email, is_staff=True, is_active=True)
    grant(user, *permissions)
    return user


@pytest.fixture
def credit_staff(permission_manage_users, permission_manage_orders):
    return _staff("widgets@example.com", permission_manage_users, permission_manage_orders)


def _text(response) -> str:
    import re

    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())).strip()


def test_customer_widget_shows_balance_available_held_and_hold_status(
    companion_app, client, credit_staff, customer_user, sc_client
):
    # given: 150.00 USD, 30.00 of it reserved by a checkout, the account on hold
    account = fund(customer_user, "150.00")
    place_hold(account=account, amount="30.00", actor=Actor.system())
    ok(sc_client(user=credit_staff).query(
        PROFILE, {"customer": gid("User", customer_user.pk), "onHold": True}),
       "customerCreditProfileUpdate")
    token = dashboard_token(credit_staff, "customer")

    # when: the Dashboard posts its form into the widget's frame
    response = post_widget(client, "customer", accessToken=token, appId=gid("App", 1),
                           saleorApiUrl="http://testserver/graphql/",
                           customerId=gid("User", customer_user.pk))

    # then
    assert response.status_code == 200, response.content
    page = response.content.decode()
    assert 'data-testid="available-USD">120.00 USD<' in page
    assert 'data-testid="balance-USD">150.00 USD<' in page
    assert 'data-testid="held-USD">30.00 USD<' in page
    assert 'data-testid="credit-status">ON HOLD<' in page
    assert response["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response["Content-Security-Policy"]


def test_customer_widget_without_store_credit_says_so(
    companion_app, client, credit_staff, customer_user
):
    response = post_widget(client, "customer", accessToken=dashboard_token(credit_staff, "customer"),
                           customerId=gid("User", customer_user.pk))

    assert response.status_code == 200
    assert "No store credit yet." in _text(response)
    assert 'data-testid="credit-status">ACTIVE<' in response.content.decode()


def test_customer_widget_escapes_what_staff_typed(
    companion_app, client, credit_staff, customer_user
):
    from saleor_store_credit.credit.models import CreditProfile

    CreditProfile.objects.create(user=customer_user, on_hold=True,
                                 on_hold_reason="<script>alert(1)</script>")

    response = post_widget(client, "customer", accessToken=dashboard_token(credit_staff, "customer"),
                           customerId=gid("User", customer_user.pk))

    page = response.content.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


@pytest.fixture
def held_order(place, customer_user, credit_staff, sc_client):
    staff = sc_client(user=credit_staff)
    return _held_order_paid_with_credit(place, staff, sc_client(user=customer_user),
                                        customer_user)


def test_order_widget_shows_the_credit_hold_and_the_reserved_credit(
    companion_app, client, credit_staff, held_order
):
    from saleor_store_credit.models import Hold

    reserved = Hold.objects.get().amount

    response = post_widget(client, "order", accessToken=dashboard_token(credit_staff, "order"),
                           orderId=gid("Order", held_order.pk))

    assert response.status_code == 200, response.content
    page = response.content.decode()
    assert 'data-testid="hold-status">HELD<' in page
    assert f'data-testid="reserved">{reserved:,.2f} USD<' in page
    assert 'data-testid="paid">0.00 USD<' in page
    assert "account is on hold" in _text(response).lower()


def test_order_widget_after_release_shows_the_credit_paid(
    companion_app, client, credit_staff, held_order, sc_client
):
    from saleor_store_credit.models import Hold

    ok(sc_client(user=credit_staff).query(test_credit.RELEASE, {
        "id": gid("Order", held_order.pk), "reason": "paid"}), "orderCreditHoldRelease")
    charged = Hold.objects.get().captured_amount

    response = post_widget(client, "order", accessToken=dashboard_token(credit_staff, "order"),
                           orderId=gid("Order", held_order.pk))

    page = response.content.decode()
    assert 'data-testid="hold-status">RELEASED<' in page
    assert f'data-testid="paid">{charged:,.2f} USD<' in page
    assert 'data-testid="reserved">0.00 USD<' in page


def test_order_widget_for_an_order_never_held(
    companion_app, client, credit_staff, order
):
    response = post_widget(client, "order", accessToken=dashboard_token(credit_staff, "order"),
                           orderId=gid("Order", order.pk))

    assert response.status_code == 200
    assert 'data-testid="hold-status">NONE<' in response.content.decode()


# refusals: a short page in the widget's frame with a clear status, never a 500


def _refusal(response, status):
    assert response.status_code == status, (response.status_code, response.content)
    assert 'data-testid="widget-error"' in response.content.decode()
    return _text(response)


@pytest.mark.parametrize("view", ["customer", "order"])
def test_widget_without_a_token_is_401(companion_app, client, customer_user, view):
    text = _refusal(post_widget(client, view, customerId=gid("User", customer_user.pk)), 401)
    assert "permission" in text


@pytest.mark.parametrize("token", [
    "not-a-jwt",
    # a well-formed JWT that Saleor did not sign
    "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJzYWxlb3IiLCJvd25lciI6InNhbGVvciIsInR5cGUiOiJ0aGlyZHBh"
    "cnR5IiwiZW1haWwiOiJhQGIuYyJ9.c2lnbmF0dXJl",
])
def test_widget_with_a_token_saleor_did_not_issue_is_401(
    companion_app, client, customer_user, token
):
    _refusal(post_widget(client, "customer", accessToken=token,
                         customerId=gid("User", customer_user.pk)), 401)


def test_widget_with_a_token_of_a_logged_out_staff_member_is_401(
    companion_app, client, credit_staff, customer_user
):
    token = dashboard_token(credit_staff, "customer")
    credit_staff.jwt_token_key = "rotated"  # Saleor's logout / password change
    credit_staff.save(update_fields=["jwt_token_key"])

    _refusal(post_widget(client, "customer", accessToken=token,
                         customerId=gid("User", customer_user.pk)), 401)


def test_widget_token_carries_only_the_extensions_permissions(
    companion_app, client, credit_staff, customer_user, order
):
    # the order widget's token (MANAGE_ORDERS) does not open the customer widget
    token = dashboard_token(credit_staff, "order")

    text = _refusal(post_widget(client, "customer", accessToken=token,
                                customerId=gid("User", customer_user.pk)), 403)
    assert "MANAGE_USERS" in text


def test_staff_without_the_permission_get_no_token_and_a_401(
    companion_app, client, customer_user, permission_manage_orders
):
    staff = _staff("orders-only@example.com", permission_manage_orders)
    assert dashboard_token(staff, "customer") is None  # Saleor mints none

    _refusal(post_widget(client, "customer", accessToken="",
                         customerId=gid("User", customer_user.pk)), 401)


def test_a_customers_own_token_is_403(companion_app, client, customer_user):
    from saleor.core.jwt import create_access_token

    token = create_access_token(customer_user)

    _refusal(post_widget(client, "customer", accessToken=token,
                         customerId=gid("User", customer_user.pk)), 403)


@pytest.mark.parametrize("view, field, value, status", [
    ("customer", "customerId", None, 400),
    ("customer", "customerId", "", 400),
    ("customer", "customerId", "%%%", 400),
    ("customer", "customerId", "VXNlcjp4", 400),  # User:x
    ("customer", "customerId", "T3JkZXI6MQ==", 400),  # an Order ID
    ("customer", "customerId", "VXNlcjo5OTk5OTk=", 404),  # User:999999
    ("order", "orderId", None, 400),
    ("order", "orderId", "T3JkZXI6MQ==", 400),  # Order:1, not a UUID
    ("order", "orderId", "VXNlcjox", 400),  # a User ID
    ("order", "orderId", gid("Order", "7c9e6679-7425-40de-944b-e07fc1f90ae7"), 404),
])
def test_widget_with_a_bad_id_is_a_clear_4xx(
    companion_app, client, credit_staff, view, field, value, status
):
    fields = {"accessToken": dashboard_token(credit_staff, view)}
    if value is not None:
        fields[field] = value

    text = _refusal(post_widget(client, view, **fields), status)
    assert ("not found." if status == 404 else field) in text


def test_widget_opened_with_get_is_405(companion_app, client):
    response = client.get(BASE + "dashboard/widget/customer")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert client.post(BASE + "dashboard/widget/nothing").status_code == 404


def test_order_widget_refuses_staff_of_another_channel(
    companion_app, client, held_order, channel_PLN, permission_manage_orders,
    permission_manage_users,
):
    outsider = _staff_in_channels("outsider@example.com", [channel_PLN],
                                  [permission_manage_orders, permission_manage_users])

    text = _refusal(post_widget(client, "order", accessToken=dashboard_token(outsider, "order"),
                                orderId=gid("Order", held_order.pk)), 403)
    assert "channel" in text


def test_customer_widget_lists_held_orders_only_in_the_staffs_channels(
    companion_app, client, credit_staff, held_order, customer_user, channel_PLN,
    permission_manage_users,
):
    outsider = _staff_in_channels("outsider@example.com", [channel_PLN],
                                  [permission_manage_users])
    fields = {"customerId": gid("User", customer_user.pk)}

    mine = post_widget(client, "customer", accessToken=dashboard_token(credit_staff, "customer"),
                       **fields)
    theirs = post_widget(client, "customer", accessToken=dashboard_token(outsider, "customer"),
                         **fields)

    assert f"On credit hold: #{held_order.number}" in _text(mine)
    assert theirs.status_code == 200 and "On credit hold" not in _text(theirs)
