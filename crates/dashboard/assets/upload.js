// Uploads for the composer: drop files on the drop zone or pick them, watch the progress, and
// the upload joins the media library already chosen. Library items are picked by clicking.
export function setUpUploads(form, changed) {
  const input = form.querySelector("#media-file");
  const zone = form.querySelector("#dropzone");
  const bar = form.querySelector("#upload-progress");
  const status = form.querySelector("#upload-status");
  const list = form.querySelector("#library-list");
  const photo = form.dataset.kind === "photo";

  if (photo) {
    list.addEventListener("click", (event) => {
      const item = event.target.closest("[data-pick]");
      if (item) form.dispatchEvent(new CustomEvent("photos:add", { detail: { id: item.dataset.pick, src: item.dataset.src } }));
    });
  }
  if (!input) return;

  const send = (file) => new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", input.dataset.upload);
    request.setRequestHeader("X-CSRF-Token", input.dataset.csrf);
    request.setRequestHeader("Content-Type", "application/octet-stream");
    bar.hidden = false;
    bar.value = 0;
    status.textContent = `Uploading ${file.name}…`;
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
    });
    request.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch (_) { body = {}; }
      if (request.status < 300 && body.id) {
        bar.value = 100;
        resolve(body);
      } else {
        const why = (body.error && body.error.message) || `the server answered ${request.status}`;
        status.textContent = `Upload of ${file.name} refused: ${why}`;
        resolve(null);
      }
    });
    request.addEventListener("error", () => {
      status.textContent = `Upload of ${file.name} failed: the connection broke. Try again.`;
      resolve(null);
    });
    request.send(file);
  });

  const add = (media, file) => {
    const { item, control, src } = libraryEntry(form, media, `${file.name} · ${describe(media)}`);
    if (photo) {
      form.dispatchEvent(new CustomEvent("photos:add", { detail: { id: media.id, src } }));
    } else {
      control.checked = true;
      control.dispatchEvent(new Event("change", { bubbles: true }));
    }
    if (media.probe && media.probe.verdict === "rejected") item.append(fixBox(media.id));
    form.querySelector("#library").open = true;
  };

  const upload = async (files) => {
    const chosen = photo ? [...files] : [...files].slice(0, 1);
    let done = 0;
    for (const file of chosen) {
      const media = await send(file);
      if (!media) return;
      add(media, file);
      done += 1;
      const verdict = media.probe && media.probe.verdict;
      const problem = media.probe && media.probe.problems && media.probe.problems[0];
      status.textContent = verdict === "rejected" && problem
        ? `Uploaded ${file.name}, but TikTok would refuse it: ${problem.message}`
        : `Uploaded ${chosen.length > 1 ? `${done} of ${chosen.length}: ` : ""}${file.name}`;
    }
    changed();
  };

  input.addEventListener("change", () => {
    if (input.files && input.files.length) upload(input.files);
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer && event.dataTransfer.files.length) upload(event.dataTransfer.files);
  });
}

// A new entry at the top of the library for `media`: a button that picks a photo, or a radio
// that chooses the video (neither picked nor chosen yet).
export function libraryEntry(form, media, caption) {
  const list = form.querySelector("#library-list");
  const empty = form.querySelector("#library-empty");
  if (empty) empty.remove();
  const item = document.createElement("li");
  const src = `/compose/media/${media.id}`;
  let control;
  if (form.dataset.kind === "photo") {
    control = document.createElement("button");
    control.type = "button";
    control.className = "library-item";
    control.dataset.pick = media.id;
    control.dataset.src = src;
    const img = document.createElement("img");
    img.src = src;
    img.alt = "";
    control.append(img, text(caption));
    item.append(control);
  } else {
    const label = document.createElement("label");
    label.className = "library-item";
    control = document.createElement("input");
    control.type = "radio";
    control.name = "media_id";
    control.value = media.id;
    control.dataset.src = src;
    const seconds = media.probe && media.probe.duration_s;
    if (typeof seconds === "number") control.dataset.durationMs = String(Math.round(seconds * 1000));
    const video = document.createElement("video");
    video.src = `${src}#t=0.1`;
    video.preload = "metadata";
    video.muted = true;
    label.append(control, video, text(caption));
    item.append(label);
  }
  list.prepend(item);
  const count = form.querySelector("#library-count");
  if (count) count.textContent = String(list.children.length);
  return { item, control, src };
}

// What the probe found, in a few words: length, sides, frame rate, size.
export function describe(media) {
  const probe = media.probe || {};
  const parts = [];
  if (typeof probe.duration_s === "number") parts.push(`${probe.duration_s.toFixed(1)} s`);
  if (probe.width && probe.height) parts.push(`${probe.width}×${probe.height}`);
  if (typeof probe.fps === "number") parts.push(`${Math.round(probe.fps)} fps`);
  if (media.size_bytes >= 1048576) parts.push(`${(media.size_bytes / 1048576).toFixed(1)} MB`);
  else if (media.size_bytes) parts.push(`${Math.round(media.size_bytes / 1024)} KB`);
  return parts.join(" · ");
}

// The "Fix it" control fix.js answers, as the page renders it for earlier uploads.
function fixBox(id) {
  const box = document.createElement("div");
  box.className = "fix";
  box.dataset.fixFor = id;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary small";
  button.dataset.fix = id;
  button.textContent = "Fix it";
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  bar.hidden = true;
  const status = document.createElement("span");
  status.className = "fix-status";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  box.append(button, " ", bar, status);
  return box;
}

function text(content) {
  const span = document.createElement("span");
  span.textContent = content;
  return span;
}
