"""Widgets on the Dashboard's customer and order detail pages (adapter, beside ui.py).

The App manifest declares two extensions with target WIDGET on Saleor's mounts
CUSTOMER_DETAILS_WIDGETS and ORDER_DETAILS_WIDGETS, `options.widgetTarget.method`
POST. The Dashboard (3.22+) then submits a hidden form into the widget's iframe
(saleor-dashboard src/extensions/components/IframePost/IframePost.tsx) with
`accessToken` (the JWT Saleor mints for this extension and the signed-in staff
member, carrying the extension's permissions: saleor/graphql/app/resolvers.py
`resolve_access_token_for_app_extension`), `appId`, `saleorApiUrl` and the page's
`customerId` or `orderId`. The figures are rendered here, on the server: visible as
the page opens, no script needed to read them, and the token never in a URL.

Who is asking is decided exactly as for the plugin API (graphql/auth.py
`authenticate`, i.e. Saleor's own JWT checks: signature, expiry, token type, the
user's current token key, the token's permissions); what they may see by the API's
permission rows (graphql/permissions.py) and Saleor's channel access for orders.
Answers: 200, or a short page with 400 (bad id), 401 (no or invalid token),
403 (permission or channel), 404 (unknown customer/order), 405 (not POST).
"""

from uuid import UUID

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from graphene import relay
from jwt.exceptions import PyJWTError

from .errors import PermissionDenied
from .money import currency_precision
from .summaries import customer_summary, order_summary

# (label, mount, view, permissions); the view is served at <appUrl>/widget/<view>.
WIDGETS = [
    ("Store credit", "CUSTOMER_DETAILS_WIDGETS", "customer", ["MANAGE_USERS"]),
    ("Store credit & credit hold", "ORDER_DETAILS_WIDGETS", "order", ["MANAGE_ORDERS"]),
]
_OPERATIONS = {  # the API rows whose permissions each widget needs
    "customer": ("customerStoreCredit", "customerCredit"),
    "order": ("orderCreditHold",),
}
_NO_TOKEN = (
    "The Dashboard sends a sign-in token with the widget when your account has the "
    "permission it needs ({needs}). Reload the page, or ask an administrator."
)


class _Refusal(Exception):
    def __init__(self, status: int, title: str, detail: str):
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def serve(request, base: str, view: str) -> HttpResponse:
    """Handle `<base>/dashboard/widget/<view>`."""
    if view not in _OPERATIONS:
        return _page(base, 404, "Not found", "There is no such widget.")
    if request.method != "POST":
        response = _page(base, 405, "Method not allowed",
                         "The Dashboard opens this widget with POST.")
        response["Allow"] = "POST"
        return response
    try:
        try:
            form = request.POST
        except RequestDataTooBig:
            raise _Refusal(413, "Request too large", "The request body is too large.") from None
        context = _authenticate(request, form.get("accessToken", ""), view)
        body = _customer(context, form) if view == "customer" else _order(context, form)
    except _Refusal as refusal:
        return _page(base, refusal.status, refusal.title, refusal.detail)
    return _page(base, 200, None, body)


# --- who is asking ---------------------------------------------------------------------


def _needs(view: str) -> str:
    from .graphql.permissions import permissions_for

    names = {p.name for op in _OPERATIONS[view] for p in permissions_for(op)}
    return ", ".join(sorted(names))


def _authenticate(request, token: str, view: str):
    from .graphql.auth import authenticate
    from .graphql.permissions import require_for

    token = token.strip() if isinstance(token, str) else ""
    if not token:
        raise _Refusal(401, "Not signed in", _NO_TOKEN.format(needs=_needs(view)))
    # Only the token the Dashboard posted counts: it goes where Saleor's own
    # authentication reads it (saleor/core/auth.py `get_token_from_request`).
    request.META.pop("HTTP_AUTHORIZATION_BEARER", None)
    request.META["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    try:
        context = authenticate(request)
    except PyJWTError as error:
        raise _Refusal(401, "Sign-in expired or invalid", f"{error} Reload the page.") from None
    if not getattr(context, "app", None) and not getattr(context, "user", None):
        raise _Refusal(401, "Not signed in", "The token is not a valid Saleor token.")
    try:
        for operation in _OPERATIONS[view]:
            require_for(context, operation)
    except PermissionDenied:
        raise _Refusal(403, "No permission",
                       f"This widget needs the permission {_needs(view)}.") from None
    return context


def _pk(form, name: str, type_name: str, cast):
    value = form.get(name, "")
    if not isinstance(value, str) or not value.strip():
        raise _Refusal(400, "Bad request", f"No {name} given.")
    try:
        kind, pk = relay.Node.from_global_id(value.strip())
        if kind != type_name:
            raise ValueError
        return cast(pk)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise _Refusal(400, "Bad request", f"{name} is not a {type_name} ID.") from None


# --- the two widgets ---------------------------------------------------------------------


def _customer(context, form):
    from saleor.account.models import User

    from .graphql.auth import accessible_orders

    user = User.objects.filter(pk=_pk(form, "customerId", "User", int)).first()
    if user is None:
        raise _Refusal(404, "Not found", "Customer not found.")
    summary = customer_summary(user, visible_orders=accessible_orders(context))
    accounts = format_html_join(
        "", '<div class="acct" data-testid="account-{}">'
        '<div class="big"><span data-testid="available-{}">{}</span>'
        ' <span class="muted">available</span></div>'
        '<div class="kv"><span>Balance <b data-testid="balance-{}">{}</b></span>'
        '<span>Held <b data-testid="held-{}">{}</b></span>{}</div></div>',
        (
            (a.currency, a.currency, _money(a.available, a.currency), a.currency,
             _money(a.balance, a.currency), a.currency, _money(a.held, a.currency),
             format_html('<span>Expiring <b>{}</b></span>', _money(a.expiring, a.currency))
             if a.expiring else "")
            for a in summary.accounts
        ),
    ) or format_html('<p class="muted" data-testid="no-accounts">No store credit yet.</p>')
    status = (
        format_html('<span class="badge danger" data-testid="credit-status">ON HOLD</span>'
                    ' <span data-testid="on-hold-reason">{}</span>', summary.on_hold_reason)
        if summary.on_hold
        else format_html('<span class="badge ok" data-testid="credit-status">ACTIVE</span>')
    )
    lines = format_html_join(
        "", '<div class="kv" data-testid="credit-{}"><span>Limit <b>{}</b></span>'
        '<span>Used <b>{}</b></span><span>Available <b>{}</b></span></div>',
        (
            (c.currency,
             format_html("{}{}", "Unlimited" if c.limit is None else _money(c.limit, c.currency),
                         " (temporary)" if c.temporary else ""),
             _money(c.exposure, c.currency),
             "Unlimited" if c.available is None else _money(c.available, c.currency))
            for c in summary.credit
        ),
    )
    held = (
        format_html('<div class="held" data-testid="held-orders">On credit hold: {}</div>',
                    ", ".join(f"#{n}" for n in summary.held_order_numbers))
        if summary.held_order_numbers else ""
    )
    return format_html(
        '<main class="widget" data-testid="customer-widget">{}'
        '<section class="credit"><div class="row">Credit account {}</div>{}{}</section></main>',
        accounts, status, lines, held,
    )


def _order(context, form):
    from saleor.order.models import Order

    from .graphql.auth import check_order_channel_access

    order = Order.objects.filter(pk=_pk(form, "orderId", "Order", UUID)).first()
    if order is None:
        raise _Refusal(404, "Not found", "Order not found.")
    try:
        check_order_channel_access(context, order.pk)
    except PermissionDenied as denied:
        raise _Refusal(403, "No access to this channel", str(denied)) from None
    summary = order_summary(order)
    hold = summary.hold
    if hold is None:
        hold_html = format_html(
            '<div class="row">Credit hold <span class="badge" data-testid="hold-status">NONE'
            '</span></div><p class="muted">This order was not held by credit rules.</p>'
        )
    else:
        reasons = format_html_join(
            "", "<li>{}</li>", ((r.get("message") or r.get("rule_type", ""),)
                                for r in hold.reasons or [])
        )
        hold_html = format_html(
            '<div class="row">Credit hold <span class="badge {}" data-testid="hold-status">{}'
            '</span> <span class="muted">since {}</span></div>{}',
            "danger" if hold.is_active else "ok", hold.status.upper(), _when(hold.created_at),
            format_html('<ul class="reasons" data-testid="hold-reasons">{}</ul>', reasons)
            if reasons else "",
        )
    cur = summary.currency
    return format_html(
        '<main class="widget" data-testid="order-widget">{}'
        '<div class="kv"><span>Reserved <b data-testid="reserved">{}</b></span>'
        '<span>Paid <b data-testid="paid">{}</b></span>'
        '<span>Refunded to credit <b data-testid="refunded">{}</b></span></div>{}</main>',
        hold_html, _money(summary.reserved, cur), _money(summary.paid, cur),
        _money(summary.refunded, cur),
        format_html('<p class="muted">Credit memos: {}</p>', summary.credit_memos)
        if summary.credit_memos else "",
    )


# --- rendering ---------------------------------------------------------------------------


def _money(amount, currency: str) -> str:
    return f"{amount:,.{currency_precision(currency)}f} {currency}"


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _page(base: str, status: int, title: str | None, body) -> HttpResponse:
    if title is not None:  # a refusal: say why, in the widget's frame
        body = format_html(
            '<main class="widget refusal" data-testid="widget-error" data-status="{}">'
            "<b>{}</b><p>{}</p></main>", status, title, body,
        )
    html = format_html(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>Store credit</title><link rel="stylesheet" href="{}/dashboard/widget.css">'
        '<script src="{}/dashboard/widget.js" defer></script></head><body>{}</body></html>',
        base, base, body,
    )
    response = HttpResponse(html, status=status, content_type="text/html; charset=utf-8")
    # customer data: never cached, never sent on as a referrer; only our own files
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; script-src 'self'; base-uri 'none'; "
        "form-action 'none'"
    )
    return response
