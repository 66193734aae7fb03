// The composer's rules while the person chooses (TikTok's content-sharing guidelines, Points
// 1–5). The server renders the form with nothing chosen; this module only keeps the choices
// consistent and says why publishing is not possible yet. The API refuses the same things.
import { setUpUploads } from "./upload.js";
import { setUpFixes } from "./fix.js";
import { setUpPhotoOrder } from "./photos.js";
import { setUpPreview } from "./preview.js";

const BRANDED_NOT_PRIVATE = "Branded content visibility cannot be set to private.";
const NEEDS_A_CHOICE = "You need to indicate if your content promotes yourself, a third party, or both.";
const PROMOTIONAL = "Your photo/video will be labeled as 'Promotional content'";
const PAID = "Your photo/video will be labeled as 'Paid partnership'";
const MAX_PHOTOS = 35;

const form = document.getElementById("compose-form");
if (form) setUp(form);

function setUp(form) {
  const photo = form.dataset.kind === "photo";
  const $ = (selector) => form.querySelector(selector);
  const on = (element, events, handler) => {
    if (element) events.split(" ").forEach((name) => element.addEventListener(name, handler));
  };
  const disclose = $("#disclose");
  const organic = $("#brand_organic");
  const branded = $("#brand_content");
  const brandedLabel = $("#brand_content-label");
  const options = document.getElementById("disclosure-options");
  const selfOnly = $("#privacy-SELF_ONLY");
  const selfOnlyLabel = document.getElementById("privacy-option-SELF_ONLY");
  const publish = $("#publish");
  const publishWrap = $("#publish-wrap");
  const blockers = document.getElementById("blockers");
  const counted = [...form.querySelectorAll("[data-limit]")];
  const dropdown = setUpDropdown(form);

  const show = (id, visible) => {
    const element = document.getElementById(id);
    if (element) element.hidden = !visible;
  };
  const privacy = () => {
    const chosen = form.querySelector("input[name=privacy_level]:checked");
    return chosen ? chosen.value : "";
  };
  const chosenVideo = () => form.querySelector("input[name=media_id]:checked");
  const photoIds = () => ($("#photo_ids") ? $("#photo_ids").value.split(",").filter(Boolean) : []);

  // Everything that keeps "Publish" disabled, in words; empty when it may be pressed.
  const reasons = () => {
    const out = [];
    if (photo) {
      const count = photoIds().length;
      if (count === 0) out.push("Choose at least one photo.");
      if (count > MAX_PHOTOS) out.push(`A photo post takes at most ${MAX_PHOTOS} photos; ${count} are chosen.`);
    } else {
      const video = chosenVideo();
      if (!video) out.push("Choose a video to post.");
      const max = Number(form.dataset.maxDurationMs || 0);
      const length = video ? Number(video.dataset.durationMs || 0) : 0;
      if (video && max > 0 && length > max) {
        out.push(`This video is ${(length / 1000).toFixed(1)} seconds long; ${form.dataset.nickname} can post videos up to ${max / 1000} seconds. Choose a shorter video.`);
      }
    }
    counted.forEach((field) => {
      const over = field.value.length - Number(field.dataset.limit);
      if (over > 0) {
        const name = form.querySelector(`label[for=${field.id}]`);
        out.push(`${name ? name.firstChild.textContent.trim() : field.id} is ${over} over TikTok's limit of ${field.dataset.limit} characters.`);
      }
    });
    if (!privacy()) out.push("Choose who can view this post.");
    if (disclose.checked && !organic.checked && !branded.checked) out.push(NEEDS_A_CHOICE);
    if ($("#when-later") && $("#when-later").checked && !$("#scheduled_at").value) {
      out.push("Choose the date and time to post at.");
    }
    return out;
  };

  const sync = () => {
    // Point 3a: the switch reveals the two boxes; turning it off clears them.
    options.hidden = !disclose.checked;
    if (!disclose.checked) {
      organic.checked = false;
      branded.checked = false;
    }
    // Point 3b, one order: "Only me" chosen first keeps branded content off, and says why.
    const isPrivate = privacy() === "SELF_ONLY";
    if (isPrivate && branded.checked) branded.checked = false;
    branded.disabled = isPrivate;
    if (brandedLabel) brandedLabel.title = isPrivate ? BRANDED_NOT_PRIVATE : "";
    show("branded-hint", isPrivate && disclose.checked);
    // The other order: branded content ticked first keeps "Only me" off, and says why.
    if (selfOnly) {
      selfOnly.disabled = branded.checked;
      if (selfOnlyLabel) selfOnlyLabel.title = branded.checked ? BRANDED_NOT_PRIVATE : "";
    }
    show("privacy-hint", branded.checked && Boolean(selfOnly));
    show("only-me-why", branded.checked);
    // The label lines appear only after a tick; "Paid partnership" wins when both are ticked.
    const label = branded.checked ? PAID : organic.checked ? PROMOTIONAL : "";
    const line = document.getElementById("label-line");
    line.textContent = label;
    line.hidden = !label;
    show("disclosure-needed", disclose.checked && !organic.checked && !branded.checked);
    // Point 4: the Branded Content Policy joins the consent line while branded content is ticked.
    show("consent-branded", branded.checked);
    // Counters in TikTok's unit: JavaScript strings are UTF-16, exactly TikTok's.
    counted.forEach((field) => {
      const counter = document.querySelector(`#${field.id}-count [data-count]`);
      if (counter) counter.textContent = String(field.value.length);
      field.setAttribute("aria-invalid", field.value.length > Number(field.dataset.limit) ? "true" : "false");
    });
    const later = $("#when-later") && $("#when-later").checked;
    $("#scheduled_at").disabled = !later;
    publish.textContent = form.dataset.edit ? "Save changes" : later ? "Schedule" : "Publish now";
    const why = reasons();
    publish.disabled = why.length > 0;
    publishWrap.title = why.join(" ");
    publish.title = why.join(" ");
    blockers.replaceChildren(...why.map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }));
    blockers.hidden = why.length === 0;
    dropdown.refresh();
    form.dispatchEvent(new CustomEvent("compose:changed", { detail: { privacy: privacy(), label } }));
  };

  on(form, "input change", sync);
  setUpUploads(form, sync);
  setUpFixes(form, sync);
  if (photo) setUpPhotoOrder(form, sync);
  setUpPreview(form);
  sync();
}

// The privacy choice as a dropdown that can show why an option is disabled: a native <select>
// shows no hover text on a disabled <option>, so the options are radio buttons in a menu.
// Without this script the radio buttons are simply shown.
function setUpDropdown(form) {
  const button = form.querySelector("#privacy-button");
  const menu = form.querySelector("#privacy-options");
  if (!button || !menu) return { refresh() {} };
  const radios = () => [...menu.querySelectorAll("input[type=radio]")];
  button.hidden = false;
  menu.hidden = true;
  menu.classList.add("floating");
  const open = (value) => {
    menu.hidden = !value;
    button.setAttribute("aria-expanded", String(value));
    if (value) {
      const target = radios().find((r) => r.checked && !r.disabled) || radios().find((r) => !r.disabled);
      if (target) target.focus();
    }
  };
  button.addEventListener("click", () => open(menu.hidden));
  // A click chooses and closes; arrow keys move the choice and leave the menu open until Enter,
  // Escape or Tab.
  // A press inside the menu moves focus away before its click lands: that is not leaving.
  let pointer = false;
  menu.addEventListener("pointerdown", () => { pointer = true; });
  menu.addEventListener("click", () => { window.setTimeout(() => { pointer = false; }, 0); });
  menu.addEventListener("change", () => {
    if (pointer) { open(false); button.focus(); }
  });
  menu.addEventListener("focusout", (event) => {
    if (pointer) return;
    if (!menu.contains(event.relatedTarget) && event.relatedTarget !== button) open(false);
  });
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { open(false); button.focus(); }
    if (event.key === "Enter") { event.preventDefault(); open(false); button.focus(); }
  });
  document.addEventListener("click", (event) => {
    if (!menu.hidden && !menu.contains(event.target) && event.target !== button) open(false);
  });
  return {
    refresh() {
      const chosen = radios().find((r) => r.checked);
      button.textContent = chosen ? chosen.parentElement.firstChild.nextSibling.textContent.trim() : "Select who can view this post";
      button.classList.toggle("placeholder", !chosen);
    },
  };
}
