"""Staff screens in the Saleor Dashboard, and the reference storefront page.

Saleor's Dashboard takes UI from Apps only (App extensions, rendered in an iframe with
the AppBridge handshake). The plugin therefore is its own smallest companion App: it
serves an App manifest whose extensions point at static pages it also serves, and
accepts the app-token registration Saleor sends on installation. The pages call the
plugin API with the token the Dashboard hands them (a Saleor "thirdparty" JWT, which
the plugin API accepts like Saleor's own API does, with the permissions the user and
the app share). Install (Dashboard 3.23): Extensions → Add extension → Install from
manifest → the manifest URL.
"""

import json
import re
from importlib import resources

from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseNotFound

from . import __version__
from .compat import REQUIRED_SALEOR_VERSION, dashboard_widgets_supported

STATIC_DIRS = {"dashboard": "index.html", "storefront": "index.html"}
CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    # exactly this: Saleor's logo fetch compares the header with ICON_MIME_TYPES
    # (saleor/app/installation_utils.py `fetch_icon_image`)
    "png": "image/png",
}
_FILE = re.compile(r"^[a-z0-9_-]+\.(html|js|css|png)$")
# The brand logo (manifest `brand.logo.default`): Saleor wants a square PNG of at
# least 256 px (saleor/thumbnail/validators.py); drawn by scripts/make_logo.py.
LOGO = "logo.png"
# Extension pages are `dashboard/<view>`: the Dashboard joins an APP_PAGE extension's
# relative URL onto the app URL, so the view travels in the path.
VIEWS = ("customer", "order", "holds", "credit", "risk", "reimbursement", "webhooks",
         "terms")

# (label, mount, view, permissions): where the screens appear in the Dashboard.
EXTENSIONS = [
    ("Store credit", "CUSTOMER_DETAILS_MORE_ACTIONS", "customer", ["MANAGE_USERS"]),
    ("Store credit & credit hold", "ORDER_DETAILS_MORE_ACTIONS", "order", ["MANAGE_ORDERS"]),
    ("Orders on credit hold", "NAVIGATION_ORDERS", "holds", ["MANAGE_ORDERS"]),
    ("Payment terms & invoices", "NAVIGATION_ORDERS", "terms", ["MANAGE_ORDERS"]),
    ("Credit limits & rules", "NAVIGATION_CUSTOMERS", "credit", ["MANAGE_USERS"]),
    ("Credit risk & forced holds", "NAVIGATION_CUSTOMERS", "risk", ["MANAGE_USERS"]),
    ("Reimbursement runs", "NAVIGATION_CUSTOMERS", "reimbursement",
     ["MANAGE_USERS", "HANDLE_PAYMENTS"]),
    ("Store credit webhooks", "NAVIGATION_CUSTOMERS", "webhooks", ["MANAGE_SETTINGS"]),
]
APP_PERMISSIONS = ["MANAGE_USERS", "MANAGE_ORDERS", "HANDLE_PAYMENTS", "MANAGE_SETTINGS",
                   "MANAGE_GIFT_CARD"]


def serve(request, base: str, path: str):
    """Handle `/app/…`, `/dashboard/…` and `/storefront/…`; None for other paths."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None
    if parts[0] == "app":
        tail = parts[1:]
        if tail == ["manifest"]:
            return _json(manifest(request, base))
        if tail == ["on-account", "manifest"]:
            return _json(on_account_manifest(request, base))
        if tail in (["register"], ["on-account", "register"]):
            # Saleor POSTs {"auth_token": …} when the app is installed. The screens use
            # the Dashboard's per-user token instead, so the app token is not kept.
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            return _json({"success": True})
        return HttpResponseNotFound()
    if parts[0] == "dashboard" and len(parts) == 3 and parts[1] == "widget":
        from . import widgets

        return widgets.serve(request, base, parts[2])
    if parts[0] in STATIC_DIRS and len(parts) <= 2:
        if len(parts) == 1 and not path.endswith("/"):
            # the Dashboard opens the App's home with its query string (domain,
            # saleorApiUrl, id): keep it
            query = request.META.get("QUERY_STRING", "")
            response = HttpResponse(status=301)
            response["Location"] = request.path + "/" + (f"?{query}" if query else "")
            return response
        name = parts[1] if len(parts) == 2 else STATIC_DIRS[parts[0]]
        if parts[0] == "dashboard" and name in VIEWS:
            name = STATIC_DIRS["dashboard"]
        return _static(parts[0], name)
    return None


def _static(folder: str, name: str):
    if not _FILE.match(name):
        return HttpResponseNotFound()
    try:
        body = resources.files(__package__).joinpath("static", folder, name).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return HttpResponseNotFound()
    response = HttpResponse(body, content_type=CONTENT_TYPES[name.rsplit(".", 1)[1]])
    response["Cache-Control"] = "no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _origin(request) -> str:
    """Saleor's PUBLIC_URL when set (as Saleor builds its own absolute URLs), else the
    request's host. Behind Saleor's hardened HTTP client the Host header of the
    manifest fetch can lose its port, so set PUBLIC_URL on non-standard ports."""
    from django.conf import settings

    public = getattr(settings, "PUBLIC_URL", None)
    return (public or request.build_absolute_uri("/")).rstrip("/")


def manifest(request, base: str) -> dict:
    origin = _origin(request)
    dashboard = f"{base}/dashboard"
    return {
        "id": "saleor-store-credit",
        "name": "Store credit",
        "version": __version__,
        "about": "Store credit, credit memos, credit limits and order holds, "
        "reimbursement runs (served by the saleor-store-credit plugin).",
        "permissions": APP_PERMISSIONS,
        # Saleor refuses to install the App outside this range (app/manifest_validations.py)
        "requiredSaleorVersion": REQUIRED_SALEOR_VERSION,
        "appUrl": origin + dashboard,  # extension pages: <appUrl>/<view>
        "tokenTargetUrl": f"{origin}{base}/app/register",
        # pages that work in a plain browser tab, outside the Dashboard's iframe;
        # Saleor's manifest schema reads `dataPrivacyUrl` (saleor/app/manifest_schema.py)
        "homepageUrl": f"{origin}{dashboard}/about.html",
        "supportUrl": f"{origin}{dashboard}/about.html",
        "dataPrivacyUrl": f"{origin}{dashboard}/about.html#data",
        "author": "saleor-store-credit",
        # Saleor downloads it at installation through its HTTP client
        # (saleor/app/installation_utils.py `fetch_brand_data`, `fetch_icon_image`)
        "brand": {"logo": {"default": f"{origin}{dashboard}/{LOGO}"}},
        "extensions": [
            {
                "label": label, "mount": mount, "target": "APP_PAGE",
                "url": f"/{view}", "permissions": permissions,
                "identifier": f"store-credit-{view}",
            }
            for label, mount, view, permissions in EXTENSIONS
        ] + widget_extensions(),
    }


def on_account_manifest(request, base: str) -> dict:
    """The second companion App: its identifier is the pay-on-account gateway id, which
    Saleor's `transactionInitialize` accepts only when an App has it (saleor/graphql/
    payment/mutations/transaction/transaction_initialize.py). It needs no permission
    and shows no screens; install it to offer pay on account through Saleor's API."""
    from .saleor_tx import ON_ACCOUNT_ID

    origin = _origin(request)
    dashboard = f"{base}/dashboard"
    return {
        "id": ON_ACCOUNT_ID,
        "name": "Pay on account",
        "version": __version__,
        "about": "Pay on account at checkout for B2B customers with a credit limit "
        "(served by the saleor-store-credit plugin).",
        "permissions": [],
        "requiredSaleorVersion": REQUIRED_SALEOR_VERSION,
        "appUrl": f"{origin}{dashboard}/about.html",
        "tokenTargetUrl": f"{origin}{base}/app/on-account/register",
        "homepageUrl": f"{origin}{dashboard}/about.html",
        "supportUrl": f"{origin}{dashboard}/about.html",
        "dataPrivacyUrl": f"{origin}{dashboard}/about.html#data",
        "author": "saleor-store-credit",
        "extensions": [],
    }


def widget_extensions() -> list[dict]:
    """The customer and order page widgets (widgets.py), on Saleor versions that have
    the WIDGET target (3.22+, compat.dashboard_widgets_supported). POST: the Dashboard
    posts the token in a form, not in the iframe's URL (see widgets.py)."""
    from .widgets import WIDGETS

    if not dashboard_widgets_supported():
        return []
    return [
        {
            "label": label, "mount": mount, "target": "WIDGET",
            "url": f"/widget/{view}", "permissions": permissions,
            "identifier": f"store-credit-{view}-widget",
            "options": {"widgetTarget": {"method": "POST"}},
        }
        for label, mount, view, permissions in WIDGETS
    ]


def _json(payload) -> HttpResponse:
    return HttpResponse(json.dumps(payload), content_type="application/json")
