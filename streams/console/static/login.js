"use strict";
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const response = await fetch("/api/session", {
    method: "POST",
    headers: {"Content-Type": "application/json", "X-ALPR-Client": "console"},
    body: JSON.stringify({
      user: document.getElementById("user").value,
      password: document.getElementById("password").value,
      code: document.getElementById("code").value,
    }),
  });
  if (response.ok) {
    const body = await response.json();
    const may = body.user.may;
    // the alert queue for roles that work alerts, else the role's home of the links it may use
    // (cameras, users, approvals, audit, search); every page's nav bar (nav.js) leads to the rest
    window.location.assign(may.includes("alert.view") ? "/" : "/home");
  } else {
    const body = await response.json().catch(() => ({error: response.statusText}));
    error.textContent = body.error || "sign-in failed";
  }
});
