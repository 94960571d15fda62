"use strict";
/* One kiosk: facts and the timeline of its status changes, refreshed every second. */
(() => {
  const { w, el, ago, factCells, versionsText, readersText, stationsText, clockText, alertText, localTime, getJson } = TF;
  const kw = JSON.parse(document.getElementById("kiosk-words").textContent);
  const root = document.getElementById("kiosk");
  const kioskId = root.dataset.kiosk;
  const facts = document.getElementById("kiosk-facts");
  const alerts = document.getElementById("kiosk-alerts");
  const timeline = document.getElementById("timeline");
  const live = document.getElementById("live");
  let data = null;
  let offset = 0;

  function factLabel(entry) {
    if (entry.fact.startsWith("reader:")) return kw["tl.reader"].split("{name}").join(entry.fact.slice(7));
    if (entry.fact.startsWith("alert:")) return kw["tl.alert"].split("{name}").join(w(`alert.${entry.fact.slice(6)}`));
    return kw[`tl.${entry.fact}`] || entry.fact;
  }

  function valueLabel(entry) {
    const v = entry.value;
    if (entry.fact.startsWith("alert:")) return kw[`tl.${v}`] || v;
    const known = { online: "fact.online", offline: "fact.offline", alive: "fact.alive", dead: "fact.dead", in_sync: "fact.in_sync", behind: "fact.behind" };
    return known[v] ? w(known[v]) : v;
  }

  function render() {
    if (!data) return;
    const nowMs = Date.now() + offset;
    const k = data.kiosk;
    const cells = factCells(k, nowMs);
    const rows = [
      [kw.store, `${k.store_name} (${k.store_id})`],
      [w("col.alive"), el("span", { data: { fact: "alive" } }, cells.alive)],
      [w("col.connected"), el("span", { data: { fact: "connected" } }, cells.connected)],
      [w("col.in_sync"), el("span", { data: { fact: "in_sync" } }, cells.in_sync)],
      [w("col.last_tap"), `${ago(k.last_good_tap_ms, nowMs)} · ${localTime(k.last_good_tap_ms, k.timezone)}`],
      [kw.heartbeat, `${ago(k.heartbeat_received_ms, nowMs)} · ${localTime(k.heartbeat_received_ms, k.timezone)}`],
      [kw.interval, k.heartbeat_interval_s ? `${k.heartbeat_interval_s} s` : "—"],
      [w("col.outbox"), k.outbox_depth ?? "—"],
      [w("col.oldest"), k.oldest_unacked_age_s === null || k.oldest_unacked_age_s === undefined ? "—" : `${k.oldest_unacked_age_s} s`],
      [kw.seq, `${k.applied_seq} / ${k.reported_last_seq ?? "?"}`],
      [kw.held, k.held_events],
      [w("col.versions"), versionsText(k)],
      [w("col.readers"), readersText(k)],
      [w("col.stations"), el("span", { data: { fact: "stations" } }, stationsText(k, nowMs))],
      [w("col.clock"), clockText(k)],
      [w("col.software"), k.software_version || "—"],
      [kw.taps, k.taps_accepted === null || k.taps_accepted === undefined ? "—" : `${k.taps_accepted} / ${k.taps_refused}`],
      [kw.disk, k.disk_free_bytes ? `${(k.disk_free_bytes / 1e9).toFixed(1)} GB` : "—"],
    ];
    facts.replaceChildren(...rows.flatMap(([label, value]) => [el("dt", {}, label), el("dd", {}, value)]));
    alerts.replaceChildren(...data.alerts.map((a) => el("li", { data: { alert: a.kind } }, el("strong", {}, alertText(a)), ` · ${w("col.since")} ${ago(a.raised_ms, nowMs)}`)));
    timeline.replaceChildren(...(data.timeline.length ? data.timeline.map((entry) =>
      el("li", { data: { fact: entry.fact, value: entry.value } },
        el("strong", {}, localTime(entry.at_ms, k.timezone)), " · ", factLabel(entry), ": ",
        entry.previous ? `${valueLabel({ ...entry, value: entry.previous })} → ` : "", valueLabel(entry)))
      : [el("li", { class: "empty" }, kw.no_changes)]));
  }

  async function refresh() {
    try {
      data = await getJson(`/api/v1/fleet/kiosks/${encodeURIComponent(kioskId)}`);
      offset = data.server_ms - Date.now();
      live.dataset.state = "live";
      live.textContent = w("fleet.live");
      render();
    } catch (_e) {
      live.dataset.state = "stale";
      live.textContent = w("fleet.stale");
    }
  }
  refresh();
  setInterval(refresh, 1000);
  setInterval(render, 500);
})();
