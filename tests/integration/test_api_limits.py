"""The plugin's GraphQL endpoint has the limits of Saleor's own API (saleor/graphql/
views.py): request body size, query cost, aliases, mutations per request; plus a
depth limit, with the same error shape."""

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from saleor.graphql.api import API_PATH  # noqa: E402

from saleor_store_credit.graphql.limits import DEFAULT_MAX_DEPTH  # noqa: E402

from .fixtures import STORE_CREDIT_API  # noqa: E402
from .test_checkout import grant  # noqa: E402

RUNS = "runs%d: reimbursementRuns(first: 100) { id payouts(first: 100) { id } }"


@pytest.fixture
def finance(sc_client, staff_user, permission_manage_users, permission_manage_payments):
    grant(staff_user, permission_manage_users, permission_manage_payments)
    return sc_client(user=staff_user)


def test_a_normal_query_still_works_and_reports_its_cost(finance):
    content = finance.query("{ reimbursementRuns(first: 5) { id payouts(first: 10) { id } } }")

    assert content == {
        "data": {"reimbursementRuns": []},
        "extensions": {"cost": {"requestedQueryCost": 55, "maximumAvailable": 50000}},
    }


def test_an_over_costly_query_gets_saleors_query_cost_error(finance, settings):
    # given five aliases of 100 runs x 100 payouts: 5 * (100 + 100 * 100) = 50 500
    query = "{ %s }" % " ".join(RUNS % i for i in range(5))

    # when
    response = finance.post_graphql(query)

    # then the same answer Saleor's API gives (status 400, QueryCostError, no data)
    assert response.status_code == 400
    content = response.json()
    assert "data" not in content
    (error,) = content["errors"]
    assert error["message"] == (
        "The query exceeds the maximum cost of 50000. Actual cost is 50500"
    )
    assert error["extensions"] == {
        "cost": {"requestedQueryCost": 50500, "maximumAvailable": 50000},
        "exception": {"code": "QueryCostError"},
    }
    assert content["extensions"] == {
        "cost": {"requestedQueryCost": 50500, "maximumAvailable": 50000}
    }


def test_saleors_own_api_answers_an_over_costly_query_the_same_way(api_client, settings):
    # the reference: Saleor's own endpoint, with a limit our test query exceeds
    settings.GRAPHQL_QUERY_MAX_COMPLEXITY = 10
    response = api_client.post_graphql("{ products(first: 20, channel: \"x\") { edges { node { id } } } }")
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"]["exception"]["code"] == "QueryCostError"
    assert error["message"].startswith("The query exceeds the maximum cost of 10.")


def test_too_many_aliases_get_saleors_alias_error(finance, settings):
    settings.GRAPHQL_ALIAS_COUNT_LIMIT = 3
    query = "{ %s }" % " ".join(f"a{i}: reimbursementRuns(first: 1) {{ id }}" for i in range(4))

    response = finance.post_graphql(query)

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["message"] == "Number of aliases exceed the limit of 3"
    assert error["extensions"]["exception"]["code"] == "GraphQLError"


def test_an_oversized_body_gets_saleors_413(store_credit_plugin, client, settings):
    # given Django's request size limit, which Saleor's view turns into a 413
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = '{"query": "{ me { id } }", "variables": {"pad": "%s"}}' % ("x" * 200)

    expected = {"errors": [{
        "message": "Request body exceeds maximum size.",
        "extensions": {"exception": {"code": "GraphQLError"}},
    }]}

    # when
    ours = client.post(STORE_CREDIT_API, body, content_type="application/json")

    # then
    assert ours.status_code == 413
    assert ours.json() == expected
    from saleor_store_credit import compat

    if compat.saleor_series() >= (3, 23):
        # Saleor's own view answers the same from 3.23 (saleor/graphql/views.py,
        # RequestDataTooBig); before, the exception escapes its view
        saleors = client.post(API_PATH, body, content_type="application/json")
        assert saleors.status_code == 413
        assert saleors.json() == expected


def _nested_type_query(levels: int) -> str:
    # __type { ofType { ofType ... { name } } }: each level is one selection set
    inner = "name"
    for _ in range(levels):
        inner = f"ofType {{ {inner} }}"
    return "{ __type(name: \"Money\") { %s } }" % inner


@pytest.mark.parametrize("levels", [DEFAULT_MAX_DEPTH + 1, 50, 2000])
def test_an_over_deep_query_is_refused_before_it_runs(sc_client, customer_user, levels):
    response = sc_client(user=customer_user).post_graphql(_nested_type_query(levels))

    assert response.status_code == 400
    content = response.json()
    assert "data" not in content
    (error,) = content["errors"]
    assert error["message"].startswith(
        f"The query exceeds the maximum depth of {DEFAULT_MAX_DEPTH}.")
    assert error["extensions"]["exception"]["code"] == "QueryDepthError"


def test_depth_through_fragments_is_counted(sc_client, customer_user):
    # each fragment is shallow; together they nest past the limit
    count = DEFAULT_MAX_DEPTH
    fragments = " ".join(
        f"fragment F{i} on __Type {{ ofType {{ ...F{i + 1} }} }}" for i in range(count)
    ) + f" fragment F{count} on __Type {{ name }}"
    query = "{ __type(name: \"Money\") { ...F0 } } " + fragments

    response = sc_client(user=customer_user).post_graphql(query)

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["exception"]["code"] == "QueryDepthError"


def test_the_standard_introspection_query_is_within_the_limits(sc_client):
    from graphql.utils.introspection_query import introspection_query

    content = sc_client().query(introspection_query)

    assert "errors" not in content, content["errors"]
    assert content["data"]["__schema"]["queryType"]["name"] == "Query"


def test_too_many_mutations_in_one_request_get_saleors_error_and_none_runs(
    sc_client, staff_user, customer_user, permission_manage_users,
    permission_manage_payments, settings,
):
    # given Saleor's default of 4 mutations per request, and five adjustments
    import graphene

    from saleor_store_credit.models import Entry

    assert settings.GRAPHQL_MUTATION_COUNT_LIMIT == 4
    grant(staff_user, permission_manage_users, permission_manage_payments)
    customer = graphene.Node.to_global_id("User", customer_user.pk)
    query = "mutation { %s }" % " ".join(
        f'a{i}: storeCreditAdjust(customerId: "{customer}", amount: "1.00", '
        f'currency: "USD", reason: "r{i}") {{ errors {{ code }} }}'
        for i in range(5)
    )

    # when
    response = sc_client(user=staff_user).post_graphql(query)

    # then
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["message"] == "Number of mutations exceed the limit of 4"
    assert error["extensions"]["exception"]["code"] == "GraphQLError"
    assert not Entry.objects.exists()
