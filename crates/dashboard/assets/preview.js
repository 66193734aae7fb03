// The preview of exactly what will go out (TikTok's Point 5a): the chosen video playing, with a
// cover-frame slider that sets `cover_timestamp_ms`, or the photo carousel with its cover; the
// caption or title and description, the disclosure label, who can view it and what viewers may do.
const PRIVACY = {
  PUBLIC_TO_EVERYONE: "Everyone",
  MUTUAL_FOLLOW_FRIENDS: "Friends",
  FOLLOWER_OF_CREATOR: "Followers",
  SELF_ONLY: "Only me",
};

export function setUpPreview(form) {
  const photo = form.dataset.kind === "photo";
  const video = document.getElementById("preview-video");
  const empty = document.getElementById("preview-empty");
  const carousel = document.getElementById("preview-carousel");
  const image = document.getElementById("preview-photo");
  const position = document.getElementById("carousel-position");
  const coverBadge = document.getElementById("carousel-cover");
  const picker = document.getElementById("cover-picker");
  const range = document.getElementById("cover-range");
  const coverTime = document.getElementById("cover-time");
  const coverField = document.getElementById("cover_timestamp_ms");
  const caption = document.getElementById("preview-caption");
  const title = document.getElementById("preview-title");
  const label = document.getElementById("preview-label");
  const privacy = document.getElementById("preview-privacy");
  const interactions = document.getElementById("preview-interactions");
  let shownSrc = "";
  let photos = { ids: [], cover: null };
  let index = 0;

  const showCover = (ms) => {
    coverTime.textContent = `${(ms / 1000).toFixed(1)} s`;
    if (Math.abs(video.currentTime * 1000 - ms) > 20) video.currentTime = ms / 1000;
  };

  if (!photo) {
    video.addEventListener("loadedmetadata", () => {
      const duration = Math.floor(video.duration * 1000);
      if (!Number.isFinite(duration)) return;
      range.max = String(Math.max(duration - 1, 0));
      const chosen = Number(coverField.value || 0);
      range.value = String(Math.min(chosen, duration));
      picker.hidden = false;
      showCover(Number(range.value));
    });
    range.addEventListener("input", () => {
      video.pause();
      coverField.value = range.value;
      showCover(Number(range.value));
    });
  }

  const renderCarousel = () => {
    const sources = new Map([...document.querySelectorAll("#photo-order li")].map((li) => {
      const img = li.querySelector("img");
      return [li.dataset.id, img ? img.src : ""];
    }));
    const count = photos.ids.length;
    carousel.hidden = count === 0;
    empty.hidden = count > 0;
    if (count === 0) return;
    index = Math.min(index, count - 1);
    image.src = sources.get(photos.ids[index]) || "";
    image.alt = `Photo ${index + 1} of ${count}`;
    position.textContent = `${index + 1} / ${count}`;
    coverBadge.hidden = photos.ids[index] !== photos.cover;
  };

  if (photo) {
    document.getElementById("carousel-prev").addEventListener("click", () => {
      index = (index - 1 + photos.ids.length) % photos.ids.length;
      renderCarousel();
    });
    document.getElementById("carousel-next").addEventListener("click", () => {
      index = (index + 1) % photos.ids.length;
      renderCarousel();
    });
    form.addEventListener("photos:changed", (event) => {
      photos = event.detail;
      // The feed shows the cover first: the preview starts there.
      index = Math.max(photos.ids.indexOf(photos.cover), 0);
      renderCarousel();
    });
  }

  form.addEventListener("compose:changed", (event) => {
    const field = (name) => form.querySelector(`[name=${name}]`);
    if (photo) {
      title.textContent = field("title").value;
      caption.textContent = field("description").value;
    } else {
      caption.textContent = field("caption").value;
      const chosen = form.querySelector("input[name=media_id]:checked");
      const src = chosen ? chosen.dataset.src : "";
      if (src !== shownSrc) {
        shownSrc = src;
        picker.hidden = true;
        if (src) {
          video.src = src;
          video.hidden = false;
          empty.hidden = true;
        } else {
          video.removeAttribute("src");
          video.hidden = true;
          empty.hidden = false;
        }
      }
    }
    const labelText = event.detail.label;
    label.hidden = !labelText;
    label.textContent = labelText.includes("Paid") ? "Paid partnership" : labelText ? "Promotional content" : "";
    privacy.textContent = PRIVACY[event.detail.privacy] || event.detail.privacy || "not chosen yet";
    const allowed = ["comment", "duet", "stitch"]
      .filter((name) => {
        const box = form.querySelector(`#allow_${name}`);
        return box && box.checked && !box.disabled;
      })
      .map((name) => name[0].toUpperCase() + name.slice(1));
    const none = photo ? "nothing (no comments)" : "nothing (no comments, duets or stitches)";
    interactions.textContent = allowed.length ? allowed.join(", ") : none;
  });
}
