"use strict";
// The lieutenant's approval queue (P2): who entered each entry, its case number and synopsis; the
// lieutenant approves it or rejects it with a note. The server refuses either by the entering
// member or below lieutenant, and a rejection without a note an auditor can check; the page shows why.

const $ = (id) => document.getElementById(id);
const {call, me} = window.alprNav;
let user = null;

function say(text, ok) {
  $("approval-message").textContent = text;
  $("approval-message").className = "message " + (ok ? "ok" : "error");
}

function field(dl, term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value === null || value === undefined || value === "" ? "-" : String(value);
  dl.append(dt, dd);
}

function card(p) {
  const div = document.createElement("div");
  div.className = "entry";
  div.dataset.key = p.key;
  const title = document.createElement("div");
  const plate = document.createElement("span");
  plate.className = "plate";
  plate.textContent = p.plate + (p.plate_state ? " (" + p.plate_state + ")" : "");
  title.append(plate, " · " + p.list_type + " · " + p.key);
  const dl = document.createElement("dl");
  const by = p.entered_by || {};
  field(dl, "Entered by", (by.name || "?") + ", badge " + (by.badge || "?") + (by.rank ? ", " + by.rank : ""));
  field(dl, "Assignment", by.assignment);
  field(dl, "Case number", p.case_number);
  field(dl, "Synopsis", p.synopsis);
  field(dl, "Proposed", p.proposed_at ? new Date(p.proposed_at).toLocaleString() : null);
  field(dl, "Still missing", p.missing.length ? p.missing.join(", ") : "nothing but approval");
  div.append(title, dl);
  if (user.may.includes("hotlist.approve")) {
    // approve, or reject with a note saying why (P2: the note is checked like any justification)
    const form = document.createElement("form");
    form.className = "decide";
    form.addEventListener("submit", (event) => event.preventDefault());
    const label = document.createElement("label");
    label.textContent = "Why reject it (needed to reject)";
    const note = document.createElement("input");
    note.type = "text";
    note.className = "reject-note";
    note.maxLength = 500;
    note.autocomplete = "off";
    label.append(note);
    const approve = document.createElement("button");
    approve.type = "button";
    approve.className = "approve";
    approve.textContent = "Approve";
    approve.disabled = p.missing.length > 0;
    approve.addEventListener("click", () => approveEntry(p));
    const reject = document.createElement("button");
    reject.type = "button";
    reject.className = "reject";
    reject.textContent = "Reject";
    reject.addEventListener("click", () => rejectEntry(p, note.value));
    form.append(label, approve, reject);
    div.append(form);
  }
  return div;
}

async function load() {
  const answer = await call("GET", "/api/approvals");
  if (answer === null) return;
  if (!answer.ok) return say(answer.data.error, false);
  const rows = answer.data.pending;
  $("pending").replaceChildren(...rows.map(card));
  $("pending-empty").hidden = rows.length > 0;
}

async function approveEntry(p) {
  const answer = await call("POST", "/api/approvals/" + encodeURIComponent(p.key) + "/approve", {});
  if (answer === null) return;
  if (!answer.ok) return say("Refused: " + answer.data.error, false);
  await load();
  await window.alprNav.count();
  say("Approved " + p.key + " (" + answer.data.plate + ") as " + answer.data.approved_by + ", badge " +
    answer.data.badge + ": it is active", true);
}

async function rejectEntry(p, note) {
  const answer = await call("POST", "/api/approvals/" + encodeURIComponent(p.key) + "/reject", {note});
  if (answer === null) return;
  if (!answer.ok) return say("Refused: " + answer.data.error, false);
  await load();
  await window.alprNav.count();
  say("Rejected " + p.key + " (" + answer.data.plate + ") as " + answer.data.rejected_by + ", badge " +
    answer.data.badge + ": it will not become active", true);
}

async function start() {
  user = await me;
  if (user === null) return window.location.assign("/login");
  await load();
  document.body.dataset.ready = "true";
}

start();
