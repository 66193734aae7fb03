// tokpost dashboard enhancements. Every page works without them; they add a time zone, a
// caption counter in TikTok's units, an upload progress bar and an instant catalog filter.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  document.querySelectorAll("[data-time-zone]").forEach((input) => {
    if (input.form && input.form.action.endsWith("/sign-in")) input.value = zone;
  });

  // JavaScript strings are UTF-16, exactly TikTok's caption unit.
  document.querySelectorAll("textarea[data-limit]").forEach((area) => {
    const counter = document.querySelector("#caption-count [data-count]");
    const limit = Number(area.dataset.limit);
    const update = () => {
      counter.textContent = String(area.value.length);
      area.setAttribute("aria-invalid", area.value.length > limit ? "true" : "false");
    };
    area.addEventListener("input", update);
    update();
  });

  document.querySelectorAll("input[type=file][data-upload]").forEach((input) => {
    const bar = document.getElementById("upload-progress");
    const status = document.getElementById("upload-status");
    const target = document.getElementById("media_id");
    input.addEventListener("change", () => {
      const file = input.files && input.files[0];
      if (!file) return;
      const request = new XMLHttpRequest();
      request.open("POST", input.dataset.upload);
      request.setRequestHeader("X-CSRF-Token", input.dataset.csrf);
      request.setRequestHeader("Content-Type", "application/octet-stream");
      bar.hidden = false;
      bar.value = 0;
      status.textContent = "Uploading " + file.name + "…";
      request.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
      });
      request.addEventListener("load", () => {
        let body = {};
        try { body = JSON.parse(request.responseText); } catch (_) { body = {}; }
        if (request.status < 300 && body.id) {
          bar.value = 100;
          target.value = body.id;
          status.textContent = "Uploaded: " + file.name;
        } else {
          status.textContent = "Upload refused: " + ((body.error && body.error.message) || request.status);
        }
      });
      request.addEventListener("error", () => { status.textContent = "Upload failed: the connection broke."; });
      request.send(file);
    });
  });

  // TikTok's disclosure rules: a disclosed post names its kind, branded content is never private.
  const compose = document.getElementById("compose-form");
  if (compose) {
    const disclose = compose.querySelector("#disclose");
    const organic = compose.querySelector("input[name=brand_organic]");
    const branded = compose.querySelector("input[name=brand_content]");
    const privacy = compose.querySelector("#privacy_level");
    const selfOnly = privacy.querySelector("option[value=SELF_ONLY]");
    const buttons = compose.querySelectorAll("button[name=intent]");
    const sync = () => {
      organic.disabled = !disclose.checked;
      branded.disabled = !disclose.checked;
      if (selfOnly) {
        selfOnly.disabled = disclose.checked && branded.checked;
        if (selfOnly.disabled && privacy.value === "SELF_ONLY") privacy.value = "";
      }
      const unnamed = disclose.checked && !organic.checked && !branded.checked;
      buttons.forEach((button) => { button.disabled = unnamed; });
    };
    [disclose, organic, branded].forEach((box) => box.addEventListener("change", sync));
    sync();
  }

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
