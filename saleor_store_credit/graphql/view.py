"""HTTP handling for the plugin's GraphQL endpoint."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from graphql import GraphQLCoreBackend
from graphql.error import GraphQLError, GraphQLSyntaxError
from graphql.error import format_error as format_graphql_error
from jwt.exceptions import PyJWTError

from ..errors import PermissionDenied, StoreCreditError
from . import encoding, limits
from .auth import authenticate
from .schema import schema

_backend = GraphQLCoreBackend()

logger = logging.getLogger(__name__)


def _json(payload, status=200) -> HttpResponse:
    return HttpResponse(
        encoding.dumps(payload), status=status, content_type="application/json"
    )


def _error(message, code, status=400):
    return _json({"errors": [{"message": message, "extensions": {"exception": {"code": code}}}]}, status)


def _refusal(errors, status=400, extensions=None) -> HttpResponse:
    """A request refused before execution, shaped as Saleor's view shapes it
    (saleor/graphql/views.py + saleor/graphql/utils `format_error`): no `data`, each
    error with its own extensions and `exception.code` = the error's class name."""
    formatted = []
    for error in errors:
        item = format_graphql_error(error)
        item.setdefault("extensions", {})
        item["extensions"]["exception"] = {"code": type(error).__name__}
        formatted.append(item)
    payload = {"errors": formatted}
    if extensions:
        payload["extensions"] = extensions
    return _json(payload, status)


def _format_error(error) -> dict:
    original = getattr(error, "original_error", None)
    if isinstance(original, PermissionDenied):
        code = "PermissionDenied"
    elif isinstance(original, StoreCreditError):
        code = getattr(original.code, "value", original.code)
    elif original is not None and not isinstance(original, GraphQLError):
        if not isinstance(original, ValueError):
            logger.error("Store credit API error", exc_info=original)
            return {
                "message": "Internal Server Error",
                "extensions": {"exception": {"code": "InternalServerError"}},
            }
        code = "GraphQLError"
    else:
        code = "GraphQLError"
    formatted = {"message": str(getattr(original, "message", None) or error)}
    locations = getattr(error, "locations", None)
    if locations:
        formatted["locations"] = [{"line": loc.line, "column": loc.column} for loc in locations]
    if getattr(error, "path", None):
        formatted["path"] = error.path
    formatted["extensions"] = {"exception": {"code": code}}
    return formatted


def handle_request(request, plugin) -> HttpResponse:
    if request.method == "OPTIONS":
        return HttpResponse(status=200)
    if request.method != "POST":
        return _error("Send GraphQL queries with POST (application/json).", "MethodNotAllowed", 405)
    try:
        raw = request.body  # Django refuses it past DATA_UPLOAD_MAX_MEMORY_SIZE
    except RequestDataTooBig:
        # saleor/graphql/views.py `_handle_query`: the same message and status
        return _refusal([GraphQLError("Request body exceeds maximum size.")], 413)
    try:
        body = encoding.loads(raw or b"{}")
    except ValueError:
        return _error("Request body is not valid JSON.", "InvalidJSON")
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return _error("Expected a JSON object with a `query` string.", "InvalidRequest")
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        return _error("`variables` must be a JSON object.", "InvalidRequest")

    # Limits before anything runs (saleor/graphql/views.py `execute_graphql_request`).
    if depth_error := limits.text_depth_error(body["query"]):
        return _refusal([depth_error])
    try:
        document = _backend.document_from_string(schema, body["query"])
    except (GraphQLSyntaxError, ValueError) as exc:
        return _refusal([exc])
    except RecursionError:
        return _refusal([limits._depth_error(limits.max_depth(), None)])
    cost, limit_errors = limits.validate_limits(
        schema, document.document_ast, variables
    )
    if limit_errors:
        return _refusal(limit_errors, extensions=limits.cost_extensions(cost))

    try:
        context = authenticate(request)
    except PyJWTError as exc:
        return _error(str(exc), type(exc).__name__, 401)
    context.store_credit_settings = plugin.settings
    context.store_credit_plugin = plugin

    result = document.execute(
        variable_values=variables,
        operation_name=body.get("operationName"),
        context_value=context,
    )
    payload = {"data": result.data}
    if result.errors:
        payload["errors"] = [_format_error(error) for error in result.errors]
    if extensions := limits.cost_extensions(cost):
        payload["extensions"] = extensions
    return _json(payload, 200 if not result.invalid else 400)
