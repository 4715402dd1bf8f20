"use strict";
// The camera registry (administrators, P21). The server decides every change (P24 included) and
// records it; the page shows the answer, a refusal word for word.

let cameras = [];
let editing = null;  // the id of the camera being changed, or null when adding

const $ = (id) => document.getElementById(id);

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  return td;
}

function say(text, ok) {
  const message = $("camera-message");
  message.textContent = text;
  message.className = ok ? "ok" : "error";
}

async function call(method, url, body) {
  const options = {method, headers: {"Content-Type": "application/json"}};
  if (body !== undefined) options.body = JSON.stringify(body);
  const response = await fetch(url, options);
  if (response.status === 401) {
    window.location.assign("/login");
    return null;
  }
  const data = await response.json().catch(() => ({error: response.statusText}));
  return {ok: response.ok, status: response.status, data};
}

async function load() {
  const answer = await call("GET", "/api/cameras");
  if (answer === null) return;
  if (!answer.ok) return say(answer.data.error, false);
  cameras = answer.data.cameras;
  const select = $("c-agency");
  const chosen = select.value;
  select.replaceChildren(...answer.data.agencies.map((a) => {
    const option = document.createElement("option");
    option.value = a.agency_id;
    option.textContent = a.agency_id + " · " + a.name;
    return option;
  }));
  if (chosen) select.value = chosen;
  render();
}

function render() {
  const showRetired = $("show-retired").checked;
  const rows = cameras.filter((c) => showRetired || c.status === "active").map((c) => {
    const tr = document.createElement("tr");
    tr.className = "camera-row " + c.status;
    tr.dataset.id = c.id;
    tr.append(cell(c.id), cell(c.name), cell(c.agency), cell(c.kind), cell(c.lat + ", " + c.lon),
      cell(c.facing_deg === null ? "-" : c.facing_deg + "°"), cell(c.install_date || "-"),
      cell(c.status !== "active" ? "retired " + c.retired_on : c.suspended || "active"));
    if (c.suspended) tr.className += " suspended";
    const actions = document.createElement("td");
    if (c.status === "active") {
      const edit = document.createElement("button");
      edit.type = "button";
      edit.className = "edit";
      edit.textContent = "Change";
      edit.addEventListener("click", () => startEdit(c));
      const retire = document.createElement("button");
      retire.type = "button";
      retire.className = "retire";
      retire.textContent = "Retire";
      retire.addEventListener("click", () => retireCamera(c));
      actions.append(edit, " ", retire);
    }
    tr.append(actions);
    return tr;
  });
  $("cameras").querySelector("tbody").replaceChildren(...rows);
  const active = cameras.filter((c) => c.status === "active").length;
  const suspended = cameras.filter((c) => c.status === "active" && c.suspended);
  $("camera-summary").textContent = active + " active" +
    (suspended.length ? " (" + suspended.length + " suspended, P24)" : "") +
    ", " + (cameras.length - active) + " retired";
  // P24: administrators are told which cameras a site change suspended, and why.
  $("camera-suspended").replaceChildren(...suspended.map((c) => {
    const item = document.createElement("li");
    item.textContent = "Camera " + c.id + " (" + c.name + ") is " + c.suspended +
      ": its reads are refused until it is moved.";
    return item;
  }));
  $("camera-suspended").hidden = suspended.length === 0;
}

function formValues() {
  const value = (id) => $(id).value.trim();
  return {
    id: value("c-id"), name: value("c-name"), agency: value("c-agency"), kind: value("c-kind"),
    lat: value("c-lat"), lon: value("c-lon"), facing_deg: value("c-facing") || null,
    install_date: value("c-installed") || null,
  };
}

async function addCamera(event) {
  event.preventDefault();
  if (editing !== null) return saveCamera();
  showKey(null, null);  // a key is shown once: gone with the next action
  const body = formValues();
  const answer = await call("POST", "/api/cameras", body);
  if (answer === null) return;
  if (!answer.ok) return say("Refused: " + answer.data.error, false);
  const added = answer.data.camera;
  $("camera-form").reset();
  await load();  // the table first: the message then speaks of what is shown
  say("Added camera " + added.id + " (" + added.kind + ", " + added.name + ")", true);
  showKey(added.id, answer.data.ingest_key);
}

function showKey(cameraId, key) {
  // Shown once: the server keeps only what verifies it.
  const box = $("ingest-key");
  if (!key) {
    box.hidden = true;
    return;
  }
  $("ingest-key-camera").textContent = cameraId;
  $("ingest-key-value").textContent = key;
  box.hidden = false;
}

function startEdit(camera) {
  editing = camera.id;
  $("form-legend").textContent = "Change camera " + camera.id;
  $("c-id").value = camera.id;
  $("c-id").disabled = true;
  $("c-kind").value = camera.kind;
  $("c-kind").disabled = true;  // a camera that changes kind is retired and registered anew
  $("c-name").value = camera.name;
  $("c-agency").value = camera.agency;
  $("c-lat").value = camera.lat;
  $("c-lon").value = camera.lon;
  $("c-facing").value = camera.facing_deg === null ? "" : camera.facing_deg;
  $("c-installed").value = camera.install_date || "";
  $("add-camera").hidden = true;
  $("save-camera").hidden = false;
  $("cancel-edit").hidden = false;
}

function stopEdit() {
  editing = null;
  $("camera-form").reset();
  $("form-legend").textContent = "Add a camera";
  $("c-id").disabled = false;
  $("c-kind").disabled = false;
  $("add-camera").hidden = false;
  $("save-camera").hidden = true;
  $("cancel-edit").hidden = true;
}

async function saveCamera() {
  showKey(null, null);
  const before = cameras.find((c) => c.id === editing);
  const after = formValues();
  const changes = {};
  for (const name of ["name", "agency", "install_date"]) {
    if ((after[name] || null) !== (before[name] || null)) changes[name] = after[name];
  }
  for (const name of ["lat", "lon", "facing_deg"]) {
    const value = after[name] === null || after[name] === "" ? null : Number(after[name]);
    if (value !== before[name]) changes[name] = after[name];
  }
  if (Object.keys(changes).length === 0) return say("Nothing to change", false);
  const answer = await call("POST", "/api/cameras/" + encodeURIComponent(editing), changes);
  if (answer === null) return;
  if (!answer.ok) return say("Refused: " + answer.data.error, false);
  const done = Object.entries(answer.data.changes).map(([k, [old, now]]) => k + " " + old + " → " + now);
  stopEdit();
  await load();
  say("Changed camera " + answer.data.camera.id + ": " + done.join(", ") +
    (answer.data.reinstated ? "; reinstated: it no longer faces a sensitive site (P24)" : ""), true);
}

async function retireCamera(camera) {
  if (!window.confirm("Retire camera " + camera.id + " (" + camera.name + ")? Its id cannot be used again.")) return;
  showKey(null, null);
  const answer = await call("POST", "/api/cameras/" + encodeURIComponent(camera.id) + "/retire", {});
  if (answer === null) return;
  if (!answer.ok) return say("Refused: " + answer.data.error, false);
  await load();
  say("Retired camera " + camera.id + " on " + answer.data.camera.retired_on, true);
}

async function start() {
  const me = await fetch("/api/me");
  if (!me.ok) return window.location.assign("/login");
  const user = await me.json();
  $("who").textContent = user.display + " · " + user.badge + " · " + user.agency;
  $("sign-out").addEventListener("click", async () => {
    await fetch("/api/session", {method: "DELETE", headers: {"Content-Type": "application/json"}});
    window.location.assign("/login");
  });
  $("camera-form").addEventListener("submit", addCamera);
  $("save-camera").addEventListener("click", saveCamera);
  $("cancel-edit").addEventListener("click", stopEdit);
  $("show-retired").addEventListener("change", render);
  await load();
  document.body.dataset.ready = "true";
}

start();
