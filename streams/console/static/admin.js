"use strict";
// Users, agencies and sensitive sites (administrators; auditors see the lists). The server decides
// and records every change (P18, P19, P21, P24); the page shows its answer, a refusal word for word.

const $ = (id) => document.getElementById(id);
const {call, me} = window.alprNav;
let user = null;

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  return td;
}

function button(text, className, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = text;
  b.addEventListener("click", onClick);
  return b;
}

function say(id, text, ok) {
  $(id).textContent = text;
  $(id).className = "message " + (ok ? "ok" : "error");
}

function options(select, values, label) {
  const chosen = select.value;
  select.replaceChildren(...values.map((v) => {
    const option = document.createElement("option");
    option.value = v;
    option.textContent = label ? label(v) : v;
    return option;
  }));
  if (chosen) select.value = chosen;
}

const mayAdmin = () => user.may.includes("directory.admin");

async function loadDirectory() {
  const answer = await call("GET", "/api/directory");
  if (answer === null) return;
  if (!answer.ok) return say("user-message", answer.data.error, false);
  const data = answer.data;
  options($("u-agency"), data.agencies.map((a) => a.agency_id),
    (id) => id + " · " + data.agencies.find((a) => a.agency_id === id).name);
  options($("u-role"), data.roles);
  const fresh = !$("a-type").value;
  options($("a-type"), data.agency_types);
  if (fresh && data.agency_types.includes("municipal_police")) $("a-type").value = "municipal_police";
  $("users").querySelector("tbody").replaceChildren(...data.users.map((u) => userRow(u, data.roles)));
  $("agencies").querySelector("tbody").replaceChildren(...data.agencies.map((a) => {
    const tr = document.createElement("tr");
    tr.dataset.id = a.agency_id;
    tr.append(cell(a.agency_id), cell(a.name), cell(a.type), cell(a.state),
      cell(a.agreement + (a.agreement_date ? " (" + a.agreement_date + ")" : "")),
      cell(a.shares_with.join(", ") || "-"));
    return tr;
  }));
}

function userRow(u, roles) {
  const tr = document.createElement("tr");
  tr.className = "user-row" + (u.active ? "" : " disabled");
  tr.dataset.name = u.name;
  const training = u.training.map((t) => t.course + " " + t.completed).join("; ") || "NO TRAINING ON RECORD";
  tr.append(cell(u.name), cell(u.display), cell(u.badge),
    cell(u.role + (u.rank && u.rank !== u.role ? ", " + u.rank : "") + (u.assignment ? " · " + u.assignment : "")),
    cell(u.agency), cell(training), cell(u.active ? "active" : "DISABLED"));
  const actions = document.createElement("td");
  if (mayAdmin() && u.name !== user.name) {
    const role = document.createElement("select");
    role.className = "new-role";
    role.setAttribute("aria-label", "New role for " + u.name);
    options(role, roles);
    role.value = u.role;
    actions.append(role, " ", button("Change role", "change-role", () => changeRole(u, role.value)), " ",
      button(u.active ? "Disable" : "Enable", "toggle-active", () => setActive(u, !u.active)), " ",
      button("Record training", "record-training", () => recordTraining(u)));
  }
  tr.append(actions);
  return tr;
}

async function addUser(event) {
  event.preventDefault();
  $("enrol").hidden = true;  // a secret is shown once: gone with the next action
  const value = (id) => $(id).value.trim();
  const body = {
    name: value("u-name"), display: value("u-display"), badge: value("u-badge"), agency: value("u-agency"),
    role: value("u-role"), rank: value("u-rank") || null, assignment: value("u-assignment") || null,
    password: $("u-password").value, course: value("u-course") || null, completed: value("u-completed") || null,
  };
  const answer = await call("POST", "/api/users", body);
  $("u-password").value = "";  // never kept on the page
  if (answer === null) return;
  if (!answer.ok) return say("user-message", "Refused: " + answer.data.error, false);
  const added = answer.data.user;
  $("user-form").reset();
  await loadDirectory();
  say("user-message", "Added " + added.name + " (" + added.role + ", " + added.agency + ", badge " + added.badge + ")" +
    (added.training.length ? "" : "; record the training before the first sign-in (P21)"), true);
  $("enrol-user").textContent = added.name;
  $("enrol-secret").textContent = answer.data.totp_secret;
  $("enrol-uri").textContent = answer.data.provisioning_uri;
  $("enrol").hidden = false;
}

async function changeRole(u, role) {
  let rank = null;
  if (role === "lieutenant") rank = window.prompt("Rank of " + u.name + " (P2: lieutenant or above approves)", u.rank || "lieutenant");
  const answer = await call("POST", "/api/users/" + encodeURIComponent(u.name) + "/role", {role, rank});
  if (answer === null) return;
  if (!answer.ok) return say("user-message", "Refused: " + answer.data.error, false);
  await loadDirectory();
  say("user-message", u.name + " is now " + answer.data.user.role + "; their sessions ended: they sign in again", true);
}

async function setActive(u, active) {
  if (!active && !window.confirm("Disable " + u.name + "? Their sessions end everywhere (P18).")) return;
  const answer = await call("POST", "/api/users/" + encodeURIComponent(u.name) + "/active", {active});
  if (answer === null) return;
  if (!answer.ok) return say("user-message", "Refused: " + answer.data.error, false);
  await loadDirectory();
  say("user-message", active ? "Enabled " + u.name : "Disabled " + u.name + "; their sessions ended (P18)", true);
}

async function recordTraining(u) {
  const course = window.prompt("ALPR training course " + u.name + " completed (P21)", "ALPR user training");
  if (!course) return;
  const completed = window.prompt("Completed on (YYYY-MM-DD)", new Date().toISOString().slice(0, 10));
  if (!completed) return;
  const answer = await call("POST", "/api/users/" + encodeURIComponent(u.name) + "/training", {course, completed});
  if (answer === null) return;
  if (!answer.ok) return say("user-message", "Refused: " + answer.data.error, false);
  await loadDirectory();
  say("user-message", "Recorded " + course + " (" + completed + ") for " + u.name, true);
}

async function addAgency(event) {
  event.preventDefault();
  const value = (id) => $(id).value.trim();
  const body = {
    agency_id: value("a-id"), name: value("a-name"), type: value("a-type"), state: value("a-state") || null,
    agreement: value("a-agreement"), agreement_date: value("a-agreement-date") || null,
  };
  const answer = await call("POST", "/api/agencies", body);
  if (answer === null) return;
  if (!answer.ok) return say("agency-message", "Refused: " + answer.data.error, false);
  $("agency-form").reset();
  await loadDirectory();
  say("agency-message", "Added agency " + answer.data.agency.agency_id + " (" + answer.data.agency.name + ")", true);
}

async function loadSites() {
  const answer = await call("GET", "/api/sites");
  if (answer === null) return;
  if (!answer.ok) return say("site-message", answer.data.error, false);
  const data = answer.data;
  options($("s-category"), Object.keys(data.categories), (c) => data.categories[c]);
  if (!data.configured) {
    say("site-message", "ALPR_SENSITIVE_SITES is not set: set it to the GeoJSON file of sensitive sites (P24)", false);
    $("site-form").hidden = true;
  } else if (data.distance_m !== null) {
    $("sites-rule").dataset.distance = data.distance_m;
  }
  const admin = user.may.includes("camera.admin");
  $("sites").querySelector("tbody").replaceChildren(...data.sites.map((s) => {
    const tr = document.createElement("tr");
    tr.className = "site-row";
    tr.dataset.id = s.id;
    tr.append(cell(s.id), cell(s.name), cell(s.label),
      cell(s.lat === null ? s.shape : s.lat.toFixed(5) + ", " + s.lon.toFixed(5)));
    const actions = document.createElement("td");
    if (admin) actions.append(button("Remove", "remove-site", () => removeSite(s)));
    tr.append(actions);
    return tr;
  }));
}

async function addSite(event) {
  event.preventDefault();
  const value = (id) => $(id).value.trim();
  const body = {id: value("s-id"), name: value("s-name"), category: value("s-category"),
    lat: value("s-lat"), lon: value("s-lon")};
  const answer = await call("POST", "/api/sites", body);
  if (answer === null) return;
  if (!answer.ok) return say("site-message", "Refused: " + answer.data.error, false);
  $("site-form").reset();
  await loadSites();
  const suspended = answer.data.suspended;
  say("site-message", "Added site " + answer.data.site.id + " (" + answer.data.site.label + "). " +
    (suspended.length ? "Suspended: " + suspended.join("; ") + ". Their reads are refused until they are moved."
      : "No camera suspended: no active fixed camera faces it."), true);
}

async function removeSite(site) {
  if (!window.confirm("Remove sensitive site " + site.id + " (" + site.name + ")?")) return;
  let answer = await call("POST", "/api/sites/" + encodeURIComponent(site.id) + "/remove", {reinstate: false});
  if (answer && !answer.ok && answer.data.error.includes("would reinstate")) {
    if (!window.confirm(answer.data.error.replace("; nothing was changed", "") + "\nRemove it and reinstate them?")) {
      return say("site-message", answer.data.error, false);
    }
    answer = await call("POST", "/api/sites/" + encodeURIComponent(site.id) + "/remove", {reinstate: true});
  }
  if (answer === null) return;
  if (!answer.ok) return say("site-message", "Refused: " + answer.data.error, false);
  await loadSites();
  const back = answer.data.reinstated;
  say("site-message", "Removed site " + site.id + (back.length ? "; reinstated camera(s) " + back.join(", ") : ""), true);
}

async function start() {
  user = await me;
  if (user === null) return window.location.assign("/login");
  $("user-form").hidden = !mayAdmin();
  $("agency-form").hidden = !mayAdmin();
  $("user-form").addEventListener("submit", addUser);
  $("agency-form").addEventListener("submit", addAgency);
  $("site-form").addEventListener("submit", addSite);
  await loadDirectory();
  if (user.may.includes("camera.view")) {
    $("sites-section").hidden = false;
    $("site-form").hidden = !user.may.includes("camera.admin");
    await loadSites();
  }
  document.body.dataset.ready = "true";
}

start();
