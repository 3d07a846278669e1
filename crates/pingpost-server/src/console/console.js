// The console's scripts: every change goes to the operators' API (/v1/admin/...), the same
// handlers and validation as any other client, authenticated by the session cookie plus the
// session's CSRF token; a refusal is shown next to the field the API names.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, answer };
}

// The merge patch a contract row's form asks for.
function contractPatch(form) {
  const value = (name) => form.elements[name].value;
  const patch = {
    status: value("status"),
    dedup: { enabled: form.elements["dedup.enabled"].checked, window_days: Number(value("dedup.window_days")) },
  };
  patch.caps = {};
  for (const period of ["hourly", "daily", "weekly", "monthly"]) {
    const cap = value(`caps.${period}`);
    patch.caps[period] = cap === "" ? null : Number(cap);
  }
  // Both repeat fields empty: the contract takes no repeats. A price is a percent or a fixed
  // amount, never both: the other is removed.
  const after = value("repeat.after_days");
  const amount = value("repeat.price.amount").trim();
  if (after === "" && amount === "") {
    patch.repeat = null;
  } else {
    const kind = value("repeat.price.kind");
    const price = amount === "" ? null : { percent: null, fixed: null, [kind]: amount };
    patch.repeat = { after_days: after === "" ? null : Number(after), price };
  }
  return patch;
}

// A form's filled fields as a query string; a date-and-time picker's value (no zone) is read
// as UTC and sent as the RFC 3339 time the API reads.
function queryOf(form) {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(form)) {
    const text = value.trim();
    if (text === "") continue;
    const picker = form.elements[name]?.type === "datetime-local";
    params.set(name, picker ? `${text.length === 16 ? `${text}:00` : text}Z` : text);
  }
  return params;
}

function showErrors(form, error) {
  for (const slot of form.querySelectorAll(".error")) slot.textContent = "";
  const slot = form.querySelector(`.error[data-for="${CSS.escape(error.field ?? "")}"]`) ?? form.querySelector(".error[data-for=\"\"]");
  if (slot) slot.textContent = error.message ?? "refused";
  const input = form.elements[error.field ?? ""];
  if (input && input.focus) input.focus();
}

for (const form of document.querySelectorAll("form.contract")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = form.querySelector(".status");
    status.textContent = "Saving…";
    const { ok, answer } = await api("PATCH", `/v1/admin/contracts/${encodeURIComponent(form.dataset.id)}`, contractPatch(form));
    if (ok) {
      for (const slot of form.querySelectorAll(".error")) slot.textContent = "";
      status.textContent = "Saved";
    } else {
      status.textContent = "Not saved";
      showErrors(form, answer.error ?? {});
    }
  });
}

// The contracts table: the search narrows its rows to those whose id, offer or buyer hold
// every word typed, so a market of hundreds of contracts stays one short list away.
const contractSearch = document.getElementById("contract-search");
if (contractSearch) {
  const rows = [...document.querySelectorAll("#contracts tbody tr")];
  const count = document.getElementById("contract-count");
  contractSearch.addEventListener("input", () => {
    const words = contractSearch.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const row of rows) {
      const hit = words.every((word) => row.dataset.search.includes(word));
      row.hidden = !hit;
      shown += hit ? 1 : 0;
    }
    const all = `${rows.length} contract${rows.length === 1 ? "" : "s"}`;
    count.textContent = words.length ? `${shown} of ${all}` : all;
  });
}

// Beside a contract's window, before saving: what the window typed would have done to the
// last 7 days' pings (GET /v1/admin/whatif, read from the lead event log; nothing is written).
async function showWhatIf(form) {
  const out = form.querySelector("output.whatif");
  const enabled = form.elements["dedup.enabled"].checked;
  const days = form.elements["dedup.window_days"].value.trim();
  if (enabled && days === "") {
    out.textContent = "";
    return;
  }
  const query = new URLSearchParams({ contract: form.dataset.id, window_days: enabled ? days : "off" });
  out.textContent = "Counting the last 7 days…";
  const { ok, answer } = await api("GET", `/v1/admin/whatif?${query}`);
  // A newer value was typed while this one was counted: its own answer follows.
  if (form.elements["dedup.window_days"].value.trim() !== days || form.elements["dedup.enabled"].checked !== enabled) return;
  if (!ok) {
    out.textContent = `No what-if: ${answer.error?.message ?? "unavailable"}`;
    return;
  }
  const window = (d) => (d === null ? "no window" : `${d} days`);
  out.textContent =
    `Last 7 days with ${window(answer.asked)} instead of ${window(answer.now)}: ` +
    `of ${answer.reached} pings that reached this window, ${answer.newly_blocked} newly blocked and ` +
    `${answer.newly_allowed} newly allowed; ${answer.sales_stopped} sales (${answer.revenue_stopped}) would have been stopped.`;
}

for (const form of document.querySelectorAll("form.contract")) {
  let pending;
  const later = () => {
    clearTimeout(pending);
    pending = setTimeout(() => showWhatIf(form), 300);
  };
  form.elements["dedup.window_days"].addEventListener("input", later);
  form.elements["dedup.enabled"].addEventListener("change", later);
}

// The audit log: the form's filters as the API's query string; "Next page" follows the cursor.
const auditForm = document.getElementById("audit-filters");
if (auditForm) {
  let query = "";
  const table = document.querySelector("#audit-table tbody");
  const next = document.getElementById("audit-next");
  const load = async (cursor) => {
    const params = new URLSearchParams(query);
    if (cursor) params.set("cursor", cursor);
    const { ok, answer } = await api("GET", `/v1/admin/audit?${params}`);
    document.getElementById("audit-error").textContent = ok ? "" : answer.error?.message ?? "refused";
    if (!ok) return;
    if (!cursor) table.replaceChildren();
    for (const e of answer.entries) {
      const row = table.insertRow();
      const checkpoint = e.test ? `${e.checkpoint} (test lead)` : e.checkpoint;
      for (const v of [e.at, checkpoint, e.partner, e.offer, e.buyer, e.contract, e.matched, e.prior_at]) {
        row.insertCell().textContent = v ?? "—";
      }
    }
    next.hidden = !answer.next_cursor;
    next.dataset.cursor = answer.next_cursor ?? "";
  };
  auditForm.addEventListener("submit", (event) => {
    event.preventDefault();
    query = queryOf(auditForm).toString();
    load(null);
  });
  next.addEventListener("click", () => load(next.dataset.cursor));
  load(null);
}

// The ping tester: a real ping as the chosen partner; each contract of the offer with its
// bid or the checkpoint that dropped it.
const pingForm = document.getElementById("ping-form");
if (pingForm) {
  pingForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const lead = {};
    for (const name of ["email", "phone", "state", "zip"]) {
      const value = pingForm.elements[name].value.trim();
      if (value !== "") lead[name] = value;
    }
    const offer = pingForm.elements.offer;
    const body = { partner: pingForm.elements.partner.value, offer: offer.value, lead };
    const { ok, answer } = await api("POST", "/v1/admin/test-ping", body);
    document.getElementById("ping-error").textContent = ok ? "" : answer.error?.message ?? "refused";
    const table = document.querySelector("#ping-contracts tbody");
    table.replaceChildren();
    if (!ok) return;
    const a = answer.answer;
    document.getElementById("ping-result").textContent =
      `Ping ${a.ping_id}: ${a.status}${a.reason ? ` (${a.reason})` : ""}, ${a.bids.length} bid(s).`;
    const whole = answer.dropped.find((d) => !d.contract);
    const contracts = (offer.selectedOptions[0]?.dataset.contracts ?? "").split(",").filter(Boolean);
    for (const id of contracts) {
      const bid = a.bids.find((b) => b.contract === id);
      const drop = answer.dropped.find((d) => d.contract === id) ?? whole;
      const row = table.insertRow();
      row.insertCell().textContent = id;
      row.insertCell().textContent = bid ? `bid ${bid.price} (payout ${bid.payout})` : drop ? `dropped: ${drop.checkpoint}` : "no bid";
      row.dataset.contract = id;
    }
  });
}

// Suppression of one identifier: an "@" makes it an email, anything else a phone.
const suppressOne = document.getElementById("suppress-one");
if (suppressOne) {
  suppressOne.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = suppressOne.elements.identifier.value.trim();
    const kind = value.includes("@") ? "email" : "phone";
    const out = document.getElementById("suppress-result");
    const action = event.submitter?.value ?? "check";
    let result;
    if (action === "check") {
      result = await api("GET", `/v1/admin/suppression/check?${kind}=${encodeURIComponent(value)}`);
      if (result.ok) out.textContent = result.answer.suppressed ? `Suppressed since ${result.answer.since}` : "Not suppressed";
    } else {
      const body = kind === "email" ? { emails: [value] } : { phones: [value] };
      result = await api(action === "add" ? "POST" : "DELETE", "/v1/admin/suppression", body);
      if (result.ok) out.textContent = action === "add" ? `Suppressed (${result.answer.added} new)` : `Lifted (${result.answer.removed})`;
    }
    if (!result.ok) out.textContent = result.answer.error?.message ?? "refused";
  });
}

// CSV import: the file goes up as the request body; XMLHttpRequest reports the upload's
// progress (fetch does not), and the answer's counts end it.
const importForm = document.getElementById("suppress-import");
if (importForm) {
  importForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = importForm.elements.file.files[0];
    if (!file) return;
    const bar = document.getElementById("import-progress");
    const out = document.getElementById("import-result");
    bar.value = 0;
    out.textContent = "Importing…";
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/admin/suppression/import");
    xhr.setRequestHeader("Content-Type", "text/csv");
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.floor((e.loaded / e.total) * 99); };
    xhr.onload = () => {
      let answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch (_) { /* not JSON: said below */ }
      if (xhr.status === 200) {
        bar.value = 100;
        out.textContent = `Imported ${answer.rows} rows: ${answer.added} added, ${answer.skipped} already suppressed, ${answer.invalid} invalid.`;
      } else {
        out.textContent = answer.error?.message ?? `refused (${xhr.status})`;
      }
    };
    xhr.onerror = () => { out.textContent = "The upload failed."; };
    xhr.send(file);
  });
}

// Erasure, with its counts.
const eraseForm = document.getElementById("erase");
if (eraseForm) {
  eraseForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { suppression: eraseForm.elements.suppression.checked };
    for (const name of ["email", "phone"]) {
      const value = eraseForm.elements[name].value.trim();
      if (value !== "") body[name] = value;
    }
    const { ok, answer } = await api("POST", "/v1/admin/erasure", body);
    const out = document.getElementById("erase-result");
    if (!ok) { out.textContent = answer.error?.message ?? "refused"; return; }
    const e = answer.erased;
    out.textContent = `Erased: ${e.vertical_submissions} vertical submissions, ${e.sales} sales, ${e.dq} DQ records` +
      (answer.suppression_removed !== undefined ? `; ${answer.suppression_removed} suppression entries lifted` : "") + ".";
  });
}

// Returns awaiting a decision, each approved or denied through the operators' API; and the
// books' accounts.
const returnsTable = document.querySelector("#returns-table tbody");
if (returnsTable) {
  const loadReturns = async () => {
    const { ok, answer } = await api("GET", "/v1/admin/returns?status=pending");
    returnsTable.replaceChildren();
    if (!ok) return;
    for (const r of answer.returns) {
      const row = returnsTable.insertRow();
      row.dataset.return = r.return_id;
      for (const v of [r.return_id, r.buyer, r.reason, r.note, r.refund, r.clawback, r.opened_at]) row.insertCell().textContent = v ?? "—";
      const cell = row.insertCell();
      for (const decision of ["approve", "deny"]) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = `${decision === "approve" ? "Approve" : "Deny"} ${r.return_id}`;
        button.dataset.decision = decision;
        button.addEventListener("click", async () => {
          const result = await api("POST", `/v1/admin/returns/${encodeURIComponent(r.return_id)}`, { decision });
          document.getElementById("returns-result").textContent = result.ok
            ? `${r.return_id} ${result.answer.status}`
            : result.answer.error?.message ?? "refused";
          loadReturns();
        });
        cell.append(button, " ");
      }
    }
  };
  loadReturns();
}

// Each prepaid buyer's balance as it stands, from the operators' API.
const balancesTable = document.querySelector("#balances-table tbody");
if (balancesTable) {
  for (const row of balancesTable.rows) {
    api("GET", `/v1/admin/buyers/${encodeURIComponent(row.dataset.buyer)}/balance`).then(({ ok, answer }) => {
      if (!ok) {
        document.getElementById("balances-error").textContent = answer.error?.message ?? "refused";
        return;
      }
      for (const cell of row.querySelectorAll("td[data-field]")) cell.textContent = answer[cell.dataset.field];
    });
  }
}

const accountsForm = document.getElementById("accounts-form");
if (accountsForm) {
  const loadAccounts = async () => {
    const { ok, answer } = await api("GET", `/v1/admin/accounts?${queryOf(accountsForm)}`);
    document.getElementById("accounts-error").textContent = ok ? "" : answer.error?.message ?? "refused";
    const table = document.querySelector("#accounts-table tbody");
    table.replaceChildren();
    if (!ok) return;
    for (const g of answer.groups) {
      const row = table.insertRow();
      row.dataset.key = g.key;
      for (const name of ["key", "sales", "gross", "refunds", "net_revenue", "payouts", "clawbacks", "net_payout", "margin"]) {
        row.insertCell().textContent = g[name];
      }
    }
  };
  accountsForm.addEventListener("submit", (event) => { event.preventDefault(); loadAccounts(); });
  loadAccounts();
}

// Secrets: names, when each was written and where it comes from, from the operators' API
// (which never answers a value); the form sets one and empties its value field once sent.
const secretForm = document.getElementById("secret-form");
if (secretForm) {
  const table = document.querySelector("#secrets-table tbody");
  const status = secretForm.querySelector(".status");
  const loadSecrets = async () => {
    const { ok, answer } = await api("GET", "/v1/admin/secrets");
    document.getElementById("secrets-error").textContent = ok ? "" : answer.error?.message ?? "refused";
    if (!ok) return;
    table.replaceChildren();
    for (const s of answer.items) {
      const row = table.insertRow();
      row.dataset.secret = s.name;
      row.insertCell().textContent = s.name;
      row.insertCell().textContent = s.updated_at ?? "—";
      row.insertCell().textContent = s.source === "environment" ? "this node's environment" : "store";
      const cell = row.insertCell();
      if (s.source !== "store") continue;
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = `Delete ${s.name}`;
      button.addEventListener("click", async () => {
        const result = await api("DELETE", `/v1/admin/secrets/${encodeURIComponent(s.name)}`);
        status.textContent = result.ok ? `Deleted ${s.name}` : result.answer.error?.message ?? "refused";
        loadSecrets();
      });
      cell.append(button);
    }
  };
  secretForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = secretForm.elements.name.value.trim();
    status.textContent = "Saving…";
    const { ok, status: code, answer } = await api("PUT", `/v1/admin/secrets/${encodeURIComponent(name)}`,
      { value: secretForm.elements.value.value });
    if (ok) {
      for (const slot of secretForm.querySelectorAll(".error")) slot.textContent = "";
      secretForm.elements.value.value = "";
      status.textContent = `${code === 201 ? "Created" : "Replaced"} ${answer.name}`;
      loadSecrets();
    } else {
      status.textContent = "Not saved";
      showErrors(secretForm, answer.error ?? {});
    }
  });
  loadSecrets();
}

// A buyer's calls: the JSON of its `calls` and `value_maps` put into the stored buyer, which
// is saved whole; a refusal names a field path (`calls.post.fields.contact.dob`), shown next
// to the text area it is in.
const buyerCalls = document.getElementById("buyer-calls");
if (buyerCalls) {
  const id = encodeURIComponent(buyerCalls.dataset.id);
  buyerCalls.addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = buyerCalls.querySelector(".status");
    const parsed = {};
    for (const name of ["calls", "value_maps"]) {
      try {
        parsed[name] = JSON.parse(buyerCalls.elements[name].value || "{}");
      } catch (e) {
        status.textContent = "Not saved";
        showErrors(buyerCalls, { field: name, message: `${name} is not valid JSON: ${e.message}` });
        return;
      }
    }
    status.textContent = "Saving…";
    const current = await api("GET", `/v1/admin/buyers/${id}`);
    if (!current.ok) {
      status.textContent = "Not saved";
      showErrors(buyerCalls, current.answer.error ?? {});
      return;
    }
    const buyer = { ...current.answer, calls: parsed.calls, value_maps: parsed.value_maps };
    const { ok, answer } = await api("PUT", `/v1/admin/buyers/${id}`, buyer);
    if (ok) {
      for (const slot of buyerCalls.querySelectorAll(".error")) slot.textContent = "";
      status.textContent = "Saved";
    } else {
      status.textContent = "Not saved";
      const error = answer.error ?? {};
      // The slot of the text area the field is in; its message keeps the whole path.
      const area = ["calls", "value_maps"].find((n) => (error.field ?? "").startsWith(n));
      showErrors(buyerCalls, { field: area ?? error.field, message: error.message });
    }
  });
}

// Preview or test one of a buyer's calls on the sample lead.
const buyerTry = document.getElementById("buyer-try");
if (buyerTry) {
  const id = encodeURIComponent(buyerTry.dataset.id);
  const shown = (r) => [`${r.method} ${r.url}`, ...r.headers.map(([k, v]) => `${k}: ${v}`), "", r.body].join("\n");
  buyerTry.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = event.submitter?.value ?? "preview";
    const out = document.getElementById("try-request");
    const answerOut = document.getElementById("try-answer");
    let lead;
    try {
      lead = JSON.parse(buyerTry.elements.lead.value);
    } catch (e) {
      showErrors(buyerTry, { field: "", message: `The sample lead is not valid JSON: ${e.message}` });
      return;
    }
    const body = { call: buyerTry.elements.call.value, offer: buyerTry.elements.offer.value, lead };
    if (action === "test" && buyerTry.elements.live.checked) body.live = true;
    const { ok, answer } = await api("POST", `/v1/admin/buyers/${id}/${action}`, body);
    if (!ok) {
      const error = answer.error ?? {};
      showErrors(buyerTry, { field: "", message: error.field ? `${error.field}: ${error.message}` : error.message });
      out.textContent = "";
      answerOut.textContent = "";
      return;
    }
    showErrors(buyerTry, { field: "", message: "" });
    if (action === "preview") {
      out.textContent = shown(answer);
      answerOut.textContent = "(a preview sends nothing)";
    } else {
      out.textContent = shown(answer.request);
      const head = answer.status === null ? `no answer: ${answer.error}` : `${answer.status} in ${answer.elapsed_ms} ms`;
      answerOut.textContent = [head, answer.body ?? "", "", `read as: ${JSON.stringify(answer.reading)}`].join("\n");
    }
  });
}
