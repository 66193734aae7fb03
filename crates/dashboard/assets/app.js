// tokpost dashboard enhancements shared by every page: the browser's time zone for the forms that
// open a session, times shown in the reader's own zone, and an instant catalog filter. The composer has its own modules (compose.js and what it imports).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  document.querySelectorAll("[data-time-zone]").forEach((input) => {
    if (!input.form) return;
    const path = new URL(input.form.action, location.href).pathname;
    if (path === "/sign-in" || path === "/sign-in/oidc" || path.startsWith("/invite/") || path.startsWith("/reset/")) input.value = zone;
  });

  // A page read by someone without a session (a review link) shows instants in their zone.
  document.querySelectorAll("time[data-local]").forEach((time) => {
    const at = new Date(time.dateTime);
    if (Number.isNaN(at.getTime())) return;
    time.textContent = at.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) + ` (${zone})`;
  });

  document.querySelectorAll("input[data-filter]").forEach((box) => {
    const entries = Array.from(document.querySelectorAll(box.dataset.filter));
    const shown = document.querySelector("[data-shown]");
    box.addEventListener("input", () => {
      const words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
      let count = 0;
      entries.forEach((entry) => {
        const text = entry.textContent.toLowerCase();
        const match = words.every((w) => text.includes(w));
        entry.hidden = !match;
        if (match) count += 1;
      });
      if (shown) shown.textContent = String(count);
    });
  });
});
