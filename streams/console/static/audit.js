"use strict";
// The auditor's tools: verify the chain (P14), a random sample of searches (P23), the access report
// (P15). Each reads the whole trail: the page says it is working until the answer comes.

const $ = (id) => document.getElementById(id);
const {call, me} = window.alprNav;

function state(id, text, kind) {
  $(id).textContent = text;
  $(id).className = "message " + kind;
}

async function run(button, message, url) {
  // one request at a time per tool; the button says so while the server reads and checks
  $(button).disabled = true;
  state(message, "Working: reading and checking the audit trail…", "working");
  try {
    return await call("GET", url);
  } finally {
    $(button).disabled = false;
  }
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "-";
}

async function verify() {
  const answer = await run("verify", "verify-message", "/api/audit/verify");
  if (answer === null) return;
  if (!answer.ok) return state("verify-message", answer.data.error, "error");
  const r = answer.data;
  state("verify-message", "Checked " + new Date().toLocaleTimeString(), "ok");
  const verdict = $("verify-verdict");
  verdict.hidden = false;
  verdict.className = "verdict " + (r.intact ? "intact" : "broken");
  verdict.dataset.intact = String(r.intact);
  verdict.textContent = r.intact ? "Audit trail intact"
    : "AUDIT TRAIL BROKEN: " + r.problem_count + " problem(s); the first: " + r.problems[0].where;
  $("verify-facts").hidden = false;
  $("verify-records").textContent = r.records;
  $("verify-chains").textContent = r.chains;
  $("verify-span").textContent = when(r.oldest) + " … " + when(r.newest);
  $("verify-head").textContent = r.head ? r.head.digest + " (" + r.head.records + " records)"
    : "no signed checkpoint: nothing attests the head (P14)";
  $("verify-problems").replaceChildren(...r.problems.map((p) => {
    const li = document.createElement("li");
    li.textContent = p.kind + ": " + p.where;
    return li;
  }));
}

async function sample(event) {
  event.preventDefault();
  const query = new URLSearchParams({n: $("sample-n").value, months: $("sample-months").value});
  if ($("sample-seed").value) query.set("seed", $("sample-seed").value);
  const answer = await run("sample", "sample-message", "/api/audit/sample?" + query);
  if (answer === null) return;
  if (!answer.ok) return state("sample-message", answer.data.error, "error");
  state("sample-message", answer.data.intact ? "" : "The trail does not verify: records it cannot vouch for are left out", answer.data.intact ? "ok" : "error");
  $("sample-lines").textContent = answer.data.lines.join("\n");
  $("sample-lines").hidden = false;
}

async function report(event) {
  event.preventDefault();
  const to = new Date($("report-to").value + "T23:59:59");
  const query = new URLSearchParams({from: new Date($("report-from").value + "T00:00:00").toISOString(), to: to.toISOString()});
  const answer = await run("report", "report-message", "/api/audit/report?" + query);
  if (answer === null) return;
  if (!answer.ok) return state("report-message", answer.data.error, "error");
  state("report-message", answer.data.intact ? "" : "The trail does not verify: records it cannot vouch for are left out", answer.data.intact ? "ok" : "error");
  $("report-lines").textContent = answer.data.lines.join("\n");
  $("report-lines").hidden = false;
}

async function start() {
  const user = await me;
  if (user === null) return window.location.assign("/login");
  const today = new Date();
  const monthAgo = new Date(today.getTime() - 30 * 86400000);
  $("report-from").value = monthAgo.toISOString().slice(0, 10);
  $("report-to").value = today.toISOString().slice(0, 10);
  $("verify").addEventListener("click", verify);
  $("sample-form").addEventListener("submit", sample);
  $("report-form").addEventListener("submit", report);
  document.body.dataset.ready = "true";
}

start();
