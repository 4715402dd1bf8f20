"use strict";
// The dispatch console: a live queue pushed by the server (server-sent events), the alert view,
// and one form per step the alert's state allows. All data is set as text, never as HTML.

const ACTION_TEXT = {
  verify: "Visually verified (Tentative Hit)",
  validate: "Entry validated active (Live Query)",
  confirm: "Confirmed by entering agency (Confirmed Hit)",
  disposition: "Record disposition",
  reject: "Reject alert",
};
const STATUS_TEXT = {
  unverified: "Alert: not visually verified",
  tentative_hit: "Tentative Hit",
  live_query: "Live Query: awaiting the entering agency",
  confirmed_hit: "Confirmed Hit",
  rejected: "Rejected",
  dispositioned: "Dispositioned",
};

const alerts = new Map(); // alert id -> summary, with .received (ms) for the clock
let selected = null; // the alert open in the alert view
let cursor = null; // the queue row j/k (or the arrows) have moved to: Enter opens it
let snapshotLoaded = false; // alerts pushed before the first snapshot are not "new"
let mapConfig = null; // /api/map-config: the agency's tile template (map.js), null tiles: none
const MUTE_KEY = "alpr.console.muted";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// A rule id in a text (P7, P24) becomes a link to the rule in the policy reference (/policy#P7):
// built with DOM nodes, never HTML, so a text that holds markup shows as text.
function withRules(text) {
  const out = document.createDocumentFragment();
  const parts = String(text).split(/\b(P(?:[1-9]|1\d|2[0-8]))\b/);
  parts.forEach((part, i) => {
    if (i % 2) out.append(el("a", {href: "/policy#" + part, class: "rule", target: "_blank", rel: "noopener", text: part}));
    else if (part) out.append(document.createTextNode(part));
  });
  return out;
}

// A read without a position (many mobile cameras report none) shows "position unknown", never
// "0, 0" or "null"; a fixed camera's read placed at the camera says so (issue 17).
function placeText(r) {
  if (r.lat === null || r.lat === undefined || r.lon === null || r.lon === undefined) return "position unknown";
  const at = Number(r.lat).toFixed(5) + ", " + Number(r.lon).toFixed(5);
  return r.position_source === "camera" ? at + " (camera's registered position)" : at;
}

// Dates in full, in the browser's time zone and named: a read of 11 days ago never passes for
// today's ("5 Dec 2026, 14:02:31 PST").
function fullDate(iso) {
  return new Date(iso).toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  });
}

// An age as a dispatcher says it, two units at most (as streams.alerts.model.format_age).
function formatAge(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  const days = Math.floor(whole / 86400), hours = Math.floor((whole % 86400) / 3600);
  const minutes = Math.floor((whole % 3600) / 60), secs = whole % 60;
  if (days) return (days === 1 ? "1 day" : days + " days") + (hours ? " " + hours + " h" : "");
  if (hours) return hours + " h" + (minutes ? " " + minutes + " min" : "");
  return minutes ? minutes + " min" : secs + " s";
}

// "last seen 3 min ago at Curtner Ave at Monterey Rd (cam-00004)": the age runs on between updates.
function lastSeenText(a) {
  if (!a.latest) return "";
  const age = a.last_seen_age_s + (Date.now() - a.received) / 1000;
  return "last seen " + formatAge(age) + " ago at " + a.latest.camera;
}

// A camera by its registered name, the id kept visible as secondary text.
function cameraNode(name, id) {
  if (!name || name === id) return el("span", {class: "camera", text: id});
  return el("span", {class: "camera"}, el("span", {class: "camera-name", text: name}), " ",
    el("span", {class: "camera-id", text: "(" + id + ")"}));
}

// A re-alert (issue 18, item 4): the same plate and entry closed in the last 24 h. It says how
// that alert ended, by whom and when, with a link that opens it.
function earlierNode(a) {
  const e = a.earlier;
  if (!e) return "";
  const link = el("a", {href: "#", class: "earlier-link", "data-alert-id": e.alert_id,
    text: e.outcome + (e.by ? " by " + e.by.user + " (" + e.by.badge + ")" : "") + " at " + fullDate(e.at)});
  link.addEventListener("click", (event) => {
    event.preventDefault();
    event.stopPropagation(); // the row's own click would open the new alert instead
    select(e.alert_id);
  });
  return el("div", {class: "earlier"}, "earlier alert for this plate and entry: ", link);
}

function historicalNode(a) {
  return a.historical_text ? el("div", {class: "historical", text: a.historical_text}) : "";
}

function secondsLeft(summary) {
  if (summary.seconds_left === null || summary.seconds_left === undefined) return null;
  return summary.seconds_left - (Date.now() - summary.received) / 1000;
}

function clockText(left) {
  if (left === null) return "";
  if (left < 0) return "OVERDUE by " + formatDuration(-left);
  return formatDuration(left) + " left to confirm";
}

function formatDuration(seconds) {
  const s = Math.floor(seconds);
  const m = Math.floor(s / 60);
  return m + ":" + String(s % 60).padStart(2, "0");
}

function sortKey(a) {
  const left = secondsLeft(a);
  return [left !== null && left < 0 ? 0 : 1, left === null ? Infinity : left, a.urgency, -Date.parse(a.raised_at)];
}

function compare(a, b) {
  const ka = sortKey(a), kb = sortKey(b);
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1;
  return 0;
}

function openAlerts() {
  return [...alerts.values()].filter((a) => a.open).sort(compare);
}

// The queue is rebuilt on every update (and each second while a confirmation clock runs): the row
// that had keyboard focus gets it back, so a dispatcher moving with j/k or Tab is not thrown out.
function renderQueue() {
  const list = document.getElementById("queue");
  const open = openAlerts();
  const active = document.activeElement;
  const focusedId = active && list.contains(active) ? active.dataset.alertId : null;
  list.replaceChildren(
    ...open.map((a) => {
      const left = secondsLeft(a);
      const row = el(
        "li",
        {
          class: "alert-row urgency-" + a.urgency + (left !== null && left < 0 ? " overdue" : "") +
            (a.alert_id === selected ? " selected" : "") + (a.alert_id === cursor ? " cursor" : ""),
          "data-alert-id": a.alert_id,
          "data-status": a.status,
          tabindex: "0",
          role: "button",
          "aria-label": "Open alert " + a.plate_read + " " + (a.plate_state_read || "") + ", " +
            a.list_type.replace(/_/g, " "),
        },
        el("div", {class: "plate", text: a.plate_read + " " + (a.plate_state_read || "")}),
        historicalNode(a),
        earlierNode(a),
        el("div", {class: "meta", text: a.list_type.replace(/_/g, " ") + " · " + a.reason}),
        el("div", {class: "meta"}, withRules(a.match_notes.join(" · "))),
        el("div", {class: "meta last-seen", "data-alert-id": a.alert_id, text: lastSeenText(a)}),
        el("div", {class: "meta read-at"}, "read at ", cameraNode(a.camera_name, a.camera_id),
          " · " + a.position + " · " + fullDate(a.captured_at) +
          (a.sightings ? " · " + a.sightings + " more sighting(s)" : "")),
        el("div", {class: "meta status-text", text: STATUS_TEXT[a.status] || a.status}),
        claimNode(a), // claims.js: "being worked by ..."
        el("div", {class: "clock" + (left !== null && left < 0 ? " overdue" : ""), text: clockText(left)}),
      );
      row.addEventListener("click", () => { cursor = a.alert_id; select(a.alert_id); });
      return row;
    }),
  );
  if (focusedId) {
    const again = list.querySelector(".alert-row[data-alert-id=\"" + CSS.escape(focusedId) + "\"]");
    if (again) again.focus();
  }
  document.getElementById("queue-count").textContent = String(open.length);
  document.getElementById("queue-empty").hidden = open.length > 0;
}

// Closed alerts (issue 18, item 4): rejected and dispositioned alerts of the person's scope, newest
// closing first, a page at a time ("Older" loads the next); each page is an audited view (P15).
// The search box filters what is loaded at once, and asks the server for the matches among all
// closed alerts (a page of them, "Older" for more); a row opens the alert with its whole history.
const CLOSED_PAGE = 50;
// Each list: the pages loaded, newest closing first, and the cursor of the next older page (null:
// there is none). ``browse`` is the list without a search, ``found`` the server's matches of one.
let browse = {alerts: [], older: null};
let found = {query: "", alerts: [], older: null};
let closedAsked = 0; // the newest request: the answer to an older one is dropped
let searchTimer = null;

function closedQuery() {
  return document.getElementById("closed-search").value.trim();
}

function closedAt(a) {
  return Date.parse(a.closed ? a.closed.at : a.raised_at);
}

// Two lists of closed alerts as one, newest closing first; a row of ``first`` wins over the same
// alert in ``second`` (it is the newer answer).
function mergeClosed(first, second) {
  const byId = new Map(second.map((a) => [a.alert_id, a]));
  for (const a of first) byId.set(a.alert_id, a);
  return [...byId.values()].sort((a, b) => closedAt(b) - closedAt(a) || Date.parse(b.raised_at) - Date.parse(a.raised_at));
}

function searchClosed() {
  renderClosed();
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => loadClosed(), 300);
}

function closedShown() {
  return !document.getElementById("closed-panel").hidden;
}

function closedMatches(a, words) {
  const text = [a.plate_read, a.plate_listed, a.case_number, a.closed && a.closed.outcome]
    .filter(Boolean).join(" ").toLowerCase();
  return words.every((w) => text.includes(w));
}

function closedRow(a) {
  const c = a.closed || {};
  const row = el("li", {
    class: "alert-row closed-row" + (a.alert_id === selected ? " selected" : ""),
    "data-alert-id": a.alert_id,
    "data-status": a.status,
    tabindex: "0",
    role: "button",
    "aria-label": "Open closed alert " + a.plate_read + ", " + (c.outcome || a.status),
  },
  el("div", {class: "plate", text: a.plate_read + " " + (a.plate_state_read || "")}),
  el("div", {class: "meta outcome", text: (c.outcome || STATUS_TEXT[a.status] || a.status) +
    (c.by ? " by " + c.by.user + " (" + c.by.badge + ")" : "") + (c.at ? " · " + fullDate(c.at) : "")}),
  el("div", {class: "meta", text: a.list_type.replace(/_/g, " ") + " · " + a.reason +
    (a.case_number ? " · case " + a.case_number : "")}),
  el("div", {class: "meta read-at"}, "read at ", cameraNode(a.camera_name, a.camera_id), " · " + fullDate(a.captured_at)));
  const open = () => select(a.alert_id);
  row.addEventListener("click", open);
  row.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); open(); }
  });
  return row;
}

function renderClosed() {
  const query = closedQuery();
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  let shown = browse.alerts.filter((a) => closedMatches(a, words));
  if (words.length && found.query === query) shown = mergeClosed(found.alerts, shown);
  document.getElementById("closed-older").hidden = !(words.length ? found.query === query && found.older : browse.older);
  document.getElementById("closed-list").replaceChildren(...shown.map(closedRow));
  document.getElementById("closed-count").textContent = String(shown.length);
  const empty = document.getElementById("closed-empty");
  empty.hidden = shown.length > 0;
  empty.textContent = words.length ? "No closed alert matches the search." : "No closed alerts.";
}

// The newest page again (the tab opened, an alert closed, the search changed), or with ``more``
// the next older page of the list shown; older pages already loaded stay.
async function loadClosed(more = false) {
  const query = closedQuery();
  const asked = ++closedAsked;
  const params = new URLSearchParams({state: "closed", limit: String(CLOSED_PAGE)});
  if (query) params.set("q", query);
  const older = more ? (query ? found.older : browse.older) : null;
  if (older) params.set("older", older);
  const response = await fetch("/api/alerts?" + params);
  if (response.status === 401) return window.location.assign("/login");
  if (!response.ok || asked !== closedAsked) return;
  const data = await response.json();
  if (query) found = {query, ...nextList(found.query === query ? found : {alerts: [], older: null}, data, more)};
  else browse = nextList(browse, data, more);
  renderClosed();
}

// A list after a page's answer: the next page appended (``more``), else the newest page in front
// of the older pages already loaded, whose cursor stays.
function nextList(list, data, more) {
  if (more || list.alerts.length <= CLOSED_PAGE) {
    return {alerts: mergeClosed(data.alerts, more ? list.alerts : []), older: data.older};
  }
  return {alerts: mergeClosed(data.alerts, list.alerts), older: list.older};
}

function showTab(closed) {
  document.getElementById("open-panel").hidden = closed;
  document.getElementById("closed-panel").hidden = !closed;
  document.getElementById("tab-open").setAttribute("aria-selected", String(!closed));
  document.getElementById("tab-closed").setAttribute("aria-selected", String(closed));
  if (closed) loadClosed();
}

function rows(table, pairs) {
  table.querySelector("tbody").replaceChildren(
    ...pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
      .map(([k, v]) => el("tr", {}, el("th", {text: k}), el("td", {text: String(v)}))),
  );
}

function field(label, input) {
  return el("label", {}, label, input);
}

function select_(name, options) {
  return el("select", {name}, ...options.map((o) => el("option", {value: o, text: o.replace(/_/g, " ")})));
}

function tick(name, label, value) {
  const box = el("input", {type: "checkbox", name});
  if (value !== undefined) box.value = value;
  return el("label", {class: "tick"}, box, label);
}

// P7: the evidence the person verifies against: the read's image when the page can show it,
// else the plate, state and confidence as read. evidence_shown is set only once the panel is on
// screen (the image loaded, or the text drawn); until then the form sends none and is refused.
function evidencePanel(detail, form) {
  const shown = form.querySelector("input[name=evidence_shown]");
  const read = detail.read;
  const panel = el("div", {class: "evidence", id: "evidence"});
  const text = () => {
    panel.replaceChildren(
      el("div", {class: "evidence-plate", text: read.plate + " " + (read.plate_state || "?")}),
      el("div", {text: "confidence " + Number(read.confidence).toFixed(2) + " · " + read.camera + " · " +
        fullDate(read.captured_at)}),
      el("div", {class: "meta", text: read.image_ref ? "image not shown here: " + read.image_ref : "no image"}),
    );
    requestAnimationFrame(() => { shown.value = "read-text"; panel.dataset.shown = "read-text"; });
  };
  const url = detail.verification.image_url;
  if (url) {
    const image = el("img", {alt: "captured image of " + read.plate, class: "evidence-image"});
    image.addEventListener("load", () => { shown.value = "image"; panel.dataset.shown = "image"; });
    image.addEventListener("error", text); // not loadable here: verify against the read text
    image.src = url;
    panel.append(image);
  } else if (detail.verification.image_required) { // images.js sets evidence_shown once the crop loaded
    panel.append(el("div", {class: "meta", text: "Verify against the plate image above: this button is enabled once it has loaded (P7)"}));
  } else {
    requestAnimationFrame(text);
  }
  return panel;
}

function verifyFields(detail, form) {
  const entry = detail.entry;
  form.append(el("input", {type: "hidden", name: "evidence_shown", value: ""}));
  form.append(evidencePanel(detail, form));
  const checks = el("fieldset", {class: "checks"}, el("legend", {text: "Compared with the listed entry"}),
    tick("characters_match", "Characters match the listed plate " + entry.plate),
    tick("state_match", "State matches the listed state " + (entry.plate_state || "?")));
  form.append(checks);
  const flags = detail.verification.flags;
  if (flags.length) {
    form.append(el("fieldset", {class: "checks flags"}, el("legend", {text: "Acknowledge each flag (and say why in the note)"}),
      ...flags.map((f) => tick("ack", f.text, f.flag))));
  }
}

function verifyBody(form) {
  const body = {action: "verify", note: form.querySelector("input[name=note]").value};
  const shown = form.querySelector("input[name=evidence_shown]").value;
  if (shown) body.evidence_shown = shown;
  body.characters_match = form.querySelector("input[name=characters_match]").checked;
  body.state_match = form.querySelector("input[name=state_match]").checked;
  body.acknowledged = [...form.querySelectorAll("input[name=ack]:checked")].map((box) => box.value);
  return body;
}

function actionForm(detail, action) {
  const form = el("form", {"data-action": action, id: "form-" + action});
  const choices = detail.choices;
  if (action === "verify") verifyFields(detail, form);
  if (action === "reject") form.append(field("Reason", select_("reason", choices.reason)));
  if (action === "validate") form.append(field("Confirmation priority", select_("priority", choices.priority)));
  if (action === "confirm") {
    const agency = detail.entry.entering_agency;
    form.append(field("Confirming agency (ORI)" + (agency ? ": the entering agency is " + agency : ""),
      el("input", {name: "confirming_agency"})));
  }
  if (action === "disposition") form.append(field("Disposition", select_("disposition", choices.disposition)));
  form.append(field(action === "disposition" ? "What happened (required)" : "Note", el("input", {name: "note", size: "40"})));
  form.append(el("button", {type: "submit", id: "action-" + action, text: ACTION_TEXT[action] || action}));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (action === "verify") return submit(detail.alert_id, verifyBody(form));
    const body = {action};
    for (const input of form.querySelectorAll("input, select")) body[input.name] = input.value;
    submit(detail.alert_id, body);
  });
  return form;
}

function historyText(e) {
  const checked = e.event === "AlertVisuallyVerified" && e.evidence_shown
    ? " · against " + e.evidence_shown + (e.acknowledged && e.acknowledged.length ? " · acknowledged " + e.acknowledged.join(", ") : "")
    : "";
  return fullDate(e.at) + " " + e.event.replace(/^Alert/, "") +
    (e.by ? " by " + e.by.user + " (" + e.by.badge + ")" : "") +
    [e.reason, e.priority, e.confirming_agency, e.disposition].filter(Boolean).map((x) => " · " + x).join("") +
    (e.taken_from ? " · taken over from " + e.taken_from.user + " (" + e.taken_from.badge + ")" : "") +
    checked + (e.note ? " · " + e.note : "");
}

function showMessage(text, kind) {
  const message = document.getElementById("message");
  message.textContent = text;
  message.className = kind;
}

async function submit(alertId, body) {
  const response = await fetch("/api/alerts/" + encodeURIComponent(alertId) + "/transitions", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({error: response.statusText}));
  if (response.status === 401) return window.location.assign("/login");
  if (response.ok) {
    renderDetail(data);
    showMessage("Recorded: " + (STATUS_TEXT[data.status] || data.status), "ok");
  } else {
    showMessage("Refused: " + data.error, "error");
    await select(alertId, false); // show the alert as it is: unchanged
  }
}

function renderDetail(d) {
  document.getElementById("detail").hidden = false;
  document.getElementById("detail").setAttribute("data-alert-id", d.alert_id);
  document.getElementById("detail").setAttribute("data-status", d.status);
  document.getElementById("p7-banner").replaceChildren(withRules(d.banner));
  const reminder = document.getElementById("occupant-reminder");
  reminder.hidden = !d.occupant_reminder;
  reminder.replaceChildren(withRules(d.occupant_reminder || ""));
  document.getElementById("d-plate").textContent = d.read.plate + " " + (d.read.plate_state || "");
  document.getElementById("d-status").textContent = STATUS_TEXT[d.status] || d.status;
  document.getElementById("d-notes").replaceChildren(...d.match_notes.map((n) => el("li", {}, withRules(n))));
  document.getElementById("d-advisory").replaceChildren(withRules(d.advisory));
  document.getElementById("d-earlier").replaceChildren(earlierNode(d));
  const historical = document.getElementById("d-historical");
  historical.hidden = !d.historical_text;
  historical.textContent = d.historical_text || "";
  d.received = Date.now();
  const seen = document.getElementById("d-last-seen");
  seen.dataset.alertId = d.alert_id;
  seen.textContent = lastSeenText(d);
  renderClaim(d); // claims.js: who works it; Work this alert / Release / Take over
  rows(document.getElementById("d-read"), [
    ["Plate read", d.read.plate], ["State", d.read.plate_state], ["Confidence", d.read.confidence],
    ["Image", d.verification.image_required ? "plate crop and overview, shown above" : d.read.image_ref], ["Camera", d.read.camera], ["Location", d.read.position],
    ["Captured", fullDate(d.read.captured_at)],
  ]);
  rows(document.getElementById("d-entry"), [
    ["List", d.entry.list_type.replace(/_/g, " ")], ["Reason", d.entry.reason], ["Plate listed", d.entry.plate],
    ["State", d.entry.plate_state], ["Case number", d.entry.case_number],
    ["Entering agency", d.entry.entering_agency], ["Source", d.entry.source + " " + d.entry.entry_id],
    ...(d.entry.vehicle_decoded || []).map((v) => ["Vehicle " + v.field.replace(/_/g, " "), v.text]),
  ]);
  renderForms(d);
  renderImages(d); // images.js: the plate crop beside the marked plates; verify waits for the crop (P7)
  AlprMap.render(document.getElementById("d-map"), d.map, mapConfig, fullDate); // issue 18: the map
  document.getElementById("d-history").replaceChildren(...d.history.map((e) => el("li", {text: historyText(e)})));
  document.getElementById("d-sightings").replaceChildren(
    ...d.sighting_list.map((e) => el("li", {}, "observed at ", cameraNode(e.camera_name, e.camera_id),
      " " + fullDate(e.captured_at) + " (" + e.plate + ") · " + placeText(e))),
  );
  alerts.set(d.alert_id, {...(alerts.get(d.alert_id) || {}), ...d});
  renderClock();
  renderQueue();
  if (closedShown()) renderClosed(); // the row of the alert now open is the one marked
}

// What the person has typed, ticked or chosen in the action forms, by form and field.
function formValues(actions) {
  const values = new Map();
  for (const input of actions.querySelectorAll("form input, form select")) {
    if (input.type === "hidden") continue;
    const key = input.form.dataset.action + "/" + input.name + (input.type === "checkbox" ? "/" + input.value : "");
    values.set(key, input.type === "checkbox" ? input.checked : input.value);
  }
  return values;
}

// The forms are rebuilt only when the alert or its state changes: a live update (a sighting,
// another alert) leaves them as they are, so nothing typed or ticked is lost and focus stays. When
// another person's step changes the state, the forms that remain (say, reject) keep what was typed
// in them, and the field that had focus gets it back.
function renderForms(d) {
  const actions = document.getElementById("actions");
  const formsFor = d.alert_id + "/" + d.status;
  if (actions.dataset.formsFor === formsFor) return;
  const sameAlert = actions.dataset.formsFor && actions.dataset.formsFor.split("/")[0] === d.alert_id;
  const kept = sameAlert ? formValues(actions) : new Map();
  const active = document.activeElement;
  const focused = active && active.form && actions.contains(active)
    ? active.form.dataset.action + "/" + active.name : null;
  actions.dataset.formsFor = formsFor;
  actions.replaceChildren(...d.actions.map((a) => actionForm(d, a)));
  for (const input of actions.querySelectorAll("form input, form select")) {
    if (input.type === "hidden") continue;
    const key = input.form.dataset.action + "/" + input.name + (input.type === "checkbox" ? "/" + input.value : "");
    if (!kept.has(key)) continue;
    if (input.type === "checkbox") input.checked = kept.get(key);
    else input.value = kept.get(key);
    if (focused === input.form.dataset.action + "/" + input.name) input.focus();
  }
}

function renderLastSeen() {
  for (const node of document.querySelectorAll(".last-seen[data-alert-id], #d-last-seen[data-alert-id]")) {
    const a = alerts.get(node.dataset.alertId);
    if (a) node.textContent = lastSeenText(a);
  }
}

function renderClock() {
  const d = selected && alerts.get(selected);
  const clock = document.getElementById("d-clock");
  const left = d ? secondsLeft(d) : null;
  clock.textContent = clockText(left);
  clock.className = left !== null && left < 0 ? "overdue" : "";
}

async function select(alertId, clearMessage = true) {
  selected = alertId;
  if (clearMessage) showMessage("", "");
  const response = await fetch("/api/alerts/" + encodeURIComponent(alertId));
  if (response.status === 401) return window.location.assign("/login");
  if (response.ok) renderDetail(await response.json());
}

// Attention (issue 18): a new high-priority hit plays a short tone and, if the person allowed it,
// shows a browser notification. High priority is the list the entry is on: the summary's urgency 0
// (views.py: AMBER alert, missing person, wanted person; the NCIC wanted-person file is where an
// armed subject is listed). Only alerts new to the page count (pushed live, or raised while it was
// reconnecting), never the ones already open when it loaded, and "Mute" (kept in localStorage)
// silences both.
function muted() {
  return localStorage.getItem(MUTE_KEY) === "1";
}

function renderMute() {
  const button = document.getElementById("mute");
  button.setAttribute("aria-pressed", String(muted()));
  button.textContent = muted() ? "Muted: tone and notifications off" : "Mute";
}

function renderNotificationButton() {
  const button = document.getElementById("enable-notifications");
  button.hidden = !("Notification" in window) || Notification.permission !== "default";
}

let audio = null;

// An AudioContext may start only after a user gesture: it is made (or resumed) on the first click.
function audioContext() {
  if (!audio && window.AudioContext) audio = new AudioContext();
  if (audio && audio.state === "suspended") audio.resume();
  return audio;
}

// Two short rising beeps from one oscillator: no audio file to fetch or to block.
function tone() {
  const context = audioContext();
  if (!context) return;
  const oscillator = context.createOscillator();
  const gain = context.createGain();
  const t = context.currentTime;
  oscillator.type = "square";
  oscillator.frequency.setValueAtTime(880, t);
  oscillator.frequency.setValueAtTime(1175, t + 0.18);
  gain.gain.setValueAtTime(0.0001, t);
  gain.gain.exponentialRampToValueAtTime(0.2, t + 0.02);
  gain.gain.setValueAtTime(0.2, t + 0.32);
  gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.36);
  oscillator.connect(gain).connect(context.destination);
  oscillator.start(t);
  oscillator.stop(t + 0.4);
}

function notify(a) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const note = new Notification("High-priority hit: " + a.plate_read + " " + (a.plate_state_read || ""), {
    body: a.list_type.replace(/_/g, " ") + " · " + a.reason + " · not grounds for a stop until confirmed (P7)",
    tag: a.alert_id,
    requireInteraction: true,
  });
  note.onclick = () => { window.focus(); cursor = a.alert_id; select(a.alert_id); };
}

// New alerts, pushed live or missed while the page was cut off: one tone for any high-priority
// one among them, and a notification for each.
function attention(fresh) {
  const high = fresh.filter((a) => a.open && a.urgency === 0);
  if (muted() || !high.length) return;
  tone();
  high.forEach(notify);
}

// Shortcuts: none while typing in a field (or choosing in a list box), none with Ctrl/Alt/Meta.
function inField(target) {
  return target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName));
}

// From the row that has focus (reached with Tab or a click), else from the last cursor position.
function moveCursor(step, from) {
  const open = openAlerts();
  if (!open.length) return;
  const at = open.findIndex((a) => a.alert_id === from);
  const next = at < 0 ? (step > 0 ? 0 : open.length - 1) : Math.min(open.length - 1, Math.max(0, at + step));
  cursor = open[next].alert_id;
  renderQueue();
  document.querySelector("#queue .alert-row[data-alert-id=\"" + CSS.escape(cursor) + "\"]").focus();
}

let focusBeforeHelp = null;

function showHelp() {
  focusBeforeHelp = document.activeElement;
  document.getElementById("help").hidden = false;
  document.getElementById("help-close").focus();
}

function hideHelp() {
  document.getElementById("help").hidden = true;
  if (focusBeforeHelp && document.contains(focusBeforeHelp)) focusBeforeHelp.focus();
  focusBeforeHelp = null;
}

function onKey(event) {
  if (event.ctrlKey || event.altKey || event.metaKey || event.defaultPrevented) return;
  const help = document.getElementById("help");
  if (!help.hidden) {
    // a modal list with one control: Tab stays on "Close", Escape closes it
    if (event.key === "Escape") { event.preventDefault(); hideHelp(); }
    if (event.key === "Tab") { event.preventDefault(); document.getElementById("help-close").focus(); }
    return;
  }
  if (inField(event.target)) return;
  const row = event.target instanceof HTMLElement && event.target.closest("#queue .alert-row");
  const inQueueOrPage = row || event.target === document.body;
  if (event.key === "?") showHelp();
  else if (event.key === "j" || (event.key === "ArrowDown" && inQueueOrPage)) moveCursor(1, row ? row.dataset.alertId : cursor);
  else if (event.key === "k" || (event.key === "ArrowUp" && inQueueOrPage)) moveCursor(-1, row ? row.dataset.alertId : cursor);
  else if ((event.key === "Enter" || event.key === " ") && row) { cursor = row.dataset.alertId; select(cursor); }
  else if (event.key === "Enter" && event.target === document.body && cursor) select(cursor);
  else return;
  event.preventDefault();
}

function connect() {
  const status = document.getElementById("live-status");
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => { status.textContent = "live"; status.className = "status online"; });
  source.addEventListener("error", () => { status.textContent = "reconnecting…"; status.className = "status offline"; });
  source.addEventListener("snapshot", (event) => {
    const data = JSON.parse(event.data);
    // The first snapshot (page load) is what was already open. A later one comes after a
    // reconnect: an alert in it that the page did not have was raised while it was cut off, and
    // calls for attention as if it had been pushed live.
    const missed = snapshotLoaded ? data.alerts.filter((a) => !alerts.has(a.alert_id)) : [];
    alerts.clear();
    for (const a of data.alerts) alerts.set(a.alert_id, {...a, received: Date.now()});
    snapshotLoaded = true;
    renderQueue();
    attention(missed);
  });
  source.addEventListener("alert", (event) => {
    const a = JSON.parse(event.data);
    const isNew = snapshotLoaded && !alerts.has(a.alert_id);
    alerts.set(a.alert_id, {...(alerts.get(a.alert_id) || {}), ...a, received: Date.now()});
    renderQueue();
    if (isNew) attention([a]);
    if (!a.open && closedShown()) loadClosed(); // an alert just closed joins the closed list
    if (a.alert_id === selected) select(selected, false);
  });
  source.addEventListener("signed_out", () => {
    // The session ended (signed out, expired, idle, revoked or the account disabled): P18.
    source.close();
    window.location.assign("/login");
  });
}

async function start() {
  const me = await fetch("/api/me");
  if (!me.ok) return window.location.assign("/login");
  const user = await me.json();
  // A role without alert.view (administrator, auditor) has its home instead of an alert queue (P21).
  if (!user.may.includes("alert.view")) return window.location.replace("/home");
  const maps = await fetch("/api/map-config");
  mapConfig = maps.ok ? await maps.json() : null;
  document.getElementById("who").textContent = user.display + " · " + user.badge + " · " + user.agency;
  claimsSignedIn(user);
  document.getElementById("sign-out").addEventListener("click", async () => {
    await fetch("/api/session", {method: "DELETE", headers: {"Content-Type": "application/json"}});
    window.location.assign("/login");
  });
  renderMute();
  renderNotificationButton();
  document.getElementById("mute").addEventListener("click", () => {
    localStorage.setItem(MUTE_KEY, muted() ? "0" : "1");
    renderMute();
  });
  document.getElementById("enable-notifications").addEventListener("click", async () => {
    audioContext(); // this click is the gesture that lets the tone play later
    await Notification.requestPermission();
    renderNotificationButton();
  });
  document.addEventListener("click", audioContext, {once: true});
  document.getElementById("tab-open").addEventListener("click", () => showTab(false));
  document.getElementById("tab-closed").addEventListener("click", () => showTab(true));
  document.getElementById("closed-search").addEventListener("input", searchClosed);
  document.getElementById("closed-older").addEventListener("click", () => loadClosed(true));
  document.getElementById("help-open").addEventListener("click", showHelp);
  document.getElementById("help-close").addEventListener("click", hideHelp);
  document.addEventListener("keydown", onKey);
  connect();
  setInterval(() => {
    if ([...alerts.values()].some((a) => a.open && a.seconds_left !== null)) renderQueue();
    renderClock();
    renderLastSeen();
  }, 1000);
}

start();
