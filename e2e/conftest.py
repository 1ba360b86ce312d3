"""End-to-end tests in real headless Chromium against a real Saleor server with the
plugin (started here from SALEOR_PYTHON/SALEOR_SRC, like `make demo`).

Staff screens run the way the Dashboard runs them: the plugin's companion App is
installed from its manifest with Saleor's own `install_app` command, the extension
URLs and per-extension access tokens come from Saleor's API, and `shell.html` plays
the Dashboard's part (cross-origin iframe + AppBridge handshake).
"""

import http.server
import os
import sys
import threading
import urllib.parse
from functools import partial
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

ARTIFACTS = ROOT / "artifacts" / "e2e"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHANNEL = "default-channel"
# Overridable so that two checkouts can run their browser tests side by side.
API_PORT = int(os.environ.get("SC_E2E_API_PORT", "8767"))
SHELL_PORT = int(os.environ.get("SC_E2E_SHELL_PORT", "8768"))
E2E_DATABASE = os.environ.get("SC_E2E_DATABASE", "saleor_store_credit_e2e")
HELD_EMAIL = "held@example.com"
# customers whose Saleor languageCode is Dutch (NL) and Swedish (SV_FI)
DUTCH_EMAIL = "klant@example.com"
SWEDISH_EMAIL = "kund@example.com"

SETUP = """
from saleor.account.models import User
from saleor.channel.models import Channel
from saleor.product.models import Product
from saleor.site.models import SiteSettings
user, _ = User.objects.get_or_create(email="%(held)s")
user.is_active = True
user.set_password("%(password)s")
user.save()
for email, language in [("%(dutch)s", "nl"), ("%(swedish)s", "sv-fi")]:
    user, _ = User.objects.get_or_create(email=email)
    user.is_active = True
    user.language_code = language
    user.set_password("%(password)s")
    user.save()
SiteSettings.objects.update(refund_reason_reference_type=None)
Channel.objects.filter(slug="%(channel)s").update(
    automatically_confirm_all_new_orders=False, allow_unpaid_orders=True)
print("PRODUCTS=" + str(Product.objects.count()))
"""
REMOVE_APP = """
from saleor.app.models import App
App.objects.filter(identifier="saleor-store-credit").delete()
"""


def pytest_collection_modifyitems(config, items):
    missing = []
    if not os.environ.get("SALEOR_PYTHON"):
        missing.append("SALEOR_PYTHON is not set (a Python that imports saleor 3.23)")
    if not Path(CHROMIUM).exists():
        missing.append(f"no Chromium at {CHROMIUM} (Debian package `chromium`)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright is not installed")
    if missing:
        skip = pytest.mark.skip(reason="browser tests need a real Saleor: " + "; ".join(missing))
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def saleor():
    from saleor_server import DEMO_PASSWORD, SETUP_USERS, Saleor

    server = Saleor(database=E2E_DATABASE, port=API_PORT)
    server.install_plugin()
    server.ensure_database()
    server.migrate()
    values = {"held": HELD_EMAIL, "dutch": DUTCH_EMAIL, "swedish": SWEDISH_EMAIL,
              "password": DEMO_PASSWORD, "channel": CHANNEL}
    out = server.shell(SETUP_USERS + SETUP % values)
    if out.split("PRODUCTS=")[1].split()[0] == "0":
        server.step("empty database: loading Saleor's sample catalogue (populatedb)")
        server.manage("populatedb", "--withoutimages", "--skipsequencereset")
        server.shell(SETUP % values)
    server.start_api()
    # store credit is charged by a Celery task after the order's confirmation
    server.start_worker()
    try:
        server.password = DEMO_PASSWORD
        server.login_staff("staff@example.com", DEMO_PASSWORD)
        _configure(server)
        yield server
    finally:
        server.stop()


def _configure(server) -> None:
    """What a merchant does: activate and configure the plugin, install the app."""
    config = [{"name": "credit_management_channels", "value": "*"}]
    result = server.saleor(
        """mutation ($input: PluginUpdateInput!) { pluginUpdate(id: "saleor-store-credit",
           input: $input) { errors { field message } } }""",
        {"input": {"active": True, "configuration": config}}, token=server.staff_token,
    )
    assert result["data"]["pluginUpdate"]["errors"] == [], result
    rules = server.store_credit("{ creditBlockingRules { ruleType } }",
                                token=server.staff_token)["data"]["creditBlockingRules"]
    if not any(r["ruleType"] == "ACCOUNT_ON_HOLD" for r in rules):
        saved = server.store_credit(
            """mutation { creditBlockingRuleSave(input: {name: "Accounts on hold",
               ruleType: ACCOUNT_ON_HOLD, action: HOLD}) { errors { message } } }""",
            token=server.staff_token,
        )
        assert saved["data"]["creditBlockingRuleSave"]["errors"] == [], saved
    # a fresh install every run, so the app always has the current manifest
    server.shell(REMOVE_APP)
    server.step("installing the companion app from its manifest (install_app)")
    server.manage("install_app", "--activate",
                  f"{server.url}/plugins/global/saleor-store-credit/app/manifest")


@pytest.fixture(scope="session")
def shell_url():
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(Path(__file__).parent))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", SHELL_PORT), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{SHELL_PORT}/shell.html"
    httpd.shutdown()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page_locale():
    """The browser's language (navigator.language, Accept-Language); a test overrides it
    with @pytest.mark.parametrize("page_locale", …)."""
    return "en-US"


@pytest.fixture
def page(browser, request, page_locale):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=page_locale)
    page = context.new_page()
    page.set_default_timeout(20000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-final.png"), full_page=True)
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def extensions(saleor):
    """The installed app's extensions as the Dashboard sees them: view -> (url, token).
    Per test: the tokens Saleor mints live 5 minutes (JWT_TTL_APP_ACCESS)."""
    data = saleor.saleor(
        """{ apps(first: 20) { edges { node { id identifier appUrl accessToken extensions {
             label mountName targetName url accessToken } } } } }""", token=saleor.staff_token,
    )
    assert "data" in data and data["data"], data
    [app] = [e["node"] for e in data["data"]["apps"]["edges"]
             if e["node"]["identifier"] == "saleor-store-credit"]
    return {
        extension["url"].strip("/"): {
            **extension, "appUrl": app["appUrl"], "appId": app["id"],
            # pages get the app's token; a widget the extension's own (as the Dashboard)
            "accessToken": app["accessToken"], "extensionToken": extension["accessToken"],
        }
        for extension in app["extensions"]
    }


def open_extension(page, saleor, shell_url, extension, **params):
    """Open an extension the way the Dashboard does; returns the app's frame."""
    # As the Dashboard does for an APP_PAGE extension: <appUrl> + <extension url> + context
    query = urllib.parse.urlencode({
        **params, "domain": urllib.parse.urlsplit(saleor.url).netloc,
        "saleorApiUrl": f"{saleor.url}/graphql/", "id": extension["appId"], "theme": "light",
    })
    src = f"{extension['appUrl'].rstrip('/')}{extension['url']}?{query}"
    fragment = urllib.parse.urlencode(
        {"src": src, "token": extension["accessToken"], "label": extension["label"]})
    page.goto(f"{shell_url}#{fragment}")
    return page.frame_locator("#app")


def open_widget(page, saleor, shell_url, extension, *, id_name, id_value, page_label=""):
    """Show a POST widget the way the Dashboard's detail page does (widgets.html plays
    IframePost); returns the widget's frame."""
    src = f"{extension['appUrl'].rstrip('/')}{extension['url']}"
    fragment = urllib.parse.urlencode({
        "src": src, "token": extension["extensionToken"], "appId": extension["appId"],
        "saleorApiUrl": f"{saleor.url}/graphql/", "idName": id_name, "idValue": id_value,
        "label": extension["label"], "page": page_label,
        "logo": f"{extension['appUrl'].rstrip('/')}/logo.png",
    })
    # a query of its own per widget: a new document, so the form is posted again
    # (a change of the #fragment alone would not reload the page)
    view = urllib.parse.quote(extension["url"].strip("/"), safe="")
    page.goto(f"{shell_url.replace('shell.html', 'widgets.html')}?w={view}#{fragment}")
    return page.frame_locator("#widget")
