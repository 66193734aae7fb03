// A photo post's photos in order, with its cover: added from the library or an upload, moved by
// dragging (pointer events, so a mouse, a finger and WebDriver all work) or by the buttons
// beside each photo (the keyboard's way), removed, and one marked as the cover.
const MAX_PHOTOS = 35;

export function setUpPhotoOrder(form, changed) {
  const list = form.querySelector("#photo-order");
  const field = form.querySelector("#photo_ids");
  const count = form.querySelector("#photo-count [data-count]");
  const library = form.querySelector("#library-list");
  const sources = new Map();
  library.querySelectorAll("[data-pick]").forEach((item) => sources.set(item.dataset.pick, item.dataset.src));
  let cover = null;

  const ids = () => [...list.children].map((item) => item.dataset.id);
  const initialCover = list.querySelector("input[name=cover_index]:checked");
  cover = initialCover ? initialCover.closest("li").dataset.id : null;

  const button = (label, action, title) => {
    const element = document.createElement("button");
    element.type = "button";
    element.className = "secondary small";
    element.textContent = label;
    element.dataset.action = action;
    element.setAttribute("aria-label", title);
    return element;
  };

  // Renders every item from its id: thumbnail, position, cover choice, move and remove.
  const render = () => {
    const order = ids();
    if (!order.includes(cover)) cover = order[0] || null;
    [...list.children].forEach((item, index) => {
      const id = item.dataset.id;
      const src = sources.get(id) || item.dataset.src || "";
      item.replaceChildren();
      item.className = "photo";
      const handle = document.createElement("span");
      handle.className = "handle";
      handle.textContent = "⠿";
      handle.title = "Drag to move";
      handle.setAttribute("aria-hidden", "true");
      const img = document.createElement("img");
      img.src = src;
      img.alt = `Photo ${index + 1}`;
      const label = document.createElement("label");
      const radio = document.createElement("input");
      radio.type = "radio";
      radio.name = "cover_index";
      radio.value = String(index);
      radio.checked = id === cover;
      label.append(radio, document.createTextNode(" Cover"));
      const position = document.createElement("span");
      position.className = "muted";
      position.textContent = `${index + 1}.`;
      item.append(handle, position, img, label,
        button("↑", "up", `Move photo ${index + 1} up`),
        button("↓", "down", `Move photo ${index + 1} down`),
        button("✕", "remove", `Remove photo ${index + 1}`));
    });
    field.value = ids().join(",");
    count.textContent = String(order.length);
    library.querySelectorAll("[data-pick]").forEach((item) => {
      item.setAttribute("aria-pressed", String(order.includes(item.dataset.pick)));
    });
    form.dispatchEvent(new CustomEvent("photos:changed", { detail: { ids: ids(), cover } }));
    changed();
  };

  const add = (id, src) => {
    if (src) sources.set(id, src);
    if (ids().includes(id)) return;
    if (ids().length >= MAX_PHOTOS) {
      form.querySelector("#upload-status").textContent = `A photo post takes at most ${MAX_PHOTOS} photos.`;
      return;
    }
    const item = document.createElement("li");
    item.dataset.id = id;
    list.append(item);
    render();
  };

  form.addEventListener("photos:add", (event) => add(event.detail.id, event.detail.src));
  // A fixed copy takes the original's place (and its cover), or joins the end.
  form.addEventListener("photos:swap", (event) => {
    const { from, to, src } = event.detail;
    if (src) sources.set(to, src);
    const item = list.querySelector(`li[data-id="${from}"]`);
    if (!item) return add(to, src);
    if (cover === from) cover = to;
    item.dataset.id = to;
    render();
  });
  list.addEventListener("change", (event) => {
    if (event.target.name === "cover_index") {
      cover = event.target.closest("li").dataset.id;
      render();
    }
  });
  list.addEventListener("click", (event) => {
    const action = event.target.dataset && event.target.dataset.action;
    if (!action) return;
    const item = event.target.closest("li");
    if (action === "remove") item.remove();
    if (action === "up" && item.previousElementSibling) list.insertBefore(item, item.previousElementSibling);
    if (action === "down" && item.nextElementSibling) list.insertBefore(item.nextElementSibling, item);
    render();
    const again = list.querySelector(`li[data-id="${item.dataset.id}"] [data-action="${action}"]`);
    if (again) again.focus();
  });

  // Dragging: the item follows the pointer and the list reorders as it passes other items.
  let dragged = null;
  list.addEventListener("pointerdown", (event) => {
    const item = event.target.closest("li");
    if (!item || event.target.closest("button, input, label")) return;
    dragged = item;
    item.classList.add("dragging");
    list.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  list.addEventListener("pointermove", (event) => {
    if (!dragged) return;
    const others = [...list.children].filter((item) => item !== dragged);
    const after = others.find((item) => {
      const box = item.getBoundingClientRect();
      return event.clientY < box.top + box.height / 2;
    });
    if (after) list.insertBefore(dragged, after);
    else list.append(dragged);
  });
  const drop = () => {
    if (!dragged) return;
    dragged.classList.remove("dragging");
    dragged = null;
    render();
  };
  list.addEventListener("pointerup", drop);
  list.addEventListener("pointercancel", drop);

  render();
}
