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
  const daily = value("caps.daily");
  patch.caps = { daily: daily === "" ? null : Number(daily) };
  return patch;
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
      for (const v of [e.at, e.checkpoint, e.partner, e.offer, e.buyer, e.contract, e.matched, e.prior_at]) {
        row.insertCell().textContent = v ?? "—";
      }
    }
    next.hidden = !answer.next_cursor;
    next.dataset.cursor = answer.next_cursor ?? "";
  };
  auditForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(auditForm)) if (value.trim() !== "") params.set(name, value.trim());
    query = params.toString();
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
