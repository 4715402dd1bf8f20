"use strict";
// The analyst's search: a justified query (P15-P17); the server decides and records it.

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  return td;
}

function utc(localValue) {
  return localValue ? new Date(localValue).toISOString() : "";
}

// A read without a position (many mobile cameras report none) shows "position unknown", never
// "0, 0" or "null"; a fixed camera's read placed at the camera says so (issue 17).
function placeText(r) {
  if (r.lat === null || r.lat === undefined || r.lon === null || r.lon === undefined) return "position unknown";
  const at = Number(r.lat).toFixed(5) + ", " + Number(r.lon).toFixed(5);
  return r.position_source === "camera" ? at + " (camera's registered position)" : at;
}

async function start() {
  const me = await fetch("/api/me");
  if (!me.ok) return window.location.assign("/login");
  const user = await me.json();
  document.getElementById("who").textContent = user.display + " · " + user.badge + " · " + user.agency;
  document.getElementById("alerts-link").hidden = !user.may.includes("alert.view");
  document.getElementById("sign-out").addEventListener("click", async () => {
    await fetch("/api/session", {method: "DELETE", headers: {"Content-Type": "application/json"}});
    window.location.assign("/login");
  });
  if (Array.isArray(user.case_formats) && user.case_formats.length) {
    // The deployment's own formats, when the server says them (P16).
    document.getElementById("case-hint").textContent =
      "Your agency's case or incident number: " + user.case_formats.join(", ") +
      ". For another agency, its own format. \"N/A\", \"-\" or a plate are refused (P16).";
  }
  document.getElementById("search-form").addEventListener("submit", search);
}

async function search(event) {
  event.preventDefault();
  const value = (id) => document.getElementById(id).value.trim();
  const message = document.getElementById("search-message");
  const table = document.getElementById("results");
  message.textContent = "searching…";
  message.className = "";
  table.hidden = true;
  const body = {
    plate: value("plate"), partial: value("partial"),
    cameras: value("cameras") ? value("cameras").split(",").map((c) => c.trim()).filter(Boolean) : [],
    from: utc(value("from")), to: utc(value("to")),
    purpose: value("purpose"), crime_type: value("crime_type"), case_number: value("case_number"),
    on_behalf_of: value("on_behalf_of"), commander: value("commander"), approved_on: value("approved_on"),
  };
  const response = await fetch("/api/search", {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  });
  if (response.status === 401) return window.location.assign("/login");
  const data = await response.json().catch(() => ({error: response.statusText}));
  if (!response.ok) {
    // The refusal names the rule and what is expected (e.g. the case-number formats, P16/P17):
    // shown as the server wrote it, the form keeps what was typed so it can be corrected.
    message.textContent = (response.status === 403 ? "Search refused: " : "Search not made: ") + data.error;
    message.className = "error";
    return;
  }
  message.textContent = data.count + " sightings";
  message.className = "ok";
  table.querySelector("tbody").replaceChildren(...data.sightings.map((s) => {
    const tr = document.createElement("tr");
    tr.append(cell(new Date(s.captured_at).toLocaleString()), cell(s.plate), cell(s.plate_state), cell(s.camera_id),
      cell(s.match_kind), cell(placeText(s)), cell(s.image_ref), cell(s.held ? s.cases.join(", ") : ""));
    return tr;
  }));
  table.hidden = false;
}

start();
