"""The limits of Saleor's own GraphQL API, applied to the plugin's endpoint.

Mirrors saleor/graphql/views.py (3.23): the request body limit is Django's
DATA_UPLOAD_MAX_MEMORY_SIZE answered with 413 "Request body exceeds maximum size.";
a query is validated before it runs with Saleor's own rules
(saleor/graphql/core/validators/__init__.py `validate_query`): the query cost rule
against `GRAPHQL_QUERY_MAX_COMPLEXITY` (0 switches it off, as in Saleor), the alias
limit `GRAPHQL_ALIAS_COUNT_LIMIT` and the mutation limit `GRAPHQL_MUTATION_COUNT_LIMIT`.
Saleor's cost map knows only Saleor's schema, so the plugin has its own (`COST_MAP`,
same format as saleor/graphql/query_cost_map.py): every root field costs 1, and a field
with a `first` argument multiplies what is below it, as Saleor's connections do.

Saleor 3.23 has no separate depth limit (its cost rule and its parser's recursion stop
deep queries). The plugin adds one, `STORE_CREDIT_GRAPHQL_MAX_DEPTH` (Django setting,
default 15 nested selection sets; the standard introspection query needs 13), checked
on the raw text before parsing, so a query nested thousands deep never reaches the
recursive parser, and on the parsed document through fragments.
"""

from typing import Any

from django.conf import settings
from graphql import GraphQLError
from graphql.language.ast import (
    Field,
    FragmentDefinition,
    FragmentSpread,
    InlineFragment,
    OperationDefinition,
)
from graphql.type import GraphQLList, GraphQLNonNull, GraphQLObjectType
from graphql.validation import validate

DEFAULT_MAX_DEPTH = 15

# What costs more than one lookup (CSV builds, scans over accounts).
_HEAVY_FIELDS = {
    ("Query", "reimbursementRunPreview"): 50,
    ("Query", "storeCreditLiabilityReport"): 50,
    ("ReimbursementRun", "csv"): 50,
}


class QueryDepthError(GraphQLError):
    pass


def max_depth() -> int:
    return int(getattr(settings, "STORE_CREDIT_GRAPHQL_MAX_DEPTH", DEFAULT_MAX_DEPTH))


def _depth_error(maximum: int, depth: int | None) -> QueryDepthError:
    actual = f" Actual depth is {depth}" if depth is not None else ""
    return QueryDepthError(
        f"The query exceeds the maximum depth of {maximum}.{actual}",
        extensions={"depth": {"requestedQueryDepth": depth, "maximumAvailable": maximum}},
    )


def text_depth_error(query: str) -> QueryDepthError | None:
    """Refuse text whose braces nest deeper than the limit, before parsing.

    Braces inside strings and comments are skipped. Fragments are not resolved here
    (`document_depth_error` does that); this only keeps the parser's recursion safe.
    """
    maximum = max_depth()
    depth = deepest = 0
    index, length = 0, len(query)
    while index < length:
        char = query[index]
        if char == "#":
            end = query.find("\n", index)
            index = length if end == -1 else end
        elif char == '"':
            if query.startswith('"""', index):
                end = query.find('"""', index + 3)
                index = length if end == -1 else end + 2
            else:
                index += 1
                while index < length and query[index] not in '"\n':
                    index += 2 if query[index] == "\\" else 1
        elif char == "{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > maximum + 1:  # the operation's own braces are level 1
                return _depth_error(maximum, None)
        elif char == "}":
            depth -= 1
        index += 1
    return None


def _selection_depth(selection_set, fragments, seen) -> int:
    if selection_set is None:
        return 0
    deepest = 0
    for selection in selection_set.selections:
        if isinstance(selection, Field):
            deepest = max(deepest, _selection_depth(selection.selection_set, fragments, seen))
        elif isinstance(selection, InlineFragment):
            deepest = max(
                deepest, _selection_depth(selection.selection_set, fragments, seen) - 1
            )
        elif isinstance(selection, FragmentSpread):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                continue  # unknown or cyclic: the standard validation reports it
            deepest = max(
                deepest,
                _selection_depth(fragment.selection_set, fragments, seen | {name}) - 1,
            )
    return deepest + 1


def document_depth_error(document_ast) -> QueryDepthError | None:
    """Depth of every operation, fragments included: a selection set is one level
    (`{ me { id } }` is 2)."""
    maximum = max_depth()
    fragments = {
        d.name.value: d for d in document_ast.definitions if isinstance(d, FragmentDefinition)
    }
    for definition in document_ast.definitions:
        if isinstance(definition, OperationDefinition):
            depth = _selection_depth(definition.selection_set, fragments, frozenset())
            if depth > maximum:
                return _depth_error(maximum, depth)
    return None


def _named(type_):
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def build_cost_map(schema) -> dict[str, dict[str, Any]]:
    """Saleor's cost-map format for the plugin's schema (saleor/graphql/query_cost_map.py)."""
    roots = {schema.get_query_type().name, schema.get_mutation_type().name}
    cost_map: dict[str, dict[str, Any]] = {}
    for type_name, type_ in schema.get_type_map().items():
        if type_name.startswith("__") or not isinstance(type_, GraphQLObjectType):
            continue
        fields = {}
        for field_name, field in type_.fields.items():
            complexity = _HEAVY_FIELDS.get((type_name, field_name), 1)
            if "first" in field.args:
                fields[field_name] = {"complexity": complexity, "multipliers": ["first"]}
            elif type_name in roots or (type_name, field_name) in _HEAVY_FIELDS:
                fields[field_name] = {"complexity": complexity}
        if fields:
            cost_map[type_name] = fields
    return cost_map


_cost_maps: dict[int, dict] = {}


def cost_map_for(schema) -> dict[str, dict[str, Any]]:
    key = id(schema)
    if key not in _cost_maps:
        _cost_maps[key] = build_cost_map(schema)
    return _cost_maps[key]


def validate_limits(schema, document_ast, variables) -> tuple[int, list | None]:
    """Saleor's own pre-execution rules with the plugin's cost map, plus depth:
    `(cost, errors or None)`."""
    from saleor.graphql.core.validators.alias_count_limit_rule import AliasCountLimitRule
    from saleor.graphql.core.validators.mutation_count_limit_rule import (
        MutationCountLimitRule,
    )
    from saleor.graphql.core.validators.query_cost import cost_validator

    if error := document_depth_error(document_ast):
        return 0, [error]
    maximum = settings.GRAPHQL_QUERY_MAX_COMPLEXITY
    validator = cost_validator(
        maximum_cost=maximum, variables=variables, cost_map=cost_map_for(schema)
    )
    rules: list = [AliasCountLimitRule, MutationCountLimitRule]
    if maximum:
        rules.insert(0, validator)
    errors = validate(schema, document_ast, rules)
    return validator.cost, errors or None


def cost_extensions(cost: int) -> dict:
    """What Saleor adds to every response while the cost limit is on
    (saleor/graphql/views.py `set_query_cost_on_result`)."""
    maximum = settings.GRAPHQL_QUERY_MAX_COMPLEXITY
    if not maximum:
        return {}
    return {"cost": {"requestedQueryCost": cost, "maximumAvailable": maximum}}
