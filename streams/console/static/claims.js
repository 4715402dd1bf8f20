"use strict";
// Who works an alert (issue 18, item 4): "being worked by Dispatcher Ann (badge D-102) since
// 14:02" on the queue rows and in the alert view, and the buttons "Work this alert", "Release"
// and "Take over". The claim is the server's (POST /api/alerts/{id}/claim and /release, the same
// use case as `alpr alert claim|release`); every console that sees the alert gets the change
// pushed by the live queue. Uses el(), showMessage(), renderDetail() and select() of console.js.

let claimsMe = null; // the signed-in person, as /api/me names them (display name and badge)

function claimsSignedIn(user) {
  claimsMe = user;
}

function claimIsMine(c) {
  return Boolean(c && claimsMe && c.user === claimsMe.display && c.badge === (claimsMe.badge || ""));
}

// Stale: no step by the holder for the deployment's claim_stale_minutes; the idle time runs on
// between updates, from when the summary arrived.
function claimIsStale(c, received) {
  if (!c) return false;
  if (c.stale) return true;
  if (c.stale_after_s === null || c.stale_after_s === undefined) return false;
  return c.idle_s + (Date.now() - (received || Date.now())) / 1000 > c.stale_after_s;
}

function claimTime(iso) {
  return new Date(iso).toLocaleTimeString(undefined, {hour: "2-digit", minute: "2-digit"});
}

function claimText(c, received) {
  const who = c.user + (c.badge ? " (badge " + c.badge + ")" : "");
  return "being worked by " + (claimIsMine(c) ? "you, " : "") + who + " since " + claimTime(c.since) +
    (c.taken_from ? " (taken over from " + c.taken_from.user + ")" : "") +
    (claimIsStale(c, received) ? " · idle: anyone may take it" : "");
}

// A queue row's line (nothing while nobody works the alert).
function claimNode(a) {
  if (!a.claim) return "";
  return el("div", {class: "meta claim" + (claimIsMine(a.claim) ? " mine" : ""), "data-alert-id": a.alert_id,
    text: claimText(a.claim, a.received)});
}

async function postClaim(alertId, what, body) {
  const response = await fetch("/api/alerts/" + encodeURIComponent(alertId) + "/" + what, {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify(body),
  });
  if (response.status === 401) return window.location.assign("/login");
  const data = await response.json().catch(() => ({error: response.statusText}));
  if (response.ok) {
    renderDetail(data);
    showMessage(what === "release" ? "Released: anyone may work this alert" : "You are working this alert", "ok");
  } else {
    showMessage("Refused: " + data.error, "error"); // 409: who works it and since when
    await select(alertId, false); // show the alert as it is now
  }
}

function claimButton(id, text, onClick) {
  const button = el("button", {type: "button", id, text});
  button.addEventListener("click", onClick);
  return button;
}

// The alert view's box: who works it, and what the person may do about it. Taking over from a
// person whose claim is not stale is a separate, explicit form that says who holds it and since
// when; the take-over is recorded with both names.
function renderClaim(d) {
  const box = document.getElementById("d-claim");
  const c = d.claim;
  box.dataset.holder = c ? c.user : "";
  box.dataset.mine = String(claimIsMine(c));
  if (!d.open) return box.replaceChildren();
  const work = () => postClaim(d.alert_id, "claim", {});
  if (!c) {
    return box.replaceChildren(el("span", {class: "claim-text", text: "Nobody is working this alert."}),
      claimButton("claim-work", "Work this alert", work));
  }
  const text = el("span", {class: "claim-text", text: claimText(c, d.received)});
  if (claimIsMine(c)) {
    return box.replaceChildren(text, claimButton("claim-release", "Release", () => postClaim(d.alert_id, "release", {})));
  }
  if (claimIsStale(c, d.received)) return box.replaceChildren(text, claimButton("claim-work", "Work this alert", work));
  const form = el("form", {id: "claim-take-over-form", class: "take-over"},
    el("span", {text: "Take over from " + c.user + (c.badge ? " (badge " + c.badge + ")" : "") +
      ", working it since " + claimTime(c.since) + "? The take-over is recorded with both names."}),
    el("button", {type: "submit", id: "claim-take-over", text: "Take over"}));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    postClaim(d.alert_id, "claim", {take_over: true});
  });
  box.replaceChildren(text, form);
}
