// A post's page follows its state until it is final (TikTok's Point 5e): the state updates in
// place, and the page reloads once to show the final timeline.
const facts = document.querySelector("[data-follow]");
if (facts) {
  const badge = document.getElementById("post-state");
  const follow = async () => {
    try {
      const answer = await fetch(facts.dataset.follow, { headers: { Accept: "application/json" } });
      if (answer.ok) {
        const body = await answer.json();
        if (body.state !== badge.textContent) {
          badge.textContent = body.state;
          badge.className = `state ${body.state}`;
        }
        if (body.final) {
          window.location.replace(window.location.pathname);
          return;
        }
      }
    } catch (_) {
      // The server is restarting or the network blinked: ask again at the next tick.
    }
    window.setTimeout(follow, 3000);
  };
  window.setTimeout(follow, 3000);
}
