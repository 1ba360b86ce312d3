/* saleor-store-credit reference storefront: pay (part of) a checkout with store credit.
 * Vanilla JS, no build. Everything coming from the APIs or the user is inserted as text
 * nodes (see h()), never as HTML. */
"use strict";
(function () {
  const SALEOR_API = new URL("/graphql/", location.origin).href;
  const PLUGIN_API = new URL("../graphql/", location.href).href;
  const TOKEN_KEY = "saleor-store-credit.token";
  const checkoutId = new URLSearchParams(location.search).get("checkout");

  // Saleor's API
  const LOGIN = "mutation($email:String!,$password:String!){ tokenCreate(email:$email,password:$password){ token errors{field code message} } }";
  const CHECKOUT = "query($id:ID){ checkout(id:$id){ id totalPrice{gross{amount currency}} subtotalPrice{gross{amount}} shippingPrice{gross{amount}} lines{id quantity variant{name product{name}} totalPrice{gross{amount}}} } }";
  const COMPLETE = "mutation($id:ID){ checkoutComplete(id:$id){ order{id number status chargeStatus total{gross{amount currency}}} errors{field code message} } }";
  // Paying with store credit: Saleor's own transaction flow (docs/storefront.md), the
  // gateway `saleor-store-credit` (the plugin's companion App).
  const GATEWAY = "saleor-store-credit";
  const GATEWAYS = "mutation($id:ID!){ paymentGatewayInitialize(id:$id){ gatewayConfigs{ id data errors{field code message} } errors{field code message} } }";
  const INITIALIZE = `mutation($id:ID!,$data:JSON){ transactionInitialize(id:$id,paymentGateway:{id:"${GATEWAY}",data:$data}){ transactionEvent{type message} data errors{field code message} } }`;
  // The plugin's API (docs/schema.graphql): the customer's balances only
  const ME_QUERY = "query{ me{ email storeCredit{ accounts{ id currency available{amount currency} } } } }";

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY), me: null, checkout: null, credit: null, order: null,
  };
  const $ = (selector) => document.querySelector(selector);

  // Element builder; strings become text nodes, so inserted text is always escaped.
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value != null && value !== false) node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child == null || child === false) continue;
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // Money: integer minor units, so "total - applied" is exact. 2 decimals, 0 for JPY (ISO 4217).
  function digits(currency) {
    try {
      return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
    } catch (err) {
      return 2;
    }
  }
  const toUnits = (amount, currency) => Math.round(Number(amount) * 10 ** digits(currency));
  const formatUnits = (units, currency) =>
    (units < 0 ? "\u2212" : "") + (Math.abs(units) / 10 ** digits(currency)).toFixed(digits(currency)) + " " + currency;
  const money = (amount, currency) => formatUnits(toUnits(amount, currency), currency);

  class ApiError extends Error {
    constructor(errors) {
      super(errors.map((e) => `${e.code}: ${e.message}`).join("; "));
      this.errors = errors;
    }
  }
  const codeOf = (error) => {
    const ext = error.extensions || {};
    return (ext.exception && ext.exception.code) || ext.code || "GRAPHQL_ERROR";
  };

  // POST {query, variables}; returns `data`, throws ApiError on transport or GraphQL errors.
  async function gql(url, query, variables) {
    const headers = { "Content-Type": "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    let response, body;
    try {
      response = await fetch(url, { method: "POST", headers, body: JSON.stringify({ query, variables: variables || {} }) });
      body = await response.json();
    } catch (err) {
      const message = response ? `HTTP ${response.status} ${response.statusText}` : String(err.message || err);
      throw new ApiError([{ code: "NETWORK_ERROR", message }]);
    }
    if (body && body.errors && body.errors.length) {
      throw new ApiError(body.errors.map((e) => ({ code: codeOf(e), message: e.message })));
    }
    if (!response.ok || !body || !body.data) {
      throw new ApiError([{ code: "HTTP_" + response.status, message: "Unexpected response from " + url }]);
    }
    return body.data;
  }

  // A mutation's payload, or throw its `errors`.
  function payload(data, field) {
    const result = data[field];
    if (!result) throw new ApiError([{ code: "NO_RESULT", message: `${field} returned nothing.` }]);
    if (result.errors && result.errors.length) throw new ApiError(result.errors);
    return result;
  }

  function forget() {
    state.token = state.me = state.credit = null;
    sessionStorage.removeItem(TOKEN_KEY);
  }

  // Reload the checkout (Saleor) and the customer's balance + checkout credit (plugin).
  async function load() {
    const jobs = [];
    const withCheckout = Boolean(checkoutId) && !state.order;
    if (withCheckout) {
      jobs.push(gql(SALEOR_API, CHECKOUT, { id: checkoutId }).then((data) => {
        state.checkout = data.checkout;
        if (!data.checkout) throw new ApiError([{ code: "NOT_FOUND", message: "Checkout not found." }]);
      }));
    }
    if (state.token) {
      jobs.push(gql(PLUGIN_API, ME_QUERY).then((data) => {
        state.me = data.me;
        if (!data.me) {
          forget();
          throw new ApiError([{ code: "NOT_A_CUSTOMER", message: "Log in with a customer account." }]);
        }
      }));
    }
    if (state.token && withCheckout) {
      // Saleor lists the gateway only for the checkout's own logged-in customer.
      jobs.push(gql(SALEOR_API, GATEWAYS, { id: checkoutId }).then((data) => {
        const entry = (payload(data, "paymentGatewayInitialize").gatewayConfigs || [])
          .find((gateway) => gateway.id === GATEWAY && gateway.data);
        state.credit = entry ? creditFrom(entry.data) : null;
      }));
    } else {
      state.credit = null;
    }
    const failed = (await Promise.allSettled(jobs)).filter((r) => r.status === "rejected");
    if (failed.length) {
      throw new ApiError(failed.flatMap((r) => r.reason.errors || [{ code: "ERROR", message: String(r.reason) }]));
    }
  }

  // The gateway's data {available, applied, leftToPay, currency} as the page shows it.
  function creditFrom(data) {
    const currency = data.currency;
    return {
      available: { amount: data.available || "0", currency },
      applied: data.applied ? { amount: data.applied, currency } : null,
      leftToPay: { amount: data.leftToPay, currency },
    };
  }

  // transactionInitialize with the store-credit gateway; throws the plugin's refusal.
  async function initialize(data) {
    const result = payload(await gql(SALEOR_API, INITIALIZE, { id: checkoutId, data }), "transactionInitialize");
    const refused = result.data && result.data.errors;
    if (refused && refused.length) throw new ApiError(refused);
    return result;
  }

  const errorNode = (e) =>
    h("p", { class: "error", "data-code": e.code }, h("strong", null, e.code || "ERROR"), ": ", e.message || "");

  // Run a user action: clear its error box, disable buttons, show errors, re-render.
  async function act(errorBox, action) {
    let box = $(errorBox);
    box.replaceChildren();
    document.querySelectorAll("button").forEach((button) => { button.disabled = true; });
    try {
      await action();
    } catch (err) {
      if (!(err instanceof ApiError)) console.error(err);
      const errors = err instanceof ApiError ? err.errors : [{ code: "ERROR", message: String((err && err.message) || err) }];
      if (state.token && errors.some((e) => /signature|decode|token|jwt/i.test(e.code || ""))) {
        forget();
        box = $("#login-errors");
        errors.push({ code: "SESSION_ENDED", message: "Please log in again." });
      }
      box.append(...errors.map(errorNode));
    } finally {
      render();
    }
  }

  function balanceText(currency) {
    const accounts = state.me.storeCredit.accounts;
    const shown = currency ? accounts.filter((a) => a.currency === currency) : accounts;
    if (!shown.length) return "Store credit: " + (currency ? money(0, currency) + " available" : "none");
    return "Store credit: " + shown.map((a) => money(a.available.amount, a.available.currency)).join(", ") + " available";
  }

  const row = (label, value, testid, cls) =>
    h("tr", { class: cls }, h("th", { scope: "row" }, label), h("td", { class: "num", "data-testid": testid }, value));

  function lineName(line) {
    const variant = line.variant || {};
    const product = (variant.product && variant.product.name) || "";
    return variant.name && variant.name !== product ? `${product} (${variant.name})` : product || variant.name || "Item";
  }

  function render() {
    const loggedIn = Boolean(state.token && state.me);
    const checkout = state.order ? null : state.checkout;
    const order = state.order;
    const currency = checkout ? checkout.totalPrice.gross.currency : order && order.total.gross.currency;
    const credit = state.credit;

    // 1. Account
    $("#login").hidden = loggedIn;
    $("#login button").disabled = false;
    $("#session").hidden = !loggedIn;
    $("#session").replaceChildren(...(loggedIn ? [
      h("p", null, "Logged in as ", h("strong", { "data-testid": "user" }, state.me.email), " ",
        h("button", { type: "button", class: "link", "data-action": "logout" }, "Log out")),
      h("p", { "data-testid": "balance" }, balanceText(currency)),
    ] : []));

    // 2. Order summary
    $("#checkout").hidden = !checkout;
    let toPay = 0;
    if (checkout) {
      const applied = credit && credit.applied ? toUnits(credit.applied.amount, currency) : 0;
      // what the card gateway would be asked for: Saleor's leftToPay for the gateway
      toPay = credit ? toUnits(credit.leftToPay.amount, currency)
        : Math.max(toUnits(checkout.totalPrice.gross.amount, currency) - applied, 0);
      $("#summary-lines").replaceChildren(...checkout.lines.map((line) => h("tr", null,
        h("td", null, lineName(line), h("span", { class: "muted" }, ` \u00d7 ${line.quantity}`)),
        h("td", { class: "num" }, money(line.totalPrice.gross.amount, currency)))));
      $("#summary-totals").replaceChildren(...[
        row("Subtotal", money(checkout.subtotalPrice.gross.amount, currency)),
        row("Shipping", money(checkout.shippingPrice.gross.amount, currency)),
        applied > 0 && row("Store credit", formatUnits(-applied, currency), "applied"),
        row("Total to pay", formatUnits(toPay, currency), "to-pay", "total"),
      ].filter(Boolean));
    }

    // 3. Payment method: store credit
    $("#payment").hidden = !(loggedIn && checkout);
    $("#credit-note").hidden = Boolean(credit);
    $("#credit-note").textContent = credit || !loggedIn ? ""
      : `Store credit can only be used on your own checkout; this one is not assigned to ${state.me.email}.`;
    $("#credit-controls").hidden = !credit;
    if (credit && checkout) {
      const use = $('[data-testid="use-credit"]');
      use.textContent = `Use store credit (${money(credit.available.amount, credit.available.currency)} available)`;
      use.disabled = toUnits(credit.available.amount, credit.available.currency) <= 0 || toPay <= 0;
      $('#credit-amount [name="creditAmount"]').step = String(10 ** -digits(currency));
      $("#credit-amount button").disabled = false;
      $("#credit-applied").replaceChildren(...(credit.applied ? [
        h("p", null, "Store credit applied: ", h("strong", null, money(credit.applied.amount, credit.applied.currency)),
          " ", h("button", { type: "button", "data-testid": "remove-credit", "data-action": "remove-credit" }, "Remove")),
      ] : []));
    }

    // 4. Place order / result
    $("#place").hidden = !checkout;
    $('[data-testid="place-order"]').disabled = false;
    $("#order-result").replaceChildren(...(order ? [
      h("section", { class: "success", "data-testid": "order-placed" },
        h("h2", null, `Order #${order.number} placed`),
        h("p", null, `Status: ${order.status} \u00b7 Payment: ${order.chargeStatus} \u00b7 Total: `,
          money(order.total.gross.amount, order.total.gross.currency))),
    ] : []));
  }

  const actions = {
    "logout": () => {
      forget();
      $("#login-errors").replaceChildren();
      render();
    },
    "use-credit": () => act("#credit-errors", async () => {
      // No amount: as much as possible (min of balance and what is left to pay).
      await initialize(null);
      await load();
    }),
    "remove-credit": () => act("#credit-errors", async () => {
      await initialize({ amount: "0" }); // amount 0 removes the store credit
      await load();
    }),
    "place-order": () => act("#order-errors", async () => {
      const result = payload(await gql(SALEOR_API, COMPLETE, { id: checkoutId }), "checkoutComplete");
      if (!result.order) throw new ApiError([{ code: "NO_ORDER", message: "Saleor did not create an order." }]);
      state.order = result.order;
      state.checkout = state.credit = null;
      await load(); // the balance after the order
    }),
  };

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button && !button.disabled && actions[button.dataset.action]) actions[button.dataset.action]();
  });

  $("#login").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const email = form.elements.email.value.trim();
    const password = form.elements.password.value;
    act("#login-errors", async () => {
      forget();
      const result = payload(await gql(SALEOR_API, LOGIN, { email, password }), "tokenCreate");
      state.token = result.token;
      sessionStorage.setItem(TOKEN_KEY, result.token);
      form.reset();
      await load();
    });
  });

  $("#credit-amount").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = event.currentTarget.elements.creditAmount;
    // Sent as a string: the plugin takes exact decimals and refuses binary floats.
    const amount = input.value.trim();
    act("#credit-errors", async () => {
      await initialize({ amount });
      input.value = "";
      await load();
    });
  });

  render();
  act("#page-errors", load);
  if (!checkoutId) {
    $("#page-errors").append(h("p", { class: "notice" },
      "No checkout given: open this page with ?checkout=<checkout ID> (a real storefront already has its checkout)."));
  }
})();
