/* saleor-store-credit reference storefront: pay (part of) a checkout with store credit.
 * Vanilla JS, no build. Everything coming from the APIs or the user is inserted as text
 * nodes (see h()), never as HTML. The page's text is in messages.js (English, Dutch,
 * Swedish); money is formatted for the page's language. */
"use strict";
(function () {
  const SALEOR_API = new URL("/graphql/", location.origin).href;
  const PLUGIN_API = new URL("../graphql/", location.href).href;
  const TOKEN_KEY = "saleor-store-credit.token";
  const params = new URLSearchParams(location.search);
  const checkoutId = params.get("checkout");

  // Saleor's API
  const LOGIN = "mutation($email:String!,$password:String!){ tokenCreate(email:$email,password:$password){ token errors{field code message} } }";
  const LANGUAGE_QUERY = "query{ me{ languageCode } }";
  // Saleor's login refusals, shown in the page's language (messages.js "login.<code>")
  const LOGIN_ERRORS = ["INVALID_CREDENTIALS", "ACCOUNT_NOT_CONFIRMED", "INACTIVE"];
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
    customerLanguage: null, // the logged-in customer's (from Saleor's me.languageCode)
  };
  const $ = (selector) => document.querySelector(selector);

  // Language: the logged-in customer's Saleor languageCode; before login ?lang=, else the
  // first of the browser's languages the page has, else English. Like the plugin's
  // e-mails and error messages (saleor_store_credit/i18n.py): "nl-BE" is Dutch, "SV_FI"
  // Swedish, any other language English.
  const MESSAGES = window.storeCreditMessages || { en: {} };
  const DEFAULT_LANGUAGE = "en";
  const supported = (code) => {
    const base = String(code || "").trim().replace(/_/g, "-").split("-")[0].toLowerCase();
    return Object.prototype.hasOwnProperty.call(MESSAGES, base) ? base : null;
  };
  function guestLanguage() {
    const asked = supported(params.get("lang"));
    if (asked) return asked;
    for (const code of navigator.languages || [navigator.language]) {
      if (supported(code)) return supported(code);
    }
    return DEFAULT_LANGUAGE;
  }
  const language = () => (state.token && state.customerLanguage) || guestLanguage();
  const template = (key) => (MESSAGES[language()] || {})[key] || (MESSAGES.en || {})[key];
  // The text for `key` as parts for h(): {name} placeholders become `values.name`
  // (a string or a node), so values are inserted as text, never as HTML.
  function tn(key, values) {
    const text = template(key);
    if (text == null) return [key];
    return text.split(/\{(\w+)\}/).map((part, i) =>
      i % 2 ? (values && part in values ? values[part] : `{${part}}`) : part);
  }
  const t = (key, values) => tn(key, values).map(String).join("");
  const tOr = (key, fallback) => (template(key) == null ? fallback : t(key));

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
  // In the page's language: "$12.50" (en), "€ 12,50" (nl), "12,50 kr" (sv).
  function formatUnits(units, currency) {
    const places = digits(currency);
    const value = (units || 0) / 10 ** places; // `|| 0`: no "-0"
    try {
      return new Intl.NumberFormat(language(), {
        style: "currency", currency, minimumFractionDigits: places, maximumFractionDigits: places,
      }).format(value);
    } catch (err) {
      return (units < 0 ? "\u2212" : "") + Math.abs(value).toFixed(places) + " " + currency;
    }
  }
  const money = (amount, currency) => formatUnits(toUnits(amount, currency), currency);

  class ApiError extends Error {
    constructor(errors) {
      super(errors.map((e) => `${e.code}: ${e.message || e.key}`).join("; "));
      this.errors = errors;
    }
  }
  const codeOf = (error) => {
    const ext = error.extensions || {};
    return (ext.exception && ext.exception.code) || ext.code || "GRAPHQL_ERROR";
  };

  // POST {query, variables}; returns `data`, throws ApiError on transport or GraphQL errors.
  // The page's own errors carry a message key (messages.js), translated when shown.
  async function gql(url, query, variables) {
    // the plugin answers anonymous callers in their Accept-Language: the page's language
    const headers = { "Content-Type": "application/json", "Accept-Language": language() };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    let response, body;
    try {
      response = await fetch(url, { method: "POST", headers, body: JSON.stringify({ query, variables: variables || {} }) });
      body = await response.json();
    } catch (err) {
      const detail = response ? `HTTP ${response.status} ${response.statusText}` : String(err.message || err);
      throw new ApiError([{ code: "NETWORK_ERROR", key: "error.network", values: { detail } }]);
    }
    if (body && body.errors && body.errors.length) {
      throw new ApiError(body.errors.map((e) => ({ code: codeOf(e), message: e.message })));
    }
    if (!response.ok || !body || !body.data) {
      throw new ApiError([{ code: "HTTP_" + response.status, key: "error.unexpected", values: { url } }]);
    }
    return body.data;
  }

  // A mutation's payload, or throw its `errors`.
  function payload(data, field) {
    const result = data[field];
    if (!result) throw new ApiError([{ code: "NO_RESULT", key: "error.noResult", values: { field } }]);
    if (result.errors && result.errors.length) throw new ApiError(result.errors);
    return result;
  }

  function forget() {
    state.token = state.me = state.credit = state.customerLanguage = null;
    sessionStorage.removeItem(TOKEN_KEY);
  }

  // Reload the checkout (Saleor) and the customer's balance + checkout credit (plugin).
  async function load() {
    const jobs = [];
    const withCheckout = Boolean(checkoutId) && !state.order;
    if (withCheckout) {
      jobs.push(gql(SALEOR_API, CHECKOUT, { id: checkoutId }).then((data) => {
        state.checkout = data.checkout;
        if (!data.checkout) throw new ApiError([{ code: "NOT_FOUND", key: "error.checkoutNotFound" }]);
      }));
    }
    if (state.token) {
      jobs.push(gql(PLUGIN_API, ME_QUERY).then((data) => {
        state.me = data.me;
        if (!data.me) {
          forget();
          throw new ApiError([{ code: "NOT_A_CUSTOMER", key: "error.notACustomer" }]);
        }
      }));
      if (!state.customerLanguage) {
        jobs.push(gql(SALEOR_API, LANGUAGE_QUERY).then((data) => {
          // "NL", "NL_BE", "SV_FI", …; a language the page does not have: English
          state.customerLanguage = data.me ? supported(data.me.languageCode) || DEFAULT_LANGUAGE : null;
        }));
      }
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
      const errors = failed.flatMap((r) => r.reason.errors || [{ code: "ERROR", message: String(r.reason) }]);
      // one expired token fails every request alike: show it once
      const seen = new Set();
      throw new ApiError(errors.filter((e) => {
        const id = `${e.code}|${e.key || e.message}`;
        return !seen.has(id) && seen.add(id);
      }));
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

  // Shown in the language of the moment the action ended (after login: the customer's).
  const errorNode = (e) =>
    h("p", { class: "error", "data-code": e.code }, h("strong", null, e.code || "ERROR"), ": ",
      e.key ? tn(e.key, e.values) : e.message || "");

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
        errors.push({ code: "SESSION_ENDED", key: "error.sessionEnded" });
      }
      box.append(...errors.map(errorNode));
    } finally {
      render();
    }
  }

  function balanceText(currency) {
    const accounts = state.me.storeCredit.accounts;
    const shown = currency ? accounts.filter((a) => a.currency === currency) : accounts;
    if (!shown.length) {
      return currency ? t("balance.available", { amounts: money(0, currency) }) : t("balance.none");
    }
    const amounts = shown.map((a) => money(a.available.amount, a.available.currency)).join(", ");
    return t("balance.available", { amounts });
  }

  // The static text of index.html (data-i18n), the title and <html lang>.
  function translatePage() {
    document.documentElement.lang = language();
    document.querySelectorAll("[data-i18n]").forEach((node) => {
      node.textContent = t(node.dataset.i18n);
    });
  }

  const row = (label, value, testid, cls) =>
    h("tr", { class: cls }, h("th", { scope: "row" }, label), h("td", { class: "num", "data-testid": testid }, value));

  function lineName(line) {
    const variant = line.variant || {};
    const product = (variant.product && variant.product.name) || "";
    return variant.name && variant.name !== product ? `${product} (${variant.name})` : product || variant.name || t("summary.item");
  }

  function render() {
    const loggedIn = Boolean(state.token && state.me);
    const checkout = state.order ? null : state.checkout;
    const order = state.order;
    const currency = checkout ? checkout.totalPrice.gross.currency : order && order.total.gross.currency;
    const credit = state.credit;
    translatePage();

    // 1. Account
    $("#login").hidden = loggedIn;
    $("#login button").disabled = false;
    $("#session").hidden = !loggedIn;
    $("#session").replaceChildren(...(loggedIn ? [
      h("p", null, tn("session.as", { email: h("strong", { "data-testid": "user" }, state.me.email) }), " ",
        h("button", { type: "button", class: "link", "data-action": "logout" }, t("session.logout"))),
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
        row(t("summary.subtotal"), money(checkout.subtotalPrice.gross.amount, currency)),
        row(t("summary.shipping"), money(checkout.shippingPrice.gross.amount, currency)),
        applied > 0 && row(t("summary.credit"), formatUnits(-applied, currency), "applied"),
        row(t("summary.toPay"), formatUnits(toPay, currency), "to-pay", "total"),
      ].filter(Boolean));
    }

    // 3. Payment method: store credit
    $("#payment").hidden = !(loggedIn && checkout);
    $("#credit-note").hidden = Boolean(credit);
    $("#credit-note").textContent = credit || !loggedIn ? ""
      : t("payment.notOwn", { email: state.me.email });
    $("#credit-controls").hidden = !credit;
    if (credit && checkout) {
      const use = $('[data-testid="use-credit"]');
      use.textContent = t("credit.useAvailable", { amount: money(credit.available.amount, credit.available.currency) });
      use.disabled = toUnits(credit.available.amount, credit.available.currency) <= 0 || toPay <= 0;
      $('#credit-amount [name="creditAmount"]').step = String(10 ** -digits(currency));
      $("#credit-amount button").disabled = false;
      $("#credit-applied").replaceChildren(...(credit.applied ? [
        h("p", null, tn("credit.applied", { amount: h("strong", null, money(credit.applied.amount, credit.applied.currency)) }),
          " ", h("button", { type: "button", "data-testid": "remove-credit", "data-action": "remove-credit" }, t("credit.remove"))),
      ] : []));
    }

    // 4. Place order / result
    $("#place").hidden = !checkout;
    $('[data-testid="place-order"]').disabled = false;
    $("#order-result").replaceChildren(...(order ? [
      h("section", { class: "success", "data-testid": "order-placed" },
        h("h2", null, t("order.placed", { number: order.number })),
        h("p", null, t("order.details", {
          status: tOr("status." + order.status, order.status),
          payment: tOr("charge." + order.chargeStatus, order.chargeStatus),
          total: money(order.total.gross.amount, order.total.gross.currency),
        }))),
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
      if (!result.order) throw new ApiError([{ code: "NO_ORDER", key: "error.noOrder" }]);
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
      const data = await gql(SALEOR_API, LOGIN, { email, password });
      const refused = (data.tokenCreate && data.tokenCreate.errors) || [];
      if (refused.length) {
        throw new ApiError(refused.map((e) =>
          (LOGIN_ERRORS.includes(e.code) ? { ...e, key: "login." + e.code } : e)));
      }
      const result = payload(data, "tokenCreate");
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
    // data-i18n: re-translated with the page (after login, in the customer's language)
    $("#page-errors").append(h("p", { class: "notice", "data-i18n": "notice.noCheckout" }, t("notice.noCheckout")));
  }
})();
