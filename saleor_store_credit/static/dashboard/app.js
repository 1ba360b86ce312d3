/* Store credit – staff UI shown by the Saleor Dashboard in an iframe (App extension).
   Plain ES2020, no build step, no external resources. All text goes into the DOM as text nodes. */
"use strict";
(() => {
  // ------------------------------------------------------------------ constants and GraphQL documents
  const RULE_TYPES = ["LIMIT_EXCEEDED", "LIMIT_USED_PERCENT", "OVERDUE_AMOUNT", "ORDER_VALUE", "LIMIT_EXPIRED",
    "ACCOUNT_ON_HOLD", "PAYMENT_METHOD", "DAYS_OVERDUE"];
  const RULE_ACTIONS = ["WARN", "HOLD", "BLOCK"];
  const RULE_SCOPES = ["ALL", "GROUP", "CUSTOMER"];
  const HOLD_STATUSES = ["HELD", "RELEASE_REQUESTED", "RELEASED", "REJECTED", "CONFIRMED_OUTSIDE", "CANCELLED_OUTSIDE"];
  const ADJ_STATUSES = ["DRAFT", "SUBMITTED", "APPROVED", "POSTED", "REJECTED"];
  const DELIVERY_STATUSES = ["PENDING", "DELIVERED", "FAILED"];
  const SCORE_KINDS = ["ORDER_COUNT", "ORDER_VALUE", "AVERAGE_DAYS_TO_PAY", "REFUNDED_SHARE", "MONTHS_AS_CUSTOMER",
    "OVERDUE_AMOUNT", "MANUAL"];
  const FORCED_CONDITIONS = ["DAYS_OVERDUE", "OVERDUE_AMOUNT", "RISK_CLASS"];
  const NEXT_ACTIONS = { DRAFT: ["SUBMIT"], SUBMITTED: ["APPROVE", "REJECT"], APPROVED: ["POST"] };
  const ACTION_LABELS = { SUBMIT: "Submit", APPROVE: "Approve", REJECT: "Reject", POST: "Post" };
  const LIST_VIEWS = [
    ["holds", "Held orders", "Orders on credit hold: release or reject them."],
    ["credit", "Credit limits & rules", "Credit groups, blocking rules and the limit adjustment journal."],
    ["risk", "Risk & forced holds", "Scoring groups, risk classes, automatic limits, forced credit holds."],
    ["reimbursement", "Reimbursement", "Pay out store credit balances and track the payouts."],
    ["webhooks", "Webhooks", "Store credit webhook deliveries; redeliver failed ones."]];

  const MONEY = "{ amount currency }";
  const ERR = "{ field code message }";
  const LIMIT = `{ currency amount ${MONEY} unlimited temporary validTo expiresOn }`;
  const HOLD = `id orderId orderNumber customerId customerEmail channel status active total ${MONEY} exposure ${MONEY}
    reasons { ruleName ruleType action message } reviewDate resolutionReason requestedBy resolvedBy createdAt resolvedAt
    forced readyToRelease readyToReleaseAt`;
  const RULE = `id name ruleType action scope groupId customerId currency threshold days paymentMethods
    excludedCustomerIds excludedGroupIds riskClassId isActive`;
  const COVER = `id kind provider coverType reference amount ${MONEY} validFrom validTo active cancelledAt cancelReason recordedBy`;
  const SCORE_RUN = "id status total processed percent classChanges proposals error startedBy startedAt finishedAt";
  const ADJ = `id customerId groupId currency amount ${MONEY} unlimited temporary validFrom validTo expiresOn reason status
    createdBy { type label } submittedBy approvedBy postedBy createdAt postedAt`;
  const RUN = `id currency minimumAmount ${MONEY} status progress { selected processed percent } payoutCount total ${MONEY}
    createdAt startedAt finishedAt`;
  const PAYOUT = `id customerId amount ${MONEY} status payeeName payeeEmail payeeAddress payoutAccount detailsMissing
    reference note createdAt resolvedAt`;
  const Q = {
    customer: `query Customer($id: ID!, $after: String) { customerStoreCredit(customerId: $id) { id email storeCredit {
      accounts { id currency balance ${MONEY} held ${MONEY} available ${MONEY} expiring ${MONEY} nextExpiry updatedAt }
      entries(first: 20, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node {
        id kind direction amount ${MONEY} balanceAfter ${MONEY} reason orderId actorType actorLabel createdAt } } } } } }`,
    credit: `query Credit($id: ID!, $cur: String!) { customerCredit(customerId: $id, currency: $cur) {
      currency onHold onHoldReason heldOrders group { id name } limit ${LIMIT} groupLimit ${LIMIT}
      exposure ${MONEY} groupExposure ${MONEY} availableCredit ${MONEY}
      limitWithoutCover ${LIMIT} insuranceCover ${MONEY} covers { ${COVER} }
      riskScore { score riskClass { name } scoringGroup computedAt classChangedAt details { kind name weight value points }
        manualValues { key value setBy updatedAt } }
      forcedHold { id status ruleName message createdAt } } }`,
    groups: "query Groups { creditGroups { id name description memberIds memberEmails } }",
    order: `query Order($id: ID!) { order(id: $id) { id number status userEmail user { id email }
      total { gross { amount currency } } lines { id productName variantName quantity unitPrice { gross { amount } } }
      transactions { id name chargedAmount { amount } refundedAmount { amount } authorizedAmount { amount } } } }`,
    hold: `query Hold($id: ID!) { orderCreditHold(id: $id) { ${HOLD} } }`,
    holds: `query Holds($status: OrderCreditHoldStatus, $reason: CreditRuleType, $channel: String, $older: Int,
      $ready: Boolean, $forced: Boolean) {
      orderCreditHolds(status: $status, reason: $reason, channel: $channel, olderThanHours: $older, readyToRelease: $ready,
        forced: $forced, first: 100) { ${HOLD} } }`,
    risk: `query Risk { creditScoringGroups { id name description creditGroupId creditGroupName isActive
        scoreTypes { kind name weight periodDays days currency manualKey bands { from to points } } }
      creditRiskClasses { id name description minScore }
      creditAutomaticLimitRules { id name riskClass { id name } currency amount ${MONEY} unlimited conditionKind conditionKey
        conditionMin validDays isActive proposer { label } }
      creditForcedHoldRules { id name condition days threshold currency groupId riskClass { id name } isActive changedBy }
      creditForcedHolds(first: 100) { id customerId customerEmail ruleName message createdAt }
      creditRiskScoreRuns(first: 10) { ${SCORE_RUN} } }`,
    rules: `query Rules { creditBlockingRules { ${RULE} } }`,
    adjustments: `query Adjustments($status: CreditLimitAdjustmentStatus) {
      creditLimitAdjustments(status: $status, first: 100) { ${ADJ} } }`,
    runs: `query Runs { reimbursementRuns(first: 50) { ${RUN} } }`,
    run: `query Run($id: ID!, $after: Int, $withCsv: Boolean!) { reimbursementRun(id: $id) { ${RUN}
      csv @include(if: $withCsv) payouts(first: 100, afterId: $after) { ${PAYOUT} } } }`,
    preview: `query Preview($input: ReimbursementRunInput!) { reimbursementRunPreview(input: $input) {
      count skipped total ${MONEY} accounts { customerId email amount ${MONEY} detailsMissing } } }`,
    deliveries: `query Deliveries($status: StoreCreditWebhookDeliveryStatus, $event: String) {
      storeCreditWebhookDeliveries(first: 100, status: $status, event: $event) {
        id event eventId targetUrl status attempts lastStatusCode lastError nextAttemptAt createdAt deliveredAt } }`,
  };
  // A mutation whose variables are named like the field's arguments: mut("f", "$id: ID!") -> mutation($id: ID!) { f(id: $id) … }
  const mut = (name, vars, result = "") => (!vars ? `mutation { ${name} { errors ${ERR} ${result} } }`
    : `mutation(${vars}) { ${name}(${vars.split(",").map((v) => v.split(":")[0].trim())
      .map((v) => `${v.slice(1)}: ${v}`).join(", ")}) { errors ${ERR} ${result} } }`);
  const M = {
    adjust: mut("storeCreditAdjust", "$customerId: ID!, $amount: Decimal!, $currency: String!, $reason: String!, "
      + "$notifyCustomer: Boolean, $idempotencyKey: String", "account { id }"),
    limitSet: mut("creditLimitSet", "$input: CreditLimitInput!", "adjustment { id status }"),
    profile: mut("customerCreditProfileUpdate", "$customerId: ID!, $currency: String!, $onHold: Boolean, $onHoldReason: String, "
      + "$groupId: ID, $removeFromGroup: Boolean"),
    release: mut("orderCreditHoldRelease", "$id: ID!, $reason: String!, $reviewDate: Date", "hold { id status active }"),
    reject: mut("orderCreditHoldReject", "$id: ID!, $reason: String!", "hold { id status active }"),
    memo: mut("orderCreditMemoCreate", "$orderId: ID!, $input: CreditMemoInput!, $idempotencyKey: String",
      `creditMemo { id amount ${MONEY} fromStoreCredit ${MONEY} fromOtherMethods ${MONEY} }`),
    groupSave: mut("creditGroupSave", "$input: CreditGroupInput!", "group { id }"),
    ruleSave: mut("creditBlockingRuleSave", "$id: ID, $input: CreditBlockingRuleInput!", "rule { id }"),
    ruleDelete: mut("creditBlockingRuleDelete", "$id: ID!", "deletedId"),
    adjCreate: mut("creditLimitAdjustmentCreate", "$input: CreditLimitInput!", "adjustment { id status }"),
    adjStatus: mut("creditLimitAdjustmentUpdateStatus", "$id: ID!, $action: CreditLimitAdjustmentAction!", "adjustment { id status }"),
    runStart: mut("reimbursementRunStart", "$input: ReimbursementRunInput!, $idempotencyKey: String", "run { id }"),
    redeliver: mut("storeCreditWebhookRedeliver", "$id: ID!", "delivery { id status }"),
    coverSave: mut("customerCreditCoverSave", "$id: ID, $input: CreditCoverInput!", "cover { id }"),
    coverCancel: mut("customerCreditCoverCancel", "$id: ID!, $reason: String!", "cover { id }"),
    manualSet: mut("customerManualScoreSet", "$customerId: ID!, $key: String!, $value: Decimal", "value { key }"),
    lift: mut("customerForcedHoldLift", "$customerId: ID!, $reason: String!, $until: Date", "forcedHold { status }"),
    evaluate: mut("orderCreditHoldsEvaluate", "$customerId: ID", "evaluation { released ready updated unchanged inactive }"),
    scoringSave: mut("creditScoringGroupSave", "$id: ID, $input: CreditScoringGroupInput!", "scoringGroup { id }"),
    scoringDelete: mut("creditScoringGroupDelete", "$id: ID!", "deletedId"),
    classSave: mut("creditRiskClassSave", "$id: ID, $input: CreditRiskClassInput!", "riskClass { id }"),
    classDelete: mut("creditRiskClassDelete", "$id: ID!", "deletedId"),
    autoSave: mut("creditAutomaticLimitRuleSave", "$id: ID, $input: CreditAutomaticLimitRuleInput!", "rule { id }"),
    autoDelete: mut("creditAutomaticLimitRuleDelete", "$id: ID!", "deletedId"),
    forcedSave: mut("creditForcedHoldRuleSave", "$id: ID, $input: CreditForcedHoldRuleInput!", "rule { id }"),
    forcedDelete: mut("creditForcedHoldRuleDelete", "$id: ID!", "deletedId"),
    forcedApply: mut("creditForcedHoldsApply", "", "counts { placed already liftedInForce rearmed ordersMarked }"),
    scoresUpdate: mut("creditRiskScoresUpdate", "", `run { ${SCORE_RUN} }`),
  };
  const payoutMutation = (name) => mut(name, "$id: ID!, $idempotencyKey: String, $note: String, $reference: String", "payout { id status }");

  // ------------------------------------------------------------------ authentication (Saleor AppBridge)
  const state = { token: null };
  const PLUGIN_API = new URL("../graphql/", location.href).toString();
  const SALEOR_API = (() => {
    const given = new URLSearchParams(location.search).get("saleorApiUrl");
    try {
      const url = given && new URL(given, location.href);
      if (url && /^https?:$/.test(url.protocol)) return url.toString();
    } catch (_) { /* fall through */ }
    return new URL("/graphql/", location.origin).toString();
  })();
  const randomKey = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  window.addEventListener("message", (ev) => {
    const data = ev.data;
    if (!data || typeof data !== "object" || data.type !== "handshake") return;
    if (ev.source && ev.source !== window.parent) return; // only the embedding Dashboard
    const token = data.payload && data.payload.token;
    if (typeof token !== "string" || !token) return;
    const first = !state.token;
    state.token = token; // a newer handshake replaces the token
    if (!first) return;
    document.getElementById("waiting").hidden = true;
    document.getElementById("app").hidden = false;
    render();
  });
  try { window.parent.postMessage({ type: "notifyReady", payload: { actionId: randomKey() } }, "*"); } catch (_) { /* ignore */ }

  // ------------------------------------------------------------------ GraphQL client
  class ApiError extends Error { constructor(list) { super(list.map(fmtError).join("\n")); this.list = list; } }
  function fmtError(e) {
    const ext = e.extensions || {};
    const code = e.code || (ext.exception && ext.exception.code) || ext.code;
    return `${code ? code + ": " : ""}${e.message || "Unknown error"}${e.field ? ` (field: ${e.field})` : ""}`;
  }
  const errText = (e) => (e instanceof ApiError ? e.message : `Error: ${(e && e.message) || e}`);
  async function gql(url, query, variables = {}) {
    if (!state.token) throw new Error("Not authenticated yet.");
    const res = await fetch(url, { method: "POST", body: JSON.stringify({ query, variables }),
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${state.token}` } });
    const body = await res.json().catch(() => null);
    if (body && Array.isArray(body.errors) && body.errors.length) throw new ApiError(body.errors);
    if (!body || !body.data) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    return body.data;
  }
  const api = (query, variables) => gql(PLUGIN_API, query, variables);
  async function mutate(query, variables) { // returns the payload; its `errors` become an ApiError
    const payload = Object.values(await api(query, variables))[0];
    if (!payload) throw new Error("Empty response.");
    if (payload.errors && payload.errors.length) throw new ApiError(payload.errors);
    return payload;
  }

  // ------------------------------------------------------------------ DOM helpers
  const param = (name) => new URLSearchParams(location.search).get(name) || "";
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const kid of kids.flat(Infinity)) if (kid != null && kid !== false) el.append(kid instanceof Node ? kid : String(kid));
    return el;
  }
  const input = (name, attrs = {}) => h("input", { name, type: "text", ...attrs });
  const field = (label, control, cls = "") => h("label", { class: `field ${cls}` }, h("span", {}, label), control);
  const check = (name, label, checked) => h("label", { class: "check" }, h("input", { type: "checkbox", name, checked }), ` ${label}`);
  const submit = (label, cls = "primary") => h("button", { type: "submit", class: `btn ${cls}` }, label);
  const button = (label, onclick, cls = "", attrs = {}) => h("button", { type: "button", class: `btn ${cls}`, onclick, ...attrs }, label);
  const btn = (label, onclick, cls = "", attrs = {}) => button(label, onclick, `small ${cls}`, attrs);
  const row = (...kids) => h("div", { class: "row" }, kids);
  const actions = (...kids) => h("div", { class: "actions" }, kids);
  const card = (title, ...kids) => h("section", { class: "card" }, title ? h("h2", {}, title) : null, kids);
  const badge = (text, cls = "") => h("span", { class: `badge ${cls} s-${text}` }, text);
  const muted = (text) => h("span", { class: "muted" }, text);
  const csvList = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
  const isoOrNull = (v) => (v ? new Date(v).toISOString() : null);
  const select = (name, options, { empty, selected, multiple } = {}) => h("select", { name, multiple },
    empty != null ? h("option", { value: "" }, empty) : null,
    options.map((o) => (Array.isArray(o) ? o : [o, o])).map(([value, label]) => h("option", { value, selected: value === selected }, label)));
  function table(testid, headers) {
    const el = h("table", { class: "grid", "data-testid": testid }, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))));
    return Object.assign(el, { tbody: el.appendChild(h("tbody")), cols: headers.length });
  }
  const tr = (attrs, cells) => h("tr", attrs, cells.map((c) => h("td", {}, c)));
  function fill(tbl, rows, emptyText) {
    tbl.tbody.replaceChildren(...rows);
    if (!rows.length) tbl.tbody.append(h("tr", { class: "empty" }, h("td", { colspan: tbl.cols }, emptyText)));
  }
  const dl = (pairs) => h("dl", { class: "kv" },
    pairs.filter(Boolean).map(([k, v, testid]) => [h("dt", {}, k), h("dd", { "data-testid": testid }, v)]));
  const msgBox = () => h("div", { class: "msg", role: "status", "aria-live": "polite" });
  const setMsg = (el, kind, text) => { el.className = kind ? `msg ${kind}` : "msg"; el.textContent = text || ""; };
  const success = (msg, text, ...reloads) => { setMsg(msg, "success", text); return Promise.all(reloads.map((f) => f())); };
  async function act(msg, el, fn) { // run an action: disable its button, show failures in `msg`
    if (el) el.disabled = true;
    setMsg(msg);
    try { await fn(); } catch (e) { setMsg(msg, "error", errText(e)); } finally { if (el) el.disabled = false; }
  }
  function onSubmit(form, msg, fn) { // fn gets the form's elements; the submit button is disabled meanwhile
    form.addEventListener("submit", (ev) => { ev.preventDefault(); act(msg, form.querySelector("button[type=submit]"), () => fn(form.elements)); });
    return form;
  }

  // ------------------------------------------------------------------ formatting
  const decimals = (cur) => (cur === "JPY" || cur === "KRW" ? 0 : 2);
  const num = (amount, cur) => new Intl.NumberFormat(undefined,
    { minimumFractionDigits: decimals(cur), maximumFractionDigits: decimals(cur) }).format(Number(amount));
  const money = (m) => (m && m.amount != null ? `${num(m.amount, m.currency)} ${m.currency || ""}`.trim() : "—");
  const fixed = (m) => (m ? `${Number(m.amount).toFixed(decimals(m.currency))} ${m.currency}` : "—");
  const when = (s) => (!s ? "—" : isNaN(new Date(s)) ? String(s) : new Date(s).toLocaleString());
  function age(s) {
    const minutes = Math.floor((Date.now() - new Date(s).getTime()) / 60000);
    if (!(minutes >= 0)) return "—";
    const hours = Math.floor(minutes / 60);
    return minutes < 60 ? `${minutes}m` : hours < 48 ? `${hours}h` : `${Math.floor(hours / 24)}d ${hours % 24}h`;
  }
  const gidPart = (gid, i) => { try { return atob(gid).split(":")[i]; } catch (_) { return undefined; } };
  const gidLabel = (gid) => (gidPart(gid, 1) ? `${gidPart(gid, 0)} ${gidPart(gid, 1)}` : gid);
  const gidPk = (gid) => parseInt(gidPart(gid, 1), 10) || null;
  const reasonsList = (reasons) => (reasons && reasons.length ? h("ul", { class: "reasons" },
    reasons.map((r) => h("li", { title: `${r.ruleName} · ${r.ruleType} · ${r.action}` }, r.message))) : "—");
  const limitNode = (l) => (!l ? "No limit" : [l.unlimited ? "Unlimited" : money(l.amount),
    l.temporary ? [" ", badge("TEMPORARY", "warn"), l.validTo ? muted(` until ${when(l.validTo)}`) : null] : null,
    l.expiresOn ? muted(` · expires ${l.expiresOn}`) : null]);

  // ------------------------------------------------------------------ routing (client side: the token lives in memory)
  function href(view, extra = {}) {
    const url = new URL(location.href);
    if (view) url.searchParams.set("view", view); else url.searchParams.delete("view");
    for (const [k, v] of Object.entries(extra)) if (v == null) url.searchParams.delete(k); else url.searchParams.set(k, v);
    return url.pathname + url.search;
  }
  const navLink = (view, label, extra) => h("a", { href: href(view, extra), "data-nav": "" }, label);
  const go = (url) => { history.pushState(null, "", url); render(); };
  document.addEventListener("click", (ev) => {
    const a = ev.target.closest && ev.target.closest("a[data-nav]");
    if (!a || ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    go(a.getAttribute("href"));
  });
  window.addEventListener("popstate", () => { if (state.token) render(); });

  // more screens (terms.js): sections appended to the customer and order views
  const SECTIONS = { customer: [], order: [] };
  const VIEWS = { customer: viewCustomer, order: viewOrder, holds: viewHolds, credit: viewCredit, risk: viewRisk,
    reimbursement: viewReimbursement, webhooks: viewWebhooks };
  function render() {
    // Extension pages are <appUrl>/<view> (the Dashboard joins APP_PAGE URLs onto the
    // app URL); in-app navigation uses ?view=.
    const view = param("view") || location.pathname.split("/").filter(Boolean).pop();
    const main = h("main", { class: "content", "data-view": VIEWS[view] ? view : "home" });
    const nav = h("nav", { class: "topnav", "data-testid": "nav" }, h("a", { href: href(null), "data-nav": "", class: "brand" }, "Store credit"),
      LIST_VIEWS.map(([v, label]) => h("a", { href: href(v), "data-nav": "", "data-testid": `nav-${v}`, class: v === view ? "active" : null }, label)));
    document.getElementById("app").replaceChildren(nav, main);
    Promise.resolve().then(() => (VIEWS[view] || viewHome)(main)).catch((e) => main.append(h("div", { class: "msg error" }, errText(e))));
  }

  // ------------------------------------------------------------------ home
  function viewHome(main) {
    const open = (view, key, label) => {
      const f = h("form", { class: "inline-form" }, row(field(label, input(key, { required: true, placeholder: "Global ID" })), submit("Open", "")));
      f.addEventListener("submit", (ev) => { ev.preventDefault(); go(href(view, { [key]: f.elements[key].value.trim() })); });
      return f;
    };
    main.append(h("h1", {}, "Store credit"), card(null,
      h("ul", { class: "home", "data-testid": "home" }, LIST_VIEWS.map(([v, label, text]) => h("li", {}, navLink(v, label), muted(` — ${text}`)))),
      h("p", { class: "muted" }, "The customer and order views open from the customer and order pages of the Dashboard."),
      open("customer", "customerId", "Customer ID"), open("order", "orderId", "Order ID")));
  }

  // ------------------------------------------------------------------ A. customer
  function viewCustomer(main) {
    const id = param("customerId") || param("id");
    if (!id) return main.append(h("div", { class: "msg error" }, "No customer ID given (customerId)."));
    const title = h("h1", {}, "Store credit"), accMsg = msgBox();
    const accounts = h("div", { class: "cards", "data-testid": "accounts" }, muted("Loading…"));
    const hist = table("history", ["Date", "Kind", "Direction", "Amount", "Balance after", "Reason", "Actor"]);
    const more = button("Load more", () => act(accMsg, more, () => load(true)), "", { hidden: true, "data-testid": "load-more" });
    let cursor = null;

    async function load(append = false) {
      const c = (await api(Q.customer, { id, after: append ? cursor : null })).customerStoreCredit;
      if (!c) {
        accounts.replaceChildren(muted("Customer not found."));
        more.hidden = true;
        return fill(hist, [], "No entries.");
      }
      title.textContent = `Store credit · ${c.email}`;
      const accs = c.storeCredit.accounts;
      accounts.replaceChildren(...(accs.length ? accs.map(accountCard) : [muted("No store credit yet.")]));
      const conn = c.storeCredit.entries;
      const rows = conn.edges.filter((e) => e && e.node).map(({ node: e }) => tr(
        { "data-testid": "history-row", class: e.direction === "DEBIT" ? "debit" : "credit" },
        [when(e.createdAt), e.kind, e.direction, money(e.amount), money(e.balanceAfter),
          [e.reason || "—", e.orderId ? [" ", navLink("order", "(order)", { orderId: e.orderId })] : null],
          e.actorLabel ? `${e.actorLabel} (${e.actorType})` : e.actorType]));
      if (append) hist.tbody.append(...rows); else fill(hist, rows, "No entries yet.");
      cursor = conn.pageInfo.endCursor;
      more.hidden = !conn.pageInfo.hasNextPage;
    }
    const accountCard = (a) => h("div", { class: "card account" }, h("h3", {}, a.currency),
      h("div", { class: "big", "data-testid": `balance-${a.currency}` }, fixed(a.available), muted(" available")),
      dl([["Balance", money(a.balance)], ["Held", money(a.held)],
        ["Expiring", [money(a.expiring), a.nextExpiry ? muted(` · next ${when(a.nextExpiry)}`) : null]], ["Updated", when(a.updatedAt)]]));
    const reloadAccount = () => load(false).catch((e) => setMsg(accMsg, "error", errText(e)));

    const adjMsg = msgBox();
    const adjust = h("form", { class: "card", "data-testid": "adjust-form" }, h("h2", {}, "Adjust balance"),
      row(field("Amount", input("amount", { type: "number", step: "any", required: true, placeholder: "25 or -10" })),
        field("Currency", input("currency", { value: "USD", maxlength: 3, size: 4, required: true }))),
      row(field("Reason", input("reason", { required: true }), "grow")), row(check("notify", "Notify customer")),
      actions(submit("Adjust balance")), adjMsg);
    onSubmit(adjust, adjMsg, async (e) => {
      await mutate(M.adjust, { customerId: id, amount: e.amount.value.trim(), currency: e.currency.value.trim().toUpperCase(),
        reason: e.reason.value.trim(), notifyCustomer: e.notify.checked, idempotencyKey: randomKey() });
      e.amount.value = e.reason.value = "";
      await success(adjMsg, "Balance updated", reloadAccount, credit.load);
    });
    const credit = customerCreditSection(id, adjust.elements.currency);
    adjust.elements.currency.addEventListener("change", () => credit.load());

    main.append(title, accMsg, accounts, h("div", { class: "grid2" }, adjust, credit.el), card("History", hist, actions(more)));
    reloadAccount();
    credit.load();
    SECTIONS.customer.forEach((add) => add(main, id));
  }

  function customerCreditSection(id, currencyInput) {
    const msg = msgBox(), body = h("div", {}, muted("Loading…"));
    const el = h("section", { class: "card", "data-testid": "credit" }, h("h2", {}, "Credit management"), body, msg);
    let groups = null;
    async function refresh() {
      const cur = (currencyInput.value.trim() || "USD").toUpperCase();
      if (!groups) groups = await api(Q.groups).then((d) => d.creditGroups, () => []);
      const c = (await api(Q.credit, { id, cur })).customerCredit;
      const available = c.availableCredit ? money(c.availableCredit) : c.limit && c.limit.unlimited ? "Unlimited" : "No limit";
      body.replaceChildren(...[dl([
        ["Credit limit", limitNode(c.limit), "credit-limit"],
        ["Group", c.group ? [c.group.name, muted(" · group limit "), limitNode(c.groupLimit)] : "—", "credit-group"],
        ["Exposure", [money(c.exposure), c.groupExposure ? muted(` · group ${money(c.groupExposure)}`) : null], "credit-exposure"],
        ["Available credit", available, "credit-available"],
        ["Account", c.onHold ? [badge("ON_HOLD", "danger"), ` ${c.onHoldReason}`] : badge("ACTIVE", "ok"), "credit-onhold"],
        ["Held orders", String(c.heldOrders), "credit-held-orders"],
        c.insuranceCover && ["Limit before insurance & guarantees", limitNode(c.limitWithoutCover), "credit-limit-without-cover"],
        ["Insurance & guarantees", c.insuranceCover ? money(c.insuranceCover) : "None", "credit-cover"],
        ["Risk", riskNode(c.riskScore), "credit-risk"],
        ["Forced credit hold", c.forcedHold ? [badge("FORCED_HOLD", "danger"), ` ${c.forcedHold.message}`] : "—", "credit-forced-hold"],
      ]), limitForm(cur), holdForm(c, cur), groupForm(c, cur), c.forcedHold && liftForm(), coverSection(c, cur),
      riskSection(c)].filter(Boolean));
    }
    const riskNode = (r) => (r.score == null ? muted("Not scored yet") : [r.riskClass ? badge(r.riskClass.name, "warn") : "no class",
      ` score ${r.score}`, muted(` · ${r.scoringGroup || ""} · ${when(r.computedAt)}`)]);
    const liftForm = () => onSubmit(h("form", { class: "inline-form", "data-testid": "lift-form" }, h("h3", {}, "Lift forced credit hold"),
      h("p", { class: "muted" }, "Orders already held stay held: release them from the hold list."),
      row(field("Reason", input("reason", { required: true }), "grow"), field("Review date", input("until", { type: "date" })),
        submit("Lift hold", "danger"))), msg, async (e) => {
      await mutate(M.lift, { customerId: id, reason: e.reason.value.trim(), until: e.until.value || null });
      await success(msg, "Forced credit hold lifted", refresh);
    });
    function cancelCover(v) {
      const reason = input("cancelReason", { placeholder: "Reason", "aria-label": "Reason" });
      return actions(reason, btn("Cancel", (ev) => act(msg, ev.currentTarget, async () => {
        await mutate(M.coverCancel, { id: v.id, reason: reason.value.trim() });
        await success(msg, "Cover cancelled", refresh);
      }), "danger"));
    }
    function coverSection(c, cur) {
      const tbl = table("covers", ["Kind", "Insurer / type", "Reference", "Amount", "Valid", "Status", ""]);
      fill(tbl, c.covers.map((v) => tr({ "data-testid": "cover-row" }, [v.kind, v.provider || v.coverType, v.reference || "—", money(v.amount),
        `${when(v.validFrom)} → ${when(v.validTo)}`,
        v.cancelledAt ? [badge("CANCELLED"), muted(` ${v.cancelReason}`)] : v.active ? badge("ACTIVE", "ok") : badge("NOT_ACTIVE"),
        v.cancelledAt ? "" : cancelCover(v)])), "No insurance or guarantees.");
      const f = onSubmit(h("form", { class: "inline-form", "data-testid": "cover-form" }, h("h3", {}, `Record ${cur} insurance or guarantee`),
        row(field("Kind", select("kind", [["GUARANTEE", "Guarantee"], ["INSURANCE", "Insurance"]])),
          field("Insurer / guarantor", input("provider")), field("Guarantee type", input("coverType")), field("Reference", input("reference"))),
        row(field("Amount", input("amount", { type: "number", step: "any", min: "0", required: true })),
          field("Valid from", input("validFrom", { type: "datetime-local", required: true })),
          field("Valid to", input("validTo", { type: "datetime-local", required: true })), submit("Record", ""))), msg, async (e) => {
        await mutate(M.coverSave, { id: null, input: { customerId: id, kind: e.kind.value, provider: e.provider.value.trim() || null,
          coverType: e.coverType.value.trim() || null, reference: e.reference.value.trim() || null, currency: cur,
          amount: e.amount.value.trim(), validFrom: isoOrNull(e.validFrom.value), validTo: isoOrNull(e.validTo.value) } });
        await success(msg, "Cover recorded", refresh);
      });
      return h("div", { "data-testid": "covers-section" }, h("h3", {}, "Insurance & guarantees"), tbl, f);
    }
    function riskSection(c) {
      const r = c.riskScore;
      const tbl = table("risk-details", ["Score type", "Weight", "Value", "Points"]);
      fill(tbl, r.details.map((d) => tr({}, [d.name || d.kind, d.weight, d.value == null ? muted("no data") : d.value,
        d.points == null ? "—" : d.points])), "Not scored yet.");
      const f = onSubmit(h("form", { class: "inline-form", "data-testid": "manual-score-form" }, h("h3", {}, "Manual score value"),
        row(field("Key", input("key", { required: true, placeholder: "e.g. growth" })),
          field("Value", input("value", { type: "number", step: "any", placeholder: "empty: clear" })), submit("Set", ""))), msg, async (e) => {
        await mutate(M.manualSet, { customerId: id, key: e.key.value.trim(), value: e.value.value.trim() || null });
        await success(msg, "Manual value saved (used at the next scoring)", refresh);
      });
      return h("div", { "data-testid": "risk-section" }, h("h3", {}, "Risk score"), tbl,
        r.manualValues.length ? h("p", { class: "muted" }, `Manual values: ${r.manualValues.map((m) => `${m.key} = ${m.value}`).join(", ")}`) : null, f);
    }
    const limitForm = (cur) => onSubmit(h("form", { class: "inline-form", "data-testid": "limit-form" }, h("h3", {}, `Set ${cur} credit limit`),
      row(field("Amount", input("amount", { type: "number", step: "any", min: "0" })), check("unlimited", "Unlimited"),
        field("Expires on", input("expiresOn", { type: "date" }))),
      row(field("Reason", input("reason"), "grow"), submit("Set limit", ""))), msg, async (e) => {
      const p = await mutate(M.limitSet, { input: { customerId: id, currency: cur, amount: e.amount.value.trim() || null,
        unlimited: e.unlimited.checked, expiresOn: e.expiresOn.value || null, reason: e.reason.value.trim() || null } });
      const status = p.adjustment && p.adjustment.status;
      await success(msg, status && status !== "POSTED" ? `Limit change recorded (${status})` : "Credit limit updated", refresh);
    });
    const holdForm = (c, cur) => onSubmit(h("form", { class: "inline-form", "data-testid": "onhold-form" }, h("h3", {}, "Account on hold"),
      row(field("Reason", input("onHoldReason", { value: c.onHoldReason || "" }), "grow"),
        h("button", { type: "submit", class: `btn ${c.onHold ? "" : "danger"}`, "data-testid": "toggle-onhold" },
          c.onHold ? "Remove hold" : "Put account on hold"))), msg, async (e) => {
      await mutate(M.profile, { customerId: id, currency: cur, onHold: !c.onHold, onHoldReason: e.onHoldReason.value.trim() });
      await success(msg, c.onHold ? "Account hold removed" : "Account put on hold", refresh);
    });
    const groupForm = (c, cur) => groups.length && onSubmit(h("form", { class: "inline-form", "data-testid": "group-form" },
      h("h3", {}, "Credit group"), row(field("Group", select("groupId", groups.map((g) => [g.id, g.name]),
        { empty: "(no group)", selected: c.group && c.group.id })), submit("Save group", ""))), msg, async (e) => {
      const groupId = e.groupId.value;
      await mutate(M.profile, { customerId: id, currency: cur, groupId: groupId || undefined, removeFromGroup: groupId ? undefined : true });
      await success(msg, "Group updated", refresh);
    });
    return { el, load: () => refresh().catch((e) => setMsg(msg, "error", errText(e))) };
  }

  // ------------------------------------------------------------------ B. order
  function viewOrder(main) {
    const id = param("orderId") || param("id");
    if (!id) return main.append(h("div", { class: "msg error" }, "No order ID given (orderId)."));
    const title = h("h1", {}, "Order"), orderMsg = msgBox(), holdMsg = msgBox(), memoMsg = msgBox();
    const summary = h("div", {}, muted("Loading…")), holdBody = h("div", {}, muted("Loading…")), memoBody = h("div");
    const sc = table("order-store-credit", ["Transaction", "Charged", "Refunded", "Authorized"]);
    let order = null;
    main.append(title, orderMsg, h("div", { class: "grid2" }, card("Order", summary),
      h("section", { class: "card", "data-testid": "credit-hold" }, h("h2", {}, "Credit hold"), holdBody, holdMsg)),
    card("Store credit payments", sc), card("Refund to store credit (credit memo)", memoBody, memoMsg));

    async function loadOrder() {
      setMsg(orderMsg);
      try {
        order = (await gql(SALEOR_API, Q.order, { id })).order;
        if (!order) setMsg(orderMsg, "error", "Order not found in Saleor.");
      } catch (e) {
        order = null;
        setMsg(orderMsg, "error", `Saleor API: ${errText(e)}`);
      }
      const cur = order ? order.total.gross.currency : "";
      title.textContent = order ? `Order #${order.number}` : "Order";
      summary.replaceChildren(order ? dl([["Number", `#${order.number}`], ["Status", order.status],
        ["Customer", order.user ? navLink("customer", order.user.email, { customerId: order.user.id }) : order.userEmail || "Guest"],
        ["Total", money(order.total.gross)]]) : muted("Order details unavailable."));
      const txs = order ? order.transactions.filter((t) => /^(store credit|credit hold)/i.test(t.name || "")) : [];
      const amt = (a) => money({ amount: a ? a.amount : 0, currency: cur });
      fill(sc, txs.map((t) => tr({ "data-testid": "sc-transaction" }, [t.name, amt(t.chargedAmount), amt(t.refundedAmount),
        amt(t.authorizedAmount)])), "No store credit payments on this order.");
      renderMemo(cur);
    }

    async function loadHold() {
      let hold;
      try { hold = (await api(Q.hold, { id })).orderCreditHold; } catch (e) {
        holdBody.replaceChildren();
        return setMsg(holdMsg, "error", errText(e));
      }
      if (!hold) return holdBody.replaceChildren(h("p", { class: "muted", "data-testid": "no-hold" }, "This order has no credit hold."));
      holdBody.replaceChildren(dl([
        ["Status", [h("span", { class: `badge s-${hold.status}`, "data-testid": "hold-status" }, hold.status),
          hold.forced ? [" ", badge("FORCED", "danger")] : null, hold.readyToRelease ? [" ", badge("READY_TO_RELEASE", "ok")] : null]],
        ["Reasons", reasonsList(hold.reasons)], ["Review date", hold.reviewDate || "—"], ["Exposure", money(hold.exposure)],
        ["Held since", `${when(hold.createdAt)} (${age(hold.createdAt)})`],
        hold.requestedBy && ["Release requested by", hold.requestedBy],
        hold.resolvedBy && ["Resolved by", `${hold.resolvedBy} · ${when(hold.resolvedAt)}`],
        hold.resolutionReason && ["Resolution", hold.resolutionReason]]));
      if (!hold.active) return;
      const reason = input("holdReason", { placeholder: "Reason" }), review = input("reviewDate", { type: "date" });
      const resolve = (el, release) => act(holdMsg, el, async () => {
        const p = release ? await mutate(M.release, { id: hold.id, reason: reason.value.trim(), reviewDate: review.value || null })
          : await mutate(M.reject, { id: hold.id, reason: reason.value.trim() });
        setMsg(holdMsg, "success", p.hold && p.hold.status === "RELEASE_REQUESTED"
          ? "Release requested; another staff member must confirm it." : release ? "Order released" : "Order rejected");
        await Promise.all([loadHold(), loadOrder()]);
      });
      holdBody.append(row(field("Reason", reason, "grow"), field("Review date", review)), actions(
        button("Release order", (ev) => resolve(ev.currentTarget, true), "primary", { "data-testid": "release" }),
        button("Reject order", (ev) => resolve(ev.currentTarget, false), "danger", { "data-testid": "reject" })));
    }

    function renderMemo(cur) {
      const lines = order ? order.lines : [];
      const lt = table("memo-lines", ["Product", "Ordered", "Unit price", "Refund qty"]);
      fill(lt, lines.map((l) => tr({}, [[l.productName, l.variantName ? muted(` · ${l.variantName}`) : null], String(l.quantity),
        money({ amount: l.unitPrice.gross.amount, currency: cur }),
        input(`qty-${l.id}`, { type: "number", min: "0", max: String(l.quantity), step: "1", value: "0", class: "qty" })])),
      "No order lines loaded.");
      const form = h("form", { "data-testid": "credit-memo-form" }, lt,
        row(check("includeShipping", "Include shipping"), field("Amount (optional)", input("memoAmount", { type: "number", step: "any", min: "0" })),
          field("Reason", input("memoReason", { required: true }), "grow")), actions(submit("Refund to store credit")));
      onSubmit(form, memoMsg, async (e) => {
        const memo = { reason: e.memoReason.value.trim(), includeShipping: e.includeShipping.checked };
        const picked = lines.map((l) => ({ lineId: l.id, quantity: parseInt(e.namedItem(`qty-${l.id}`).value, 10) || 0 }))
          .filter((l) => l.quantity > 0);
        if (picked.length) memo.lines = picked;
        if (e.memoAmount.value.trim()) memo.amount = e.memoAmount.value.trim();
        const p = await mutate(M.memo, { orderId: id, input: memo, idempotencyKey: randomKey() });
        await success(memoMsg, `Refunded ${p.creditMemo ? fixed(p.creditMemo.amount) : ""} to store credit`, loadOrder, loadHold);
      });
      memoBody.replaceChildren(form);
    }
    loadOrder();
    loadHold();
    SECTIONS.order.forEach((add) => add(main, id));
  }

  // ------------------------------------------------------------------ C. held orders
  function viewHolds(main) {
    const msg = msgBox();
    const filters = h("form", { class: "filters", "data-testid": "hold-filters" },
      field("Reason", select("reason", RULE_TYPES, { empty: "Any reason" })),
      field("Status", select("status", HOLD_STATUSES, { empty: "Active holds" })),
      field("Channel", input("channel", { placeholder: "channel slug" })),
      field("Older than (hours)", input("olderThanHours", { type: "number", min: "0", step: "1" })),
      check("ready", "Ready to release only"), check("forced", "Forced holds only"), submit("Filter", ""));
    const tbl = table("holds", ["Order", "Customer", "Channel", "Total", "Reasons", "Age", "Status", ""]);
    const evaluate = button("Evaluate for release", (ev) => act(msg, ev.currentTarget, async () => {
      const p = (await mutate(M.evaluate, {})).evaluation;
      await success(msg, `Evaluated: ${p.released} released, ${p.ready} ready to release, ${p.updated} updated, ${p.unchanged} unchanged`, load);
    }), "", { "data-testid": "evaluate" });
    main.append(h("h1", {}, "Held orders"), card(null, filters, actions(evaluate), msg, tbl));
    async function load() {
      const e = filters.elements;
      const list = (await api(Q.holds, { reason: e.reason.value || null, status: e.status.value || null,
        channel: e.channel.value.trim() || null, older: parseInt(e.olderThanHours.value, 10) || null,
        ready: e.ready.checked ? true : null, forced: e.forced.checked ? true : null })).orderCreditHolds;
      fill(tbl, list.map((x) => tr({ "data-testid": "hold-row", "data-hold-id": x.id }, [
        navLink("order", x.orderNumber != null ? `#${x.orderNumber}` : "Order", { orderId: x.orderId }),
        x.customerEmail ? navLink("customer", x.customerEmail, { customerId: x.customerId }) : "—",
        x.channel, money(x.total), reasonsList(x.reasons), age(x.createdAt),
        [badge(x.status), x.forced ? [" ", badge("FORCED", "danger")] : null, x.readyToRelease ? [" ", badge("READY_TO_RELEASE", "ok")] : null],
        x.active ? rowActions(x) : ""])), "No held orders.");
    }
    // No prompt(): the Dashboard's app iframe is sandboxed without allow-modals.
    function rowActions(x) {
      const reason = input("holdReason", { placeholder: "Reason", "aria-label": "Reason" });
      return actions(reason,
        btn("Release", (ev) => resolve(ev.currentTarget, x, true, reason.value.trim()), "primary", { "data-testid": "release" }),
        btn("Reject", (ev) => resolve(ev.currentTarget, x, false, reason.value.trim()), "danger", { "data-testid": "reject" }));
    }
    function resolve(el, x, release, reason) {
      act(msg, el, async () => {
        const p = release ? await mutate(M.release, { id: x.id, reason, reviewDate: null }) : await mutate(M.reject, { id: x.id, reason });
        await success(msg, `Order #${x.orderNumber ?? ""}: ${p.hold ? p.hold.status : "updated"}`, load);
      });
    }
    onSubmit(filters, msg, load);
    act(msg, null, load);
  }

  // ------------------------------------------------------------------ D. credit groups, blocking rules, limit adjustments
  function viewCredit(main) {
    let groups = [], classes = [];
    const gMsg = msgBox(), rMsg = msgBox(), aMsg = msgBox();
    const className = (gid) => (classes.find((c) => c.id === gid) || {}).name || gidLabel(gid);
    const gTbl = table("groups", ["Name", "Description", "Members"]);
    const rTbl = table("rules", ["Name", "Type", "Action", "Scope", "Currency", "Threshold", "Days", "Payment methods", "Exclusions", "Active", ""]);
    const aTbl = table("adjustments", ["Created", "Target", "Currency", "Limit", "Validity", "Reason", "Status", "Workflow", ""]);
    const rFormBox = h("div"), aFormBox = h("div"), aFilter = select("status", ADJ_STATUSES, { empty: "All statuses" });
    const groupName = (gid) => (groups.find((g) => g.id === gid) || {}).name || gidLabel(gid);
    const gForm = onSubmit(h("form", { class: "inline-form", "data-testid": "group-form" }, h("h3", {}, "New group"),
      row(field("Name", input("name", { required: true })), field("Description", input("description"), "grow"), submit("Create group"))),
    gMsg, async (e) => {
      await mutate(M.groupSave, { input: { name: e.name.value.trim(), description: e.description.value.trim() } });
      gForm.reset();
      await success(gMsg, "Group saved", loadGroups);
    });
    aFilter.addEventListener("change", () => act(aMsg, null, loadAdj));
    const section = (testid, title, ...kids) => h("section", { class: "card", "data-testid": testid }, h("h2", {}, title), kids);
    main.append(h("h1", {}, "Credit limits & rules"), section("groups-card", "Credit groups", gMsg, gTbl, gForm),
      section("rules-card", "Blocking rules", rMsg, rTbl, rFormBox),
      section("adjustments-card", "Limit adjustments", h("div", { class: "filters" }, field("Status", aFilter)), aMsg, aTbl, aFormBox));

    async function loadGroups() {
      groups = (await api(Q.groups)).creditGroups;
      classes = await api("query { creditRiskClasses { id name } }").then((d) => d.creditRiskClasses, () => []);
      fill(gTbl, groups.map((g) => tr({ "data-testid": "group-row" }, [g.name, g.description || "—", [String(g.memberIds.length),
        g.memberEmails.length ? muted(` · ${g.memberEmails.slice(0, 5).join(", ")}${g.memberEmails.length > 5 ? "…" : ""}`) : null]])),
      "No credit groups.");
      renderForms();
    }
    const renderForms = () => { rFormBox.replaceChildren(ruleForm()); aFormBox.replaceChildren(adjForm()); };

    const ruleInput = (r, over) => ({ name: r.name, ruleType: r.ruleType, action: r.action, scope: r.scope, groupId: r.groupId,
      customerId: r.customerId, currency: r.currency || null, threshold: r.threshold == null ? null : String(r.threshold), days: r.days,
      paymentMethods: r.paymentMethods, excludedCustomerIds: r.excludedCustomerIds, excludedGroupIds: r.excludedGroupIds,
      riskClassId: r.riskClassId, isActive: r.isActive, ...over });
    async function loadRules() {
      const rules = (await api(Q.rules)).creditBlockingRules;
      fill(rTbl, rules.map((r) => tr({ "data-testid": "rule-row" }, [r.name, r.ruleType, r.action,
        [r.scope === "GROUP" ? `GROUP: ${groupName(r.groupId)}` : r.scope === "CUSTOMER" ? `CUSTOMER: ${gidLabel(r.customerId || "")}` : r.scope,
          r.riskClassId ? muted(` · risk class ${className(r.riskClassId)}`) : null],
        r.currency || "any", r.threshold == null ? "—" : String(r.threshold), r.days == null ? "—" : String(r.days),
        r.paymentMethods.join(", ") || "—", [...r.excludedGroupIds.map(groupName), ...r.excludedCustomerIds.map(gidLabel)].join(", ") || "—",
        r.isActive ? badge("ACTIVE", "ok") : badge("INACTIVE"),
        actions(btn(r.isActive ? "Disable" : "Enable", (ev) => act(rMsg, ev.currentTarget, async () => {
          await mutate(M.ruleSave, { id: r.id, input: ruleInput(r, { isActive: !r.isActive }) });
          await success(rMsg, `Rule ${r.isActive ? "disabled" : "enabled"}`, loadRules);
        })), btn("Delete", (ev) => { // two clicks instead of confirm() (sandboxed iframe)
          const b = ev.currentTarget;
          if (b.dataset.armed !== "1") { b.dataset.armed = "1"; b.textContent = "Click again to delete"; return; }
          act(rMsg, b, async () => {
            await mutate(M.ruleDelete, { id: r.id });
            await success(rMsg, "Rule deleted", loadRules);
          });
        }, "danger"))])), "No blocking rules.");
    }
    function ruleForm() {
      const gOpts = groups.map((g) => [g.id, g.name]);
      const f = h("form", { class: "inline-form", "data-testid": "rule-form" }, h("h3", {}, "New blocking rule"),
        row(field("Name", input("name", { required: true })), field("Rule type", select("ruleType", RULE_TYPES)),
          field("Action", select("action", RULE_ACTIONS, { selected: "HOLD" })), field("Scope", select("scope", RULE_SCOPES)),
          field("Group", select("groupId", gOpts, { empty: "—" })), field("Customer ID", input("customerId"))),
        row(field("Currency", input("currency", { size: 4, maxlength: 3, placeholder: "any" })),
          field("Threshold", input("threshold", { type: "number", step: "any", placeholder: "amount or %" })),
          field("Days", input("days", { type: "number", min: "0", step: "1" })),
          field("Payment methods", input("paymentMethods", { placeholder: "comma-separated" })),
          field("Excluded customer IDs", input("excludedCustomerIds", { placeholder: "comma-separated" })),
          field("Excluded groups", select("excludedGroupIds", gOpts, { multiple: true })),
          field("Risk class", select("riskClassId", classes.map((c) => [c.id, c.name]), { empty: "any" })),
          check("isActive", "Active", true)),
        actions(submit("Create rule")));
      return onSubmit(f, rMsg, async (e) => {
        await mutate(M.ruleSave, { id: null, input: { name: e.name.value.trim(), ruleType: e.ruleType.value, action: e.action.value,
          scope: e.scope.value, groupId: e.groupId.value || null, customerId: e.customerId.value.trim() || null,
          currency: e.currency.value.trim().toUpperCase() || null, threshold: e.threshold.value.trim() || null,
          days: e.days.value === "" ? null : parseInt(e.days.value, 10), paymentMethods: csvList(e.paymentMethods.value),
          excludedCustomerIds: csvList(e.excludedCustomerIds.value),
          excludedGroupIds: Array.from(e.excludedGroupIds.selectedOptions, (o) => o.value),
          riskClassId: e.riskClassId.value || null, isActive: e.isActive.checked } });
        f.reset();
        await success(rMsg, "Rule created", loadRules);
      });
    }

    async function loadAdj() {
      const list = (await api(Q.adjustments, { status: aFilter.value || null })).creditLimitAdjustments;
      const step = (a, action) => btn(ACTION_LABELS[action], (ev) => act(aMsg, ev.currentTarget, async () => {
        const p = await mutate(M.adjStatus, { id: a.id, action });
        await success(aMsg, `Adjustment ${p.adjustment ? p.adjustment.status : "updated"}`, loadAdj);
      }), { REJECT: "danger", POST: "primary" }[action] || "", { "data-action": action });
      fill(aTbl, list.map((a) => tr({ "data-testid": "adjustment-row", "data-adjustment-id": a.id }, [when(a.createdAt),
        a.customerId ? navLink("customer", gidLabel(a.customerId), { customerId: a.customerId }) : a.groupId ? `Group: ${groupName(a.groupId)}` : "—",
        a.currency, a.unlimited ? "Unlimited" : money(a.amount),
        a.temporary ? [badge("TEMPORARY", "warn"), ` ${when(a.validFrom)} → ${when(a.validTo)}`] : a.expiresOn ? `until ${a.expiresOn}` : "Permanent",
        a.reason || "—", badge(a.status),
        h("div", { class: "small" }, `Created by ${a.createdBy.label}`, a.submittedBy ? h("div", {}, `Submitted by ${a.submittedBy}`) : null,
          a.approvedBy ? h("div", {}, `Approved by ${a.approvedBy}`) : null,
          a.postedBy ? h("div", {}, `Posted by ${a.postedBy} · ${when(a.postedAt)}`) : null),
        actions((NEXT_ACTIONS[a.status] || []).map((action) => step(a, action)))])), "No limit adjustments.");
    }
    function adjForm() {
      const f = h("form", { class: "inline-form", "data-testid": "adjustment-form" }, h("h3", {}, "New limit adjustment"),
        row(field("Customer ID", input("customerId", { placeholder: "User ID" })), h("span", { class: "or" }, "or"),
          field("Group", select("groupId", groups.map((g) => [g.id, g.name]), { empty: "—" })),
          field("Currency", input("currency", { value: "USD", size: 4, maxlength: 3, required: true })),
          field("Amount", input("amount", { type: "number", step: "any", min: "0" })), check("unlimited", "Unlimited")),
        row(check("temporary", "Temporary"), field("Valid from", input("validFrom", { type: "datetime-local" })),
          field("Valid to", input("validTo", { type: "datetime-local" })), field("Expires on", input("expiresOn", { type: "date" }))),
        row(field("Reason", input("reason"), "grow")), actions(submit("Create adjustment")));
      return onSubmit(f, aMsg, async (e) => {
        const p = await mutate(M.adjCreate, { input: { customerId: e.customerId.value.trim() || null, groupId: e.groupId.value || null,
          currency: e.currency.value.trim().toUpperCase(), amount: e.amount.value.trim() || null, unlimited: e.unlimited.checked,
          temporary: e.temporary.checked, validFrom: isoOrNull(e.validFrom.value), validTo: isoOrNull(e.validTo.value),
          expiresOn: e.expiresOn.value || null, reason: e.reason.value.trim() || null } });
        f.reset();
        await success(aMsg, `Adjustment created (${p.adjustment ? p.adjustment.status : "DRAFT"})`, loadAdj);
      });
    }

    act(gMsg, null, loadGroups).then(() => {
      if (!rFormBox.firstChild) renderForms(); // groups failed to load: the forms still work without group choices
      return Promise.all([act(rMsg, null, loadRules), act(aMsg, null, loadAdj)]);
    });
  }

  // ------------------------------------------------------------------ D2. risk scores, automatic limits, forced holds
  // Bands as text: "0-2:20, 2-5:60, 5-:100" (from inclusive, to exclusive, an empty end is open).
  const bandsText = (bands) => bands.map((b) => `${b.from ?? ""}-${b.to ?? ""}:${b.points}`).join(", ");
  function parseBands(text) {
    return csvList(text).map((part) => {
      const m = /^\s*([0-9.]*)\s*-\s*([0-9.]*)\s*:\s*([0-9.]+)\s*$/.exec(part);
      if (!m) throw new Error(`Band "${part}": write from-to:points, e.g. 0-10:50 or 10-:90.`);
      return { from: m[1] || null, to: m[2] || null, points: m[3] };
    });
  }
  function viewRisk(main) {
    let data = null, poll = null;
    const runMsg = msgBox(), cMsg = msgBox(), sMsg = msgBox(), lMsg = msgBox(), fMsg = msgBox();
    const runs = table("risk-runs", ["Started", "By", "Status", "Progress", "Class changes", "Proposals", "Error"]);
    const cTbl = table("risk-classes", ["Class", "Minimum score", "Description", ""]);
    const sTbl = table("scoring-groups", ["Scoring group", "Scores", "Score types", "Active", ""]);
    const lTbl = table("auto-limits", ["Rule", "Risk class", "Limit", "Condition", "Valid days", "Proposer", "Active", ""]);
    const fTbl = table("forced-rules", ["Rule", "Condition", "Narrowed to", "Active", ""]);
    const hTbl = table("forced-holds", ["Customer", "Rule", "Why", "Since"]);
    const boxes = { classes: h("div"), scoring: h("div"), limits: h("div"), forced: h("div") };
    const section = (testid, title, ...kids) => h("section", { class: "card", "data-testid": testid }, h("h2", {}, title), kids);
    const update = button("Update risk scores now", (ev) => act(runMsg, ev.currentTarget, async () => {
      await mutate(M.scoresUpdate, {});
      await success(runMsg, "Risk score run started", load);
    }), "primary", { "data-testid": "update-scores" });
    const applyNow = button("Run forced holds now", (ev) => act(fMsg, ev.currentTarget, async () => {
      const p = (await mutate(M.forcedApply, {})).counts;
      await success(fMsg, `Forced holds: ${p.placed} placed, ${p.already} already on hold, ${p.liftedInForce} left alone (lifted), `
        + `${p.ordersMarked} held order(s) became forced`, load);
    }), "", { "data-testid": "apply-forced" });
    main.append(h("h1", {}, "Risk & forced holds"),
      section("runs-card", "Risk score runs", h("p", { class: "muted" }, "Daily, and on demand: scores every customer, records risk class "
        + "changes and proposes automatic limits as journal lines (approve and post them under Credit limits & rules)."),
      actions(update), runMsg, runs),
      section("classes-card", "Risk classes", cMsg, cTbl, boxes.classes),
      section("scoring-card", "Scoring groups", h("p", { class: "muted" }, "Score = weighted average of the points of each score type "
        + "(0-100). Types without data are left out; a value in no band scores 0."), sMsg, sTbl, boxes.scoring),
      section("limits-card", "Automatic limit by risk class", lMsg, lTbl, boxes.limits),
      section("forced-card", "Forced credit holds", h("p", { class: "muted" }, "Hourly: accounts meeting a rule are put on forced "
        + "hold; their orders are held and never released by the system. Lift a hold from the customer's page."),
      actions(applyNow), fMsg, fTbl, boxes.forced, h("h3", {}, "Accounts on forced hold"), hTbl));
    const className = (c) => (c ? c.name : "—");
    const del = (msg, label, fn) => btn(label, (ev) => { // two clicks instead of confirm() (sandboxed iframe)
      const b = ev.currentTarget;
      if (b.dataset.armed !== "1") { b.dataset.armed = "1"; b.textContent = "Click again"; return; }
      act(msg, b, fn);
    }, "danger");

    async function load() {
      data = await api(Q.risk);
      const groups = await api(Q.groups).then((d) => d.creditGroups, () => []);
      clearTimeout(poll);
      fill(runs, data.creditRiskScoreRuns.map((r) => tr({ "data-testid": "run-row" }, [when(r.startedAt), r.startedBy, badge(r.status),
        `${r.processed}/${r.total} (${Math.round(r.percent)}%)`, String(r.classChanges), String(r.proposals), r.error || ""])), "No runs yet.");
      if (data.creditRiskScoreRuns.some((r) => r.status === "RUNNING")) {
        poll = setTimeout(() => main.isConnected && load().catch(() => {}), 4000);
      }
      fill(cTbl, data.creditRiskClasses.map((c) => tr({ "data-testid": "class-row" }, [c.name, String(c.minScore), c.description || "—",
        del(cMsg, "Delete", async () => { await mutate(M.classDelete, { id: c.id }); await success(cMsg, "Class deleted", load); })])),
      "No risk classes.");
      fill(sTbl, data.creditScoringGroups.map((g) => tr({ "data-testid": "scoring-row" }, [g.name,
        g.creditGroupName ? `credit group ${g.creditGroupName}` : "everyone else (default)",
        h("ul", { class: "reasons" }, g.scoreTypes.map((t) => h("li", {}, `${t.name || t.kind} × ${t.weight}: ${bandsText(t.bands)}`))),
        g.isActive ? badge("ACTIVE", "ok") : badge("INACTIVE"),
        actions(btn("Edit", () => boxes.scoring.replaceChildren(scoringForm(groups, g))),
          del(sMsg, "Delete", async () => { await mutate(M.scoringDelete, { id: g.id }); await success(sMsg, "Scoring group deleted", load); }))])),
      "No scoring groups.");
      fill(lTbl, data.creditAutomaticLimitRules.map((r) => tr({ "data-testid": "auto-limit-row" }, [r.name, className(r.riskClass),
        r.unlimited ? "Unlimited" : money(r.amount),
        r.conditionKind ? `${r.conditionKind}${r.conditionKey ? ` ${r.conditionKey}` : ""} ≥ ${r.conditionMin}` : "—",
        r.validDays == null ? "—" : String(r.validDays), r.proposer.label, r.isActive ? badge("ACTIVE", "ok") : badge("INACTIVE"),
        del(lMsg, "Delete", async () => { await mutate(M.autoDelete, { id: r.id }); await success(lMsg, "Rule deleted", load); })])),
      "No automatic limits.");
      fill(fTbl, data.creditForcedHoldRules.map((r) => tr({ "data-testid": "forced-rule-row" }, [r.name,
        r.condition === "DAYS_OVERDUE" ? `more than ${r.days} days overdue${r.currency ? ` (${r.currency})` : ""}`
          : r.condition === "OVERDUE_AMOUNT" ? `overdue over ${r.threshold} ${r.currency} (orders > ${r.days} days overdue)`
            : `risk class ${className(r.riskClass)}`,
        [r.groupId ? `group ${(groups.find((g) => g.id === r.groupId) || {}).name || gidLabel(r.groupId)} ` : "",
          r.condition !== "RISK_CLASS" && r.riskClass ? `class ${r.riskClass.name}` : ""].join("") || "—",
        r.isActive ? badge("ACTIVE", "ok") : badge("INACTIVE"),
        del(fMsg, "Delete", async () => { await mutate(M.forcedDelete, { id: r.id }); await success(fMsg, "Rule deleted", load); })])),
      "No forced hold rules.");
      fill(hTbl, data.creditForcedHolds.map((x) => tr({ "data-testid": "forced-hold-row" }, [
        navLink("customer", x.customerEmail || gidLabel(x.customerId), { customerId: x.customerId }), x.ruleName, x.message,
        when(x.createdAt)])), "No account is on forced hold.");
      const classes = data.creditRiskClasses.map((c) => [c.id, c.name]);
      boxes.classes.replaceChildren(classForm());
      if (!boxes.scoring.firstChild) boxes.scoring.replaceChildren(scoringForm(groups, null));
      boxes.limits.replaceChildren(limitRuleForm(classes));
      boxes.forced.replaceChildren(forcedForm(groups, classes));
    }

    const classForm = () => onSubmit(h("form", { class: "inline-form", "data-testid": "class-form" }, h("h3", {}, "New risk class"),
      row(field("Name", input("name", { required: true })), field("Minimum score", input("minScore", { type: "number", min: "0", max: "100",
        step: "0.01", required: true })), field("Description", input("description"), "grow"), submit("Save class"))), cMsg, async (e) => {
      await mutate(M.classSave, { id: null, input: { name: e.name.value.trim(), minScore: e.minScore.value.trim(),
        description: e.description.value.trim() } });
      await success(cMsg, "Risk class saved", load);
    });

    function typeRow(t = {}) {
      const r = h("div", { class: "row score-type", "data-testid": "score-type-row" },
        field("Kind", select("kind", SCORE_KINDS, { selected: t.kind })), field("Name", input("tname", { value: t.name || "" })),
        field("Weight", input("weight", { type: "number", step: "0.01", min: "0.01", value: t.weight ?? "1", size: 5 })),
        field("Period (days)", input("periodDays", { type: "number", min: "1", value: t.periodDays ?? "", size: 5 })),
        field("Days overdue", input("tdays", { type: "number", min: "0", value: t.days ?? "", size: 4 })),
        field("Currency", input("tcurrency", { value: t.currency || "", size: 4, maxlength: 3 })),
        field("Manual key", input("manualKey", { value: t.manualKey || "", size: 8 })),
        field("Bands (from-to:points)", input("bands", { value: t.bands ? bandsText(t.bands) : "", placeholder: "0-10:50, 10-:90",
          required: true }), "grow"),
        btn("Remove", () => r.remove()));
      return r;
    }
    function scoringForm(groups, g) {
      const rows = h("div", { "data-testid": "score-types" }, (g ? g.scoreTypes : [{}]).map(typeRow));
      const f = h("form", { class: "inline-form", "data-testid": "scoring-form" }, h("h3", {}, g ? `Edit ${g.name}` : "New scoring group"),
        row(field("Name", input("name", { required: true, value: g ? g.name : "" })),
          field("Scores", select("creditGroupId", groups.map((x) => [x.id, `credit group ${x.name}`]),
            { empty: "everyone else (default)", selected: g && g.creditGroupId })),
          field("Description", input("description", { value: g ? g.description : "" }), "grow"), check("isActive", "Active", g ? g.isActive : true)),
        rows, actions(btn("Add score type", () => rows.append(typeRow())), submit(g ? "Save scoring group" : "Create scoring group"),
          g ? btn("New instead", () => f.replaceWith(scoringForm(groups, null))) : null));
      return onSubmit(f, sMsg, async (e) => {
        const num = (x) => (x.value === "" ? null : parseInt(x.value, 10));
        const scoreTypes = Array.from(rows.querySelectorAll(".score-type"), (r) => {
          const q = (n) => r.querySelector(`[name=${n}]`);
          return { kind: q("kind").value, name: q("tname").value.trim() || null, weight: q("weight").value.trim(),
            periodDays: num(q("periodDays")), days: num(q("tdays")), currency: q("tcurrency").value.trim().toUpperCase() || null,
            manualKey: q("manualKey").value.trim() || null, bands: parseBands(q("bands").value) };
        });
        await mutate(M.scoringSave, { id: g ? g.id : null, input: { name: e.name.value.trim(), description: e.description.value.trim(),
          creditGroupId: e.creditGroupId.value || null, isActive: e.isActive.checked, scoreTypes } });
        boxes.scoring.replaceChildren();
        await success(sMsg, "Scoring group saved", load);
      });
    }
    const limitRuleForm = (classes) => onSubmit(h("form", { class: "inline-form", "data-testid": "auto-limit-form" },
      h("h3", {}, "New automatic limit"),
      row(field("Name", input("name", { required: true })), field("Risk class", select("riskClassId", classes, { empty: "—" })),
        field("Currency", input("currency", { value: "USD", size: 4, maxlength: 3, required: true })),
        field("Limit", input("amount", { type: "number", step: "any", min: "0" })), check("unlimited", "Unlimited"),
        field("Expires after (days)", input("validDays", { type: "number", min: "1" }))),
      row(field("Only when", select("conditionKind", SCORE_KINDS, { empty: "always" })), field("Manual key", input("conditionKey", { size: 8 })),
        field("is at least", input("conditionMin", { type: "number", step: "any", min: "0" })), submit("Save rule"))), lMsg, async (e) => {
      await mutate(M.autoSave, { id: null, input: { name: e.name.value.trim(), riskClassId: e.riskClassId.value,
        currency: e.currency.value.trim().toUpperCase(), amount: e.amount.value.trim() || null, unlimited: e.unlimited.checked,
        validDays: e.validDays.value === "" ? null : parseInt(e.validDays.value, 10), conditionKind: e.conditionKind.value || null,
        conditionKey: e.conditionKey.value.trim() || null, conditionMin: e.conditionMin.value.trim() || null } });
      await success(lMsg, "Automatic limit saved; proposals follow at the next risk score run", load);
    });
    const forcedForm = (groups, classes) => onSubmit(h("form", { class: "inline-form", "data-testid": "forced-rule-form" },
      h("h3", {}, "New forced hold rule"),
      row(field("Name", input("name", { required: true })), field("Condition", select("condition", FORCED_CONDITIONS)),
        field("Days", input("days", { type: "number", min: "0", step: "1" })),
        field("Threshold", input("threshold", { type: "number", step: "any", min: "0" })),
        field("Currency", input("currency", { size: 4, maxlength: 3, placeholder: "any" }))),
      row(field("Credit group", select("groupId", groups.map((g) => [g.id, g.name]), { empty: "all" })),
        field("Risk class", select("riskClassId", classes, { empty: "any" })), submit("Save rule"))), fMsg, async (e) => {
      await mutate(M.forcedSave, { id: null, input: { name: e.name.value.trim(), condition: e.condition.value,
        days: e.days.value === "" ? null : parseInt(e.days.value, 10), threshold: e.threshold.value.trim() || null,
        currency: e.currency.value.trim().toUpperCase() || null, groupId: e.groupId.value || null, riskClassId: e.riskClassId.value || null } });
      await success(fMsg, "Forced hold rule saved", load);
    });
    act(runMsg, null, load);
  }

  // ------------------------------------------------------------------ E. reimbursement
  function viewReimbursement(main) {
    const fMsg = msgBox(), lMsg = msgBox(), dMsg = msgBox(), preview = h("div", { "data-testid": "preview" });
    const form = h("form", { class: "inline-form", "data-testid": "reimbursement-form" },
      row(field("Currency", input("currency", { value: "USD", size: 4, maxlength: 3, required: true })),
        field("Minimum amount", input("minimumAmount", { type: "number", step: "any", min: "0" })),
        field("Customer email", input("email", { type: "email" })), field("Channel", input("channel")), submit("Preview", "")));
    const runs = table("runs", ["Created", "Currency", "Minimum", "Status", "Progress", "Payouts", "Total", ""]);
    const runHead = h("div"), note = input("payoutNote", { placeholder: "Note" });
    const reference = input("payoutReference", { placeholder: "Payment reference" });
    const payouts = table("payouts", ["Payee", "Email", "Address", "Account", "Amount", "Status", "Reference / note", ""]);
    const morePayouts = button("Load more payouts", () => act(dMsg, morePayouts, () => openRun(current, true)), "", { hidden: true });
    const details = h("section", { class: "card", "data-testid": "run-details", hidden: true }, runHead, dMsg,
      row(field("Reference (for Mark paid)", reference), field("Note", note, "grow")), payouts, actions(morePayouts));
    main.append(h("h1", {}, "Reimbursement"), card("New payout run", form, fMsg, preview), card("Runs", lMsg, runs), details);
    let current = null, lastPk = null, csvUrl = null, poll = null;

    onSubmit(form, fMsg, async (e) => {
      const inp = { currency: e.currency.value.trim().toUpperCase() };
      for (const k of ["minimumAmount", "email", "channel"]) if (e[k].value.trim()) inp[k] = e[k].value.trim();
      const p = (await api(Q.preview, { input: inp })).reimbursementRunPreview;
      const key = randomKey(); // one key per previewed run: retrying the start cannot create a second run
      const at = table("preview-accounts", ["Customer", "Amount", "Payout details"]);
      fill(at, p.accounts.map((a) => tr({}, [a.email, money(a.amount), a.detailsMissing ? badge("MISSING", "warn") : "OK"])), "No accounts match.");
      const start = button("Start run", () => act(fMsg, start, async () => {
        const r = await mutate(M.runStart, { input: inp, idempotencyKey: key });
        setMsg(fMsg, "success", "Run started");
        preview.replaceChildren();
        await loadRuns();
        if (r.run) await openRun(r.run.id);
      }), "primary", { "data-testid": "start-run", disabled: !p.count });
      preview.replaceChildren(h("p", { "data-testid": "preview-summary" },
        `${p.count} account(s), total ${money(p.total)}, ${p.skipped} skipped.`), at, actions(start));
    });

    async function loadRuns() {
      const list = (await api(Q.runs)).reimbursementRuns;
      fill(runs, list.map((r) => tr({ "data-testid": "run-row" }, [when(r.createdAt), r.currency, money(r.minimumAmount), badge(r.status),
        progress(r.progress), String(r.payoutCount), money(r.total), btn("Open", (ev) => act(lMsg, ev.currentTarget, () => openRun(r.id)))])),
      "No runs yet.");
    }
    function progress(p) {
      const bar = h("span", { class: "bar" }, h("span", {}));
      bar.firstChild.style.width = `${Math.max(0, Math.min(100, Number(p.percent) || 0))}%`;
      return h("span", { class: "progress" }, bar, ` ${p.processed}/${p.selected} (${Math.round(p.percent)}%)`);
    }
    async function openRun(id, more = false) {
      const r = (await api(Q.run, { id, after: more ? lastPk : null, withCsv: !more })).reimbursementRun;
      if (!r) throw new Error("Run not found.");
      if (!more) {
        current = id;
        history.replaceState(null, "", href("reimbursement", { runId: id }));
        if (csvUrl) URL.revokeObjectURL(csvUrl);
        csvUrl = URL.createObjectURL(new Blob([r.csv], { type: "text/csv;charset=utf-8" }));
        runHead.replaceChildren(h("h2", {}, `Run of ${when(r.createdAt)}`),
          dl([["Status", badge(r.status), "run-status"], ["Progress", progress(r.progress)],
            ["Currency / minimum", `${r.currency} / ${money(r.minimumAmount)}`], ["Payouts", String(r.payoutCount)],
            ["Total", money(r.total)], ["Started", when(r.startedAt)], ["Finished", when(r.finishedAt)]]),
          actions(h("a", { class: "btn", href: csvUrl, download: `reimbursement-run-${gidPk(id) || "export"}.csv`, "data-testid": "download-csv" },
            "Download CSV"), button("Refresh", (ev) => act(dMsg, ev.currentTarget, () => Promise.all([openRun(id), loadRuns()])))));
        details.hidden = false;
      }
      const rows = r.payouts.map(payoutRow);
      if (more) payouts.tbody.append(...rows); else fill(payouts, rows, "No payouts.");
      if (r.payouts.length) lastPk = gidPk(r.payouts[r.payouts.length - 1].id);
      morePayouts.hidden = r.payouts.length < 100 || !lastPk;
      clearTimeout(poll);
      if (!more && r.status !== "COMPLETED") { // follow a running run until it completes
        poll = setTimeout(() => details.isConnected && current === id && openRun(id).then(loadRuns).catch(() => {}), 4000);
      }
    }
    function payoutRow(p) {
      const action = (label, name, cls) => btn(label, (ev) => act(dMsg, ev.currentTarget, async () => {
        const res = await mutate(payoutMutation(name), { id: p.id, idempotencyKey: randomKey(), note: note.value.trim() || null,
          reference: name === "payoutMarkPaid" ? reference.value.trim() || null : null });
        setMsg(dMsg, "success", `Payout to ${p.payeeEmail || p.payeeName}: ${res.payout ? res.payout.status : "updated"}`);
        await Promise.all([openRun(current), loadRuns()]);
      }), cls, { "data-action": name });
      return tr({ "data-testid": "payout-row" }, [p.payeeName || "—", p.payeeEmail || "—", p.payeeAddress || "—",
        p.payoutAccount || (p.detailsMissing ? badge("MISSING", "warn") : "—"), money(p.amount), badge(p.status),
        [p.reference, p.note ? muted(` ${p.note}`) : null],
        p.status === "PENDING" ? actions(action("Mark paid", "payoutMarkPaid", "primary"), action("Mark failed", "payoutMarkFailed", "danger"),
          action("Void", "payoutVoid", "")) : when(p.resolvedAt)]);
    }
    act(lMsg, null, loadRuns);
    if (param("runId")) act(dMsg, null, () => openRun(param("runId")));
  }

  // ------------------------------------------------------------------ F. webhook deliveries
  function viewWebhooks(main) {
    const msg = msgBox();
    const filters = h("form", { class: "filters", "data-testid": "delivery-filters" },
      field("Status", select("status", DELIVERY_STATUSES, { empty: "All statuses" })),
      field("Event", input("event", { placeholder: "event name" })), submit("Filter", ""));
    const tbl = table("deliveries", ["Event", "Target", "Status", "Attempts", "Last response", "Next attempt", "Created", "Delivered", ""]);
    main.append(h("h1", {}, "Webhook deliveries"), card(null, filters, msg, tbl));
    async function load() {
      const e = filters.elements;
      const list = (await api(Q.deliveries, { status: e.status.value || null, event: e.event.value.trim() || null })).storeCreditWebhookDeliveries;
      fill(tbl, list.map((d) => tr({ "data-testid": "delivery-row" }, [h("span", { title: d.eventId }, d.event),
        h("span", { class: "url" }, d.targetUrl), badge(d.status), String(d.attempts),
        [d.lastStatusCode != null ? `HTTP ${d.lastStatusCode}` : "", d.lastError ? h("div", { class: "error-text" }, d.lastError) : null],
        when(d.nextAttemptAt), when(d.createdAt), when(d.deliveredAt),
        btn("Redeliver", (ev) => act(msg, ev.currentTarget, async () => {
          const p = await mutate(M.redeliver, { id: d.id });
          await success(msg, `Redelivery queued (${p.delivery ? p.delivery.status : "PENDING"})`, load);
        }), "", { "data-testid": "redeliver" })])), "No deliveries.");
    }
    onSubmit(filters, msg, load);
    act(msg, null, load);
  }

  // ------------------------------------------------------------------ extension point for the other screen files
  // terms.js (payment terms, invoices) registers its view and sections here before the first render.
  window.StoreCreditUI = Object.freeze({
    h, api, mutate, msgBox, setMsg, success, act, onSubmit, card, table, tr, fill, dl, field, input, select, check,
    submit, button, btn, row, actions, badge, muted, money, fixed, when, gidLabel, navLink, param, randomKey, mut,
    MONEY, ERR,
    addView(name, label, text, fn) { VIEWS[name] = fn; LIST_VIEWS.push([name, label, text]); },
    addSection(view, fn) { SECTIONS[view].push(fn); },
    // the GraphQL documents of a screen file, by name (a test validates them against the schema)
    documents: {},
  });
})();
