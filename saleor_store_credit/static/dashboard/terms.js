/* Payment terms and pay-on-account invoices – staff screens (issue 19, items 1 and 2).
   Registers with app.js (window.StoreCreditUI): a "Payment terms & invoices" view, a section on the customer
   view (their terms, their open invoices) and one on the order view (due date, invoice, record a payment).
   Plain ES2020, no build step; all text goes into the DOM as text nodes. */
"use strict";
(() => {
  const ui = window.StoreCreditUI;
  if (!ui) return;
  const { h, api, mutate, msgBox, setMsg, success, act, onSubmit, card, table, tr, fill, dl, field, input, select, check,
    submit, btn, row, actions, badge, muted, money, when, navLink, randomKey, mut, MONEY } = ui;

  const BASES = [["ORDER_DATE", "Days after the order date"], ["END_OF_MONTH", "Days after the end of the month"],
    ["FULFILMENT", "Days after fulfilment"]];
  const STATUSES = ["OVERDUE", "DUE", "NOT_DUE", "AWAITING_FULFILMENT", "PAID", "CLOSED"];
  const STATUS_CLASS = { OVERDUE: "danger", DUE: "warn", PAID: "ok" };
  const TERMS = "id name description basis days isActive due";
  const ORDER = `orderId orderNumber customerId customerEmail channel onTerms termsName basis days source dueDate status
    daysOverdue owed ${MONEY} paidAt dueNotifiedAt overdueNotifiedAt`;
  const ON_ACCOUNT = `onAccount { transactionId authorized ${MONEY} open ${MONEY} paid ${MONEY} refunded ${MONEY}
    cancelled ${MONEY} entries { id kind amount ${MONEY} reference note actor { type label } createdAt } }`;
  const Q = {
    terms: `query Terms { paymentTerms { ${TERMS} } }`,
    assignments: `query Assignments($customerId: ID) { paymentTermsAssignments(customerId: $customerId) {
      id terms { id name } customerId customerEmail groupId groupName channel } }`,
    groups: "query Groups { creditGroups { id name } }",
    invoices: `query Invoices($status: OrderPaymentTermsStatus, $customerId: ID) {
      ordersOnTerms(status: $status, customerId: $customerId, first: 100) { ${ORDER} } }`,
    order: `query OrderTerms($id: ID!) { orderPaymentTerms(orderId: $id) { ${ORDER} ${ON_ACCOUNT} } }`,
    customer: `query CustomerTerms($id: ID!, $channel: String!) { customerPaymentTerms(customerId: $id, channel: $channel) {
      terms { id name due } source } }`,
  };
  const M = {
    save: mut("paymentTermsSave", "$id: ID, $input: PaymentTermsInput!", "terms { id }"),
    remove: mut("paymentTermsDelete", "$id: ID!", "deletedId"),
    assign: mut("paymentTermsAssign", "$termsId: ID, $customerId: ID, $groupId: ID, $channel: String", "assignment { id }"),
    pay: mut("orderInvoicePaymentRecord", "$orderId: ID!, $amount: Decimal, $reference: String, $note: String, "
      + "$idempotencyKey: String", "entry { amount { amount currency } }"),
  };

  const statusBadge = (s) => badge(s, STATUS_CLASS[s] || "");
  const termsInput = (t, over) => ({ name: t.name, basis: t.basis, days: t.days, description: t.description,
    isActive: t.isActive, ...over });

  // A small "record a payment" form: empty amount = everything open; one idempotency key per shown form.
  function payForm(orderId, msg, reload, compact = false) {
    const key = { value: randomKey() };
    const f = h("form", { class: compact ? "actions" : "inline-form", "data-testid": "invoice-payment-form" },
      compact ? null : h("h3", {}, "Record an invoice payment"),
      row(field("Amount", input("amount", { type: "number", step: "any", min: "0", placeholder: "all open" })),
        field("Reference", input("reference", { placeholder: "bank reference" })),
        compact ? null : field("Note", input("note"), "grow"), submit(compact ? "Paid" : "Record payment", compact ? "" : "primary")));
    return onSubmit(f, msg, async (e) => {
      const p = await mutate(M.pay, { orderId, amount: e.amount.value.trim() || null,
        reference: e.reference.value.trim() || null, note: e.note ? e.note.value.trim() || null : null,
        idempotencyKey: key.value });
      key.value = randomKey();
      f.reset();
      await success(msg, `Payment recorded: ${p.entry ? money(p.entry.amount) : ""}`, reload);
    });
  }

  function invoiceRows(list, msg, reload) {
    return list.map((o) => tr({ "data-testid": "invoice-row" }, [
      navLink("order", o.orderNumber != null ? `#${o.orderNumber}` : "Order", { orderId: o.orderId }),
      o.customerEmail ? navLink("customer", o.customerEmail, { customerId: o.customerId }) : "—",
      o.termsName || "—", o.dueDate || muted("on fulfilment"), statusBadge(o.status),
      o.daysOverdue ? String(o.daysOverdue) : "—", money(o.owed),
      o.status === "PAID" || o.status === "CLOSED" ? when(o.paidAt) : payForm(o.orderId, msg, reload, true)]));
  }

  // ------------------------------------------------------------------ the view: terms, defaults, invoices
  function viewTerms(main) {
    let terms = [], groups = [];
    const tMsg = msgBox(), aMsg = msgBox(), iMsg = msgBox();
    const tTbl = table("terms", ["Name", "Due", "Description", "Active", ""]);
    const aTbl = table("terms-assignments", ["Who", "Terms", ""]);
    const iTbl = table("invoices", ["Order", "Customer", "Terms", "Due date", "Status", "Days overdue", "Owed", ""]);
    const tForm = h("div"), aForm = h("div");
    const filter = select("status", STATUSES, { empty: "Still owing" });
    filter.addEventListener("change", () => act(iMsg, null, loadInvoices));
    main.append(h("h1", {}, "Payment terms & invoices"),
      h("section", { class: "card", "data-testid": "terms-card" }, h("h2", {}, "Payment terms"), tMsg, tTbl, tForm),
      h("section", { class: "card", "data-testid": "terms-assignments-card" }, h("h2", {}, "Who has which terms"),
        h("p", { class: "muted" }, "A customer's own terms apply over their credit group's, which apply over the channel's default."),
        aMsg, aTbl, aForm),
      h("section", { class: "card", "data-testid": "invoices-card" }, h("h2", {}, "Orders on terms"),
        h("div", { class: "filters" }, field("Status", filter)), iMsg, iTbl));

    async function loadTerms() {
      terms = (await api(Q.terms)).paymentTerms;
      fill(tTbl, terms.map((t) => tr({ "data-testid": "terms-row" }, [t.name, t.due, t.description || "—",
        t.isActive ? badge("ACTIVE", "ok") : badge("INACTIVE"),
        actions(btn(t.isActive ? "Deactivate" : "Activate", (ev) => act(tMsg, ev.currentTarget, async () => {
          await mutate(M.save, { id: t.id, input: termsInput(t, { isActive: !t.isActive }) });
          await success(tMsg, `${t.name} ${t.isActive ? "deactivated" : "activated"}`, loadTerms);
        })), btn("Delete", (ev) => { // two clicks instead of confirm() (sandboxed iframe)
          const b = ev.currentTarget;
          if (b.dataset.armed !== "1") { b.dataset.armed = "1"; b.textContent = "Click again to delete"; return; }
          act(tMsg, b, async () => {
            await mutate(M.remove, { id: t.id });
            await success(tMsg, `${t.name} deleted; placed orders keep their due dates`, loadTerms, loadAssignments);
          });
        }, "danger"))])), "No payment terms yet.");
      tForm.replaceChildren(termsForm());
      aForm.replaceChildren(assignForm());
    }
    function termsForm() {
      const f = h("form", { class: "inline-form", "data-testid": "terms-form" }, h("h3", {}, "New payment terms"),
        row(field("Name", input("name", { required: true, placeholder: "Net 30" })), field("Due", select("basis", BASES)),
          field("Days", input("days", { type: "number", min: "0", max: "3650", step: "1", value: "30" })),
          field("Description", input("description"), "grow"), check("isActive", "Active", true), submit("Create terms")));
      return onSubmit(f, tMsg, async (e) => {
        await mutate(M.save, { id: null, input: { name: e.name.value.trim(), basis: e.basis.value,
          days: parseInt(e.days.value, 10) || 0, description: e.description.value.trim(), isActive: e.isActive.checked } });
        f.reset();
        await success(tMsg, "Payment terms created", loadTerms);
      });
    }
    async function loadAssignments() {
      const list = (await api(Q.assignments)).paymentTermsAssignments;
      fill(aTbl, list.map((a) => tr({ "data-testid": "terms-assignment-row" }, [
        a.channel ? `Channel ${a.channel} (default)` : a.groupName ? `Group ${a.groupName}`
          : navLink("customer", a.customerEmail || a.customerId, { customerId: a.customerId }),
        a.terms.name,
        btn("Remove", (ev) => act(aMsg, ev.currentTarget, async () => {
          await mutate(M.assign, { termsId: null, channel: a.channel, groupId: a.groupId, customerId: a.customerId });
          await success(aMsg, "Assignment removed", loadAssignments);
        }), "danger")])), "No terms assigned: orders are not placed on terms.");
    }
    function assignForm() {
      const f = h("form", { class: "inline-form", "data-testid": "terms-assign-form" }, h("h3", {}, "Assign terms"),
        row(field("Terms", select("termsId", terms.map((t) => [t.id, t.name]), { empty: "—" })),
          field("Channel (default)", input("channel", { placeholder: "channel slug" })), h("span", { class: "or" }, "or"),
          field("Credit group", select("groupId", groups.map((g) => [g.id, g.name]), { empty: "—" })),
          h("span", { class: "or" }, "or"), field("Customer ID", input("customerId", { placeholder: "User ID" })),
          submit("Assign", "")));
      return onSubmit(f, aMsg, async (e) => {
        await mutate(M.assign, { termsId: e.termsId.value || null, channel: e.channel.value.trim() || null,
          groupId: e.groupId.value || null, customerId: e.customerId.value.trim() || null });
        f.reset();
        await success(aMsg, "Terms assigned", loadAssignments);
      });
    }
    async function loadInvoices() {
      const list = (await api(Q.invoices, { status: filter.value || null })).ordersOnTerms;
      fill(iTbl, invoiceRows(list, iMsg, loadInvoices), "No orders match.");
    }
    act(tMsg, null, async () => {
      groups = await api(Q.groups).then((d) => d.creditGroups, () => []);
      await loadTerms();
    });
    act(aMsg, null, loadAssignments);
    act(iMsg, null, loadInvoices);
  }

  // ------------------------------------------------------------------ customer view: terms and open invoices
  function customerSection(main, id) {
    const msg = msgBox(), body = h("div", {}, muted("Loading…"));
    const channel = input("channel", { placeholder: "channel slug", value: "default-channel", "aria-label": "Channel" });
    const invoices = table("customer-invoices", ["Order", "Customer", "Terms", "Due date", "Status", "Days overdue", "Owed", ""]);
    main.append(h("section", { class: "card", "data-testid": "customer-terms" }, h("h2", {}, "Payment terms & invoices"),
      row(field("Channel", channel)), body, msg, h("h3", {}, "Orders on terms, still owing"), invoices));
    async function load() {
      const [c, all] = await Promise.all([api(Q.customer, { id, channel: channel.value.trim() || "default-channel" }),
        api(Q.terms)]);
      const now = c.customerPaymentTerms;
      const f = h("form", { class: "inline-form", "data-testid": "customer-terms-form" },
        row(field("Customer's own terms", select("termsId", all.paymentTerms.map((t) => [t.id, t.name]),
          { empty: "(none: group or channel default)" })), submit("Save", "")));
      onSubmit(f, msg, async (e) => {
        await mutate(M.assign, { termsId: e.termsId.value || null, customerId: id });
        await success(msg, "Terms saved", load);
      });
      body.replaceChildren(dl([["Terms for the next order", now.terms ? `${now.terms.name} (${now.terms.due})` : "None",
        "customer-terms-now"], ["From", now.source || "—"]]), f);
      const list = (await api(Q.invoices, { customerId: id })).ordersOnTerms;
      fill(invoices, invoiceRows(list, msg, load), "Nothing owed on terms.");
    }
    channel.addEventListener("change", () => act(msg, null, load));
    act(msg, null, load);
  }

  // ------------------------------------------------------------------ order view: due date and the invoice
  function orderSection(main, id) {
    const msg = msgBox(), body = h("div", {}, muted("Loading…"));
    main.append(h("section", { class: "card", "data-testid": "order-terms" }, h("h2", {}, "Payment terms & invoice"), body, msg));
    async function load() {
      const o = (await api(Q.order, { id })).orderPaymentTerms;
      if (!o) return body.replaceChildren(h("p", { class: "muted", "data-testid": "no-terms" },
        "This order is not on payment terms and not paid on account."));
      const entries = table("invoice-entries", ["Date", "What", "Amount", "Reference", "By"]);
      const acc = o.onAccount;
      fill(entries, acc.flatMap((a) => a.entries).map((e) => tr({}, [when(e.createdAt), e.kind, money(e.amount),
        [e.reference || "—", e.note ? muted(` ${e.note}`) : null], `${e.actor.label} (${e.actor.type})`])), "No movements.");
      const sum = (k) => (acc.length ? money({ amount: acc.reduce((t, a) => t + Number(a[k].amount), 0), currency: acc[0][k].currency }) : "—");
      body.replaceChildren(...[dl([
        ["Terms", o.onTerms ? `${o.termsName}` : "Not on terms"],
        ["Due date", o.onTerms ? o.dueDate || "on fulfilment" : "—", "order-due-date"],
        ["Status", statusBadge(o.status), "order-terms-status"],
        o.daysOverdue ? ["Days overdue", String(o.daysOverdue)] : null,
        ["Owed", money(o.owed), "order-owed"],
        acc.length ? ["On account", [sum("open"), muted(" open · "), sum("paid"), muted(" paid · "), sum("refunded"),
          muted(" refunded · "), sum("cancelled"), muted(" cancelled")], "order-on-account"] : null,
        o.paidAt ? ["Paid", when(o.paidAt)] : null,
        o.dueNotifiedAt ? ["Due event sent", when(o.dueNotifiedAt)] : null,
        o.overdueNotifiedAt ? ["Overdue event sent", when(o.overdueNotifiedAt)] : null]),
      acc.some((a) => Number(a.open.amount) > 0) ? payForm(o.orderId, msg, load) : null, acc.length ? entries : null]
        .filter(Boolean));
    }
    act(msg, null, load);
  }

  Object.entries({ ...Q, ...M }).forEach(([name, doc]) => { ui.documents[`terms.${name}`] = doc; });
  ui.addView("terms", "Payment terms & invoices", "Payment terms, who has them, orders on terms and invoices paid on account.", viewTerms);
  ui.addSection("customer", customerSection);
  ui.addSection("order", orderSection);
})();
