"use strict";
// The nav bar of every console page: only the links the signed-in role may use (P21), from
// /api/me's permissions; the server refuses the rest all the same. A lieutenant's "Approvals (N)"
// counts the department entries waiting (a number, no plates). On /home the same links are the page.

(function () {
  const PAGES = [
    {href: "/home", label: "Home", needs: null, what: "your pages"},
    {href: "/", label: "Alerts", needs: "alert.view", what: "the live alert queue and the alert view"},
    {href: "/search", label: "Search", needs: "search", what: "a justified search of reads (P15-P17)"},
    {href: "/approvals", label: "Approvals", needs: "hotlist.review",
      what: "department hot-list entries awaiting a lieutenant's approval (P2)"},
    {href: "/cameras", label: "Cameras", needs: "camera.admin",
      what: "add, move and retire cameras; their ingest keys (P24)"},
    {href: "/admin", label: "Users, agencies & sites", needs: "directory.view",
      what: "users, roles and training; agencies and sharing; sensitive sites (P18, P19, P21, P24)"},
    {href: "/audit", label: "Audit", needs: "audit.read",
      what: "verify the audit chain, sample searches, the access report (P14, P15, P23)"},
    {href: "/transparency", label: "Transparency", needs: null, what: "the public counts and policy"},
    {href: "/policy", label: "Policy", needs: null, what: "the rules P1-P28 the pages cite"},
  ];

  const style = document.createElement("link");
  style.rel = "stylesheet";
  style.href = "/static/homes.css";
  document.head.append(style);

  async function call(method, url, body) {
    // JSON in and out; state changes are JSON, which a cross-site form cannot send.
    const options = {method, headers: {"Content-Type": "application/json"}};
    if (body !== undefined) options.body = JSON.stringify(body);
    const response = await fetch(url, options);
    if (response.status === 401) {
      window.location.assign("/login");
      return null;
    }
    const data = await response.json().catch(() => ({error: response.status + " " + response.statusText}));
    return {ok: response.ok, status: response.status, data};
  }

  const me = fetch("/api/me").then((r) => (r.ok ? r.json() : null));

  function link(page, current) {
    const a = document.createElement("a");
    a.href = page.href;
    a.textContent = page.label;
    a.id = "nav-" + (page.href === "/" ? "alerts" : page.href.slice(1));
    if (page.href === current) a.setAttribute("aria-current", "page");
    return a;
  }

  async function render() {
    const user = await me;
    if (user === null) return;
    const allowed = PAGES.filter((p) => p.needs === null || user.may.includes(p.needs));
    const current = window.location.pathname;
    const nav = document.createElement("nav");
    nav.className = "role-nav";
    nav.setAttribute("aria-label", "Pages");
    nav.append(...allowed.map((p) => link(p, current)));
    const header = document.querySelector("body > header");
    if (header) header.after(nav); else document.body.prepend(nav);
    if (document.body.classList.contains("role-page")) {
      // the pages of this module: who is signed in, and signing out
      document.getElementById("who").textContent = user.display + " · " + user.badge + " · " + user.agency;
      document.getElementById("sign-out").addEventListener("click", signOut);
    }
    const home = document.getElementById("home-links");
    if (home) {
      home.replaceChildren(...allowed.filter((p) => p.href !== "/home").map((p) => {
        const item = document.createElement("li");
        const text = document.createElement("span");
        text.textContent = p.what;
        item.append(link(p, null), text);
        return item;
      }));
      document.getElementById("home-role").textContent = user.role;
    }
    if (user.may.includes("hotlist.review")) await count();
    document.body.dataset.nav = "ready";
  }

  async function count() {
    // "Approvals (N)": how many department entries wait (a number, no plates)
    const answer = await call("GET", "/api/approvals/count");
    if (answer && answer.ok) {
      for (const a of document.querySelectorAll("a[href='/approvals']")) {
        a.textContent = "Approvals (" + answer.data.pending + ")";
      }
    }
  }

  async function signOut() {
    await fetch("/api/session", {method: "DELETE", headers: {"Content-Type": "application/json"}});
    window.location.assign("/login");
  }

  window.alprNav = {me, call, signOut, count};
  render();
})();
