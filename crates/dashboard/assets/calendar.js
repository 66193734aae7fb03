// The calendar's drag to reschedule. Pointer Events, so that a mouse, a pen, a finger and
// WebDriver's pointer actions all drive it (HTML5 drag and drop does none of the last). A drop
// asks the server to move the post (POST /calendar/move/{id}, the API's reschedule underneath);
// a refusal is shown next to the post in the API's words and the post stays where it was.
// Without this script every movable post keeps its Move link to a plain form.
"use strict";

const calendar = document.getElementById("calendar");
if (calendar) {
  const view = calendar.dataset.view;
  const csrf = calendar.dataset.csrf;
  const status = document.getElementById("cal-status");
  // A press that moves less than this is a click (it opens the post).
  const THRESHOLD = 6;
  let drag = null;
  let swallowClick = false;

  const cellAt = (x, y) => {
    const element = document.elementFromPoint(x, y);
    return element ? element.closest("#cal-grid td[data-drop]") : null;
  };

  const say = (text) => { if (status) status.textContent = text; };

  const clearError = (chip) => chip.querySelectorAll(".cal-error").forEach((e) => e.remove());

  const showError = (chip, message) => {
    clearError(chip);
    const note = document.createElement("p");
    note.className = "cal-error";
    note.setAttribute("role", "alert");
    note.textContent = "Not moved: " + message;
    chip.appendChild(note);
    chip.classList.add("refused");
    say("Not moved: " + message);
  };

  // Where the chip goes in its new cell: among the others, in time order.
  const place = (chip, cell) => {
    let list = cell.querySelector(".cal-posts");
    if (!list) {
      list = document.createElement("ul");
      list.className = "cal-posts";
      cell.appendChild(list);
    }
    const time = chip.querySelector("time").textContent;
    const later = Array.from(list.children).find(
      (other) => other !== chip && other.querySelector("time").textContent > time,
    );
    list.insertBefore(chip, later || null);
  };

  const move = async (chip, body) => {
    clearError(chip);
    chip.classList.remove("refused");
    chip.classList.add("pending");
    say("Moving…");
    let answer = {};
    let ok = false;
    try {
      const response = await fetch("/calendar/move/" + encodeURIComponent(chip.dataset.post), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body),
      });
      try { answer = await response.json(); } catch (_) { answer = {}; }
      ok = response.ok;
      if (!ok && !(answer.error && answer.error.message)) {
        answer = { error: { message: "the server answered " + response.status } };
      }
    } catch (_) {
      answer = { error: { message: "the connection broke; nothing was moved" } };
    }
    chip.classList.remove("pending");
    if (!ok) {
      showError(chip, answer.error.message);
      return;
    }
    const time = chip.querySelector("time");
    if (view === "week") time.textContent = answer.time;
    const selector = view === "week"
      ? `td[data-date="${answer.date}"][data-hour="${answer.hour}"]`
      : `td[data-date="${answer.date}"]`;
    const target = calendar.querySelector(selector);
    if (target) place(chip, target); else chip.remove();
    const label = chip.querySelector(".cal-move .sr");
    if (label) label.textContent = " the post at " + answer.time;
    chip.classList.add("moved");
    say("Moved to " + answer.label + ".");
  };

  const finish = (event, cancelled) => {
    if (!drag || event.pointerId !== drag.pointer) return;
    const current = drag;
    drag = null;
    if (!current.active) return;
    swallowClick = true;
    window.setTimeout(() => { swallowClick = false; }, 400);
    current.chip.classList.remove("dragging");
    calendar.classList.remove("is-dragging");
    current.chip.style.transform = "";
    if (current.over) current.over.classList.remove("drop-over");
    const cell = cancelled ? null : cellAt(event.clientX, event.clientY);
    if (!cell) {
      say("Not moved.");
      return;
    }
    const body = { date: cell.dataset.date };
    if (view === "week") {
      const box = cell.getBoundingClientRect();
      const lower = event.clientY - box.top >= box.height / 2;
      body.time = String(cell.dataset.hour).padStart(2, "0") + (lower ? ":30" : ":00");
    } else if (cell === current.origin) {
      say("Not moved: the same day.");
      return;
    }
    move(current.chip, body);
  };

  calendar.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || drag) return;
    const chip = event.target.closest("[data-movable]");
    if (!chip || event.target.closest(".cal-move, .cal-error")) return;
    drag = {
      chip,
      origin: chip.closest("td"),
      pointer: event.pointerId,
      // Page coordinates, so that scrolling during a drag keeps the chip under the pointer.
      x: event.clientX + window.scrollX,
      y: event.clientY + window.scrollY,
      active: false,
      over: null,
    };
  });

  document.addEventListener("pointermove", (event) => {
    if (!drag || event.pointerId !== drag.pointer) return;
    const dx = event.clientX + window.scrollX - drag.x;
    const dy = event.clientY + window.scrollY - drag.y;
    if (!drag.active) {
      if (Math.hypot(dx, dy) < THRESHOLD) return;
      drag.active = true;
      drag.chip.classList.add("dragging");
      calendar.classList.add("is-dragging");
      say("Moving the post: drop it on another slot, or press Escape.");
    }
    event.preventDefault();
    // Near the window's top or bottom edge the page scrolls, to reach the other hours.
    const EDGE = 48;
    if (event.clientY < EDGE) window.scrollBy(0, -24);
    else if (event.clientY > window.innerHeight - EDGE) window.scrollBy(0, 24);
    drag.chip.style.transform = `translate(${dx}px, ${dy}px)`;
    const cell = cellAt(event.clientX, event.clientY);
    if (cell !== drag.over) {
      if (drag.over) drag.over.classList.remove("drop-over");
      if (cell) cell.classList.add("drop-over");
      drag.over = cell;
    }
  });

  document.addEventListener("pointerup", (event) => finish(event, false));
  document.addEventListener("pointercancel", (event) => finish(event, true));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && drag) finish({ pointerId: drag.pointer }, true);
  });
  // The click that ends a drag does not also open the post.
  document.addEventListener("click", (event) => {
    if (swallowClick) {
      swallowClick = false;
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);
}
