"""The companion App manifest and the static staff/storefront pages the plugin serves."""

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from saleor.app.manifest_validations import clean_manifest_data  # noqa: E402

from saleor_store_credit.ui import EXTENSIONS  # noqa: E402

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
    assert len(manifest["extensions"]) == len(EXTENSIONS)


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
