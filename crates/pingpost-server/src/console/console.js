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
