// tokpost dashboard enhancements shared by every page: the browser's time zone for sign-in and an
// instant catalog filter. The composer has its own modules (compose.js and what it imports).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  document.querySelectorAll("[data-time-zone]").forEach((input) => {
    if (input.form && input.form.action.endsWith("/sign-in")) input.value = zone;
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
