// The dashboard's only script: sign in, live updates over server-sent events, and the
// action forms (confirm, then POST without leaving the page). No build step, no library.
"use strict";

const BASE = "/admin/dashboard";

function say(text, isError) {
  const status = document.getElementById("status");
  if (status) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }
}

async function signIn(event) {
  event.preventDefault();
  const field = document.getElementById("master-key");
  const error = document.getElementById("signin-error");
  // The key travels once, in a header; the server answers with an HttpOnly session cookie.
  const response = await fetch(BASE + "/session", {
    method: "POST",
    headers: { "x-functions-key": field.value },
    credentials: "same-origin",
  });
  field.value = "";
  if (response.ok) {
    window.location.reload();
    return;
  }
  const problem = await response.json().catch(() => ({}));
  error.textContent = problem.detail || "That key was not accepted.";
  field.focus();
}

// Replace a section's HTML only when it changed, and keep the keyboard focus on the same
// control (matched by its data-key) so live updates never throw a keyboard user out.
function swap(id, html) {
  const target = document.getElementById(id);
  if (!target || target.dataset.html === html) {
    return;
  }
  const focused = document.activeElement;
  const key = focused && target.contains(focused) ? focused.dataset.key || focused.id : null;
  target.innerHTML = html;
  target.dataset.html = html;
  if (key) {
    const again = target.querySelector(`[data-key="${CSS.escape(key)}"]`) ||
      document.getElementById(key);
    if (again) {
      again.focus();
    }
  }
  bindForms(target);
}

function listen() {
  const source = new EventSource(BASE + "/events");
  source.onmessage = (event) => {
    const update = JSON.parse(event.data);
    swap(update.id, update.html);
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      say("Live updates stopped (the host went away?). Reload to try again.", true);
    }
  };
}

async function act(event) {
  event.preventDefault();
  const form = event.currentTarget;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    return;
  }
  const response = await fetch(form.action, {
    method: "POST",
    body: new URLSearchParams(new FormData(form)),
    credentials: "same-origin",
  });
  const result = await response.json().catch(() => ({ detail: response.statusText }));
  say(result.message || result.detail || "Done.", !response.ok);
}

function bindForms(root) {
  for (const form of root.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", act);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const signin = document.getElementById("signin");
  if (signin) {
    signin.addEventListener("submit", signIn);
    document.getElementById("master-key").focus();
    return;
  }
  for (const section of document.querySelectorAll("[data-section]")) {
    section.dataset.html = section.innerHTML;
  }
  bindForms(document);
  listen();
});
