import { describe, libraryEntry } from "./upload.js";

// "Fix it" beside a file TikTok would refuse: asks tokpost to fix it (a new file, made by ffmpeg
// on the server; the original stays), shows the progress, and once fixed puts the new file in
// the library and in the post in place of the original. Nothing is saved until the post is.
export function setUpFixes(form, changed) {
  const list = form.querySelector("#library-list");
  if (!list) return;
  const csrf = form.querySelector("input[name=csrf]").value;
  const photo = form.dataset.kind === "photo";

  list.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-fix]");
    if (!button) return;
    const id = button.dataset.fix;
    const box = list.querySelector(`[data-fix-for="${id}"]`);
    const status = box.querySelector(".fix-status");
    const bar = box.querySelector("progress");
    button.disabled = true;
    status.textContent = "Asking for a fix…";
    let answer;
    try {
      const response = await fetch(`/compose/media/${id}/fix`, {
        method: "POST",
        headers: { "X-CSRF-Token": csrf },
      });
      answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        const why = (answer.error && answer.error.message) || `the server answered ${response.status}`;
        status.textContent = `Cannot fix it: ${why}`;
        button.disabled = false;
        return;
      }
    } catch (_) {
      status.textContent = "Cannot fix it: the connection broke. Try again.";
      button.disabled = false;
      return;
    }
    bar.hidden = false;
    watch(id, box, button);
  });

  const watch = async (id, box, button) => {
    const status = box.querySelector(".fix-status");
    const bar = box.querySelector("progress");
    for (;;) {
      let body;
      try {
        const response = await fetch(`/compose/media/${id}/fix`, { headers: { Accept: "application/json" } });
        body = await response.json();
      } catch (_) {
        await pause(2000);
        continue;
      }
      const fix = body.fix || {};
      bar.value = Math.round(100 * (fix.progress || 0));
      if (fix.state === "queued") status.textContent = "Waiting for a free fixer…";
      if (fix.state === "running") status.textContent = `Fixing: ${fix.stage || "working"} (${bar.value}%)`;
      if (fix.state === "fixed") {
        bar.hidden = true;
        const made = (fix.changes || [])
          .filter((change) => change.to && change.to !== change.from)
          .map((change) => `${label(change.aspect)} ${change.from} → ${change.to}`);
        if (body.fixed) {
          swapIn(id, body.fixed);
          status.textContent = `Fixed (${made.join("; ")}). The fixed copy is chosen for this post; the original stays in the library.`;
          const top = form.querySelector("#upload-status");
          if (top) top.textContent = "A fixed copy TikTok accepts is chosen for this post.";
        } else {
          status.textContent = fix.message || "TikTok accepts it as it is.";
        }
        box.dataset.fixed = fix.fixed_media_id || "";
        button.hidden = true;
        changed();
        return;
      }
      if (fix.state === "unfixable" || fix.state === "failed") {
        bar.hidden = true;
        status.textContent = `${fix.state === "unfixable" ? "It cannot be fixed" : "The fix failed"}: ${fix.message || "no reason given"}`;
        button.disabled = false;
        return;
      }
      await pause(1000);
    }
  };

  // The new file joins the library and takes the original's place in the post.
  const swapIn = (originalId, media) => {
    const { control, src } = libraryEntry(form, media, `Fixed copy · ${describe(media)}`);
    if (photo) {
      form.dispatchEvent(new CustomEvent("photos:swap", { detail: { from: originalId, to: media.id, src } }));
      return;
    }
    const original = list.querySelector(`input[name=media_id][value="${originalId}"]`);
    if (!original || original.checked || !list.querySelector("input[name=media_id]:checked")) {
      control.checked = true;
      control.dispatchEvent(new Event("change", { bubbles: true }));
    }
  };
}

function label(aspect) {
  return String(aspect || "").replace(/_/g, " ");
}

function pause(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
