"""Smoke check against a real Saleor server: the plugin is listed by Saleor's
`plugins` query, its migrations are applied, and its endpoint answers over HTTP.

    SALEOR_PYTHON=... SALEOR_SRC=... make smoke
"""

import json
import sys

from saleor_server import DEMO_PASSWORD as PASSWORD
from saleor_server import SETUP_USERS, Saleor, fail

def show(label, data):
    print(f"   {label}: {json.dumps(data, indent=None)[:600]}")


def main():
    saleor = Saleor(database="saleor_store_credit_demo", port=8765)
    saleor.install_plugin()
    saleor.ensure_database()
    saleor.migrate()
    saleor.shell(SETUP_USERS)
    saleor.start_api()
    try:
        staff = saleor.token("staff@example.com", PASSWORD)
        shopper = saleor.token("shopper@example.com", PASSWORD)

        saleor.step("Saleor `plugins` query lists the plugin")
        listed = saleor.saleor(
            '{ plugins(first: 100, filter: {search: "store credit"}) { edges { node'
            " { id name globalConfiguration { active configuration { name value } } } } } }",
            token=staff,
        )
        nodes = [e["node"] for e in listed["data"]["plugins"]["edges"]]
        show("plugins", [(n["id"], n["name"]) for n in nodes])
        if not any(n["id"] == "saleor-store-credit" for n in nodes):
            fail("plugin not listed")

        saleor.step("activating it with pluginUpdate (what the Dashboard toggle does)")
        updated = saleor.saleor(
            'mutation { pluginUpdate(id: "saleor-store-credit", input: {active: true}) '
            "{ plugin { globalConfiguration { active } } errors { field message } } }",
            token=staff,
        )
        show("pluginUpdate", updated["data"]["pluginUpdate"])

        customer_id = saleor.saleor("{ me { id } }", token=shopper)["data"]["me"]["id"]

        saleor.step("staff: storeCreditAdjust +25.50 USD")
        adjusted = saleor.store_credit(
            """mutation ($id: ID!) { storeCreditAdjust(customerId: $id, amount: "25.50",
               currency: "USD", reason: "smoke test", idempotencyKey: "smoke-1") {
               entry { kind direction amount { amount currency } }
               account { balance { amount currency } available { amount } }
               errors { field code message } } }""",
            {"id": customer_id}, token=staff,
        )
        show("storeCreditAdjust", adjusted)

        saleor.step("shopper: me { storeCredit }")
        me = saleor.store_credit(
            "{ me { email storeCredit { accounts { currency balance { amount } available"
            " { amount } } entries(first: 5) { totalCount edges { node { kind amount"
            " { amount } reason } } } } } }",
            token=shopper,
        )
        show("me", me)

        saleor.step("staff: customerStoreCredit")
        staff_view = saleor.store_credit(
            "query ($id: ID!) { customerStoreCredit(customerId: $id) { email storeCredit"
            " { accounts { currency balance { amount } } } } }",
            {"id": customer_id}, token=staff,
        )
        show("customerStoreCredit", staff_view)

        saleor.step("shopper may not adjust")
        denied = saleor.store_credit(
            'mutation ($id: ID!) { storeCreditAdjust(customerId: $id, amount: "1",'
            ' currency: "USD", reason: "x") { errors { code } } }',
            {"id": customer_id}, token=shopper,
        )
        show("denied", denied)

        ok = (
            me["data"]["me"]["storeCredit"]["accounts"]
            and staff_view["data"]["customerStoreCredit"]["email"] == "shopper@example.com"
            and denied["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"
        )
        print("smoke:", "OK" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        saleor.stop()


if __name__ == "__main__":
    sys.exit(main())
