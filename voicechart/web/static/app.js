// Live updates (server-sent events) and the value panel. No inline scripts: the page's CSP forbids them.
"use strict";

function replaceLive(url) {
  return fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
    .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
    .then((html) => {
      const live = document.getElementById("live");
      if (live) {
        live.innerHTML = html;
        document.body.dataset.updated = String(Date.now());
        document.dispatchEvent(new CustomEvent("voicechart:updated"));
      }
    })
    .catch(() => {});
}

function listen(url, refresh) {
  const source = new EventSource(url);
  let busy = false;
  let again = false;
  const run = () => {
    if (busy) { again = true; return; }
    busy = true;
    replaceLive(refresh).finally(() => { busy = false; if (again) { again = false; run(); } });
  };
  source.addEventListener("change", run);
  source.addEventListener("open", () => { document.body.dataset.liveOpen = "1"; });
}

function openPanel(site) {
  const panel = document.getElementById("panel");
  if (!panel) return;
  document.querySelectorAll(".site.selected").forEach((el) => el.classList.remove("selected"));
  site.classList.add("selected");
  const q = new URLSearchParams({
    fragment: "1", tooth: site.dataset.tooth, site: site.dataset.site, seq: site.dataset.seq,
  });
  fetch(`/utterances/${site.dataset.utterance}?${q}`, { credentials: "same-origin" })
    .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
    .then((html) => { panel.innerHTML = html; })
    .catch(() => { panel.textContent = "Could not load this value's source."; });
}

document.addEventListener("DOMContentLoaded", () => {
  const body = document.body;
  if (body.dataset.live === "today") listen("/events", "/?fragment=1");
  if (body.dataset.live === "exam") {
    const id = body.dataset.session;
    listen(`/events?session=${id}`, `/exams/${id}?fragment=1`);
  }
  document.addEventListener("click", (event) => {
    const site = event.target.closest(".site[data-utterance]");
    if (site) { event.preventDefault(); openPanel(site); }
  });
  document.addEventListener("keydown", (event) => {
    const site = event.target.closest && event.target.closest(".site[data-utterance]");
    if (site && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); openPanel(site); }
  });
});
