"use strict";
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const response = await fetch("/api/session", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({
      user: document.getElementById("user").value,
      password: document.getElementById("password").value,
    }),
  });
  if (response.ok) {
    window.location.assign("/");
  } else {
    const body = await response.json().catch(() => ({error: response.statusText}));
    error.textContent = body.error || "sign-in failed";
  }
});
