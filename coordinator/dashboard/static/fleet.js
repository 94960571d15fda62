"use strict";
/* Live fleet view: Server-Sent Events from /api/v1/fleet/stream, rendered without reloads.
   "Alive" is re-judged every half second against alive_until_ms (server clock), so a silent
   kiosk turns dead on time even between two server pushes. */
(() => {
  const { w, el, ago, factCells, versionsText, readersText, stationsText, clockText, alertText, aliveAt, localTime } = TF;
  const root = document.getElementById("fleet");
  const alertsList = document.getElementById("alerts");
  const live = document.getElementById("live");
  const storeSelect = document.getElementById("filter-store");
  const problemsBox = document.getElementById("filter-problems");
  let snap = null;
  let offset = 0; /* server clock minus ours */

  function problem(k, nowMs) {
    if (k.revoked) return false;
    const syncProblem = k.sync_problem === undefined ? !k.in_sync : k.sync_problem;
    return Boolean(k.alerts.length || !aliveAt(k, nowMs) || !k.connected || syncProblem ||
      Object.values(k.readers).some((r) => r.state !== "ok" && r.state !== "disabled"));
  }

  function kioskRow(k, nowMs) {
    const cells = factCells(k, nowMs);
    const bad = problem(k, nowMs);
    return el("tr", { class: bad ? "problem" : null, data: { kiosk: k.kiosk_id, problem: bad ? "1" : "0" } },
      el("td", {}, el("a", { href: `/dashboard/kiosks/${encodeURIComponent(k.kiosk_id)}` }, k.kiosk_id),
        k.name && k.name !== k.kiosk_id ? el("span", { class: "sub" }, k.name) : null),
      el("td", { data: { fact: "alive" } }, cells.alive),
      el("td", { data: { fact: "connected" } }, cells.connected),
      el("td", { data: { fact: "in_sync" } }, cells.in_sync),
      el("td", { data: { fact: "last_tap" }, title: localTime(k.last_good_tap_ms, k.timezone) }, ago(k.last_good_tap_ms, nowMs)),
      el("td", { class: "num", data: { fact: "outbox" } }, k.outbox_depth ?? "—"),
      el("td", { class: "num", data: { fact: "oldest" } }, k.oldest_unacked_age_s === null || k.oldest_unacked_age_s === undefined ? "—" : `${k.oldest_unacked_age_s} s`),
      el("td", { data: { fact: "versions" } }, versionsText(k)),
      el("td", { data: { fact: "readers" } }, readersText(k),
        Object.keys(k.stations || {}).length ? el("div", { class: "sub", data: { fact: "stations" } }, stationsText(k, nowMs)) : null),
      el("td", { class: "num", data: { fact: "clock" } }, clockText(k)),
      el("td", { data: { fact: "software" } }, k.software_version || "—"),
      el("td", { data: { fact: "alerts" } }, k.alerts.map((kind) => el("span", { class: "pill bad", data: { alert: kind } }, w(`alert.${kind}`)))));
  }

  function header() {
    return el("thead", {}, el("tr", {}, ["col.kiosk", "col.alive", "col.connected", "col.in_sync", "col.last_tap",
      "col.outbox", "col.oldest", "col.versions", "col.readers", "col.clock", "col.software", "col.alert"]
      .map((key) => el("th", {}, w(key)))));
  }

  function render() {
    if (!snap) return;
    const nowMs = Date.now() + offset;
    const store = storeSelect.value;
    const onlyProblems = problemsBox.checked;
    const stores = snap.stores.filter((s) => !store || s.store_id === store);
    const groups = stores.map((s) => {
      const kiosks = snap.kiosks.filter((k) => k.store_id === s.store_id && (!onlyProblems || problem(k, nowMs)));
      if (!kiosks.length) return null;
      return el("section", { class: "store card", data: { store: s.store_id } },
        el("h2", {}, `${s.name} (${s.store_id})`),
        el("table", { class: "grid" }, header(), el("tbody", {}, kiosks.map((k) => kioskRow(k, nowMs)))));
    }).filter(Boolean);
    root.replaceChildren(...(groups.length ? groups : [el("p", { class: "empty", id: "fleet-empty" }, w("fleet.none"))]));

    const alerts = snap.alerts.filter((a) => !store || a.store_id === store);
    alertsList.replaceChildren(...(alerts.length ? alerts.map((a) =>
      el("li", { data: { alert: a.kind, kiosk: a.kiosk_id } },
        el("strong", {}, alertText(a)), " · ",
        el("a", { href: `/dashboard/kiosks/${encodeURIComponent(a.kiosk_id)}` }, a.kiosk_id),
        ` · ${w("col.since")} ${ago(a.raised_ms, nowMs)}`,
        a.raised_count > 1 ? ` · ${w("alert.raised_times", { n: a.raised_count })}` : ""))
      : [el("li", { class: "empty", id: "no-alerts" }, w("fleet.no_alerts"))]));
  }

  function syncUrl() {
    const params = new URLSearchParams(location.search);
    if (storeSelect.value) params.set("store_id", storeSelect.value); else params.delete("store_id");
    if (problemsBox.checked) params.set("problems", "1"); else params.delete("problems");
    const query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? `?${query}` : ""));
    render();
  }

  storeSelect.addEventListener("change", syncUrl);
  problemsBox.addEventListener("change", syncUrl);

  /* The server ends each stream after a while and the browser reconnects at once, getting
     the current snapshot first: only an error not followed by a snapshot means stale. */
  let failedAt = null;
  const source = new EventSource("/api/v1/fleet/stream");
  source.addEventListener("fleet", (event) => {
    snap = JSON.parse(event.data);
    offset = snap.server_ms - Date.now();
    failedAt = null;
    live.dataset.state = "live";
    live.textContent = w("fleet.live");
    render();
  });
  source.addEventListener("error", () => {
    failedAt = failedAt || Date.now();
  });
  setInterval(() => {
    if (failedAt !== null && Date.now() - failedAt > 3000) {
      live.dataset.state = "stale";
      live.textContent = w("fleet.stale");
    }
  }, 1000);
  window.addEventListener("pagehide", () => source.close());
  setInterval(render, 500);
})();
