"use strict";
/* Shared helpers of the dashboard pages: words, safe DOM building, times, API calls. */
const TF = (() => {
  const words = JSON.parse(document.getElementById("words").textContent);
  const lang = document.body.dataset.lang || "zh";
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const canWrite = document.body.dataset.canWrite === "1";

  function w(key, values) {
    let text = Object.prototype.hasOwnProperty.call(words, key) ? words[key] : key;
    for (const [k, v] of Object.entries(values || {})) text = text.split(`{${k}}`).join(String(v));
    return text;
  }

  /* el("td", {class: "x", data: {fact: "alive"}}, "text", childNode) — text is never HTML. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "data") for (const [dk, dv] of Object.entries(v)) node.dataset[dk] = dv;
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function ago(ms, nowMs) {
    if (ms === null || ms === undefined) return "—";
    const s = Math.max(0, Math.round((nowMs - ms) / 1000));
    if (s < 90) return w("ago.s", { n: s });
    if (s < 5400) return w("ago.m", { n: Math.round(s / 60) });
    if (s < 129600) return w("ago.h", { n: Math.round(s / 3600) });
    return w("ago.d", { n: Math.round(s / 86400) });
  }

  /* "2026-11-25 20:34:18" in the store's time zone, the same in both languages. */
  function localTime(ms, tz) {
    if (ms === null || ms === undefined) return "—";
    try {
      const parts = {};
      for (const p of new Intl.DateTimeFormat("en-CA", {
        timeZone: tz || "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
      }).formatToParts(new Date(ms))) parts[p.type] = p.value;
      return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
    } catch (_e) {
      return new Date(ms).toISOString();
    }
  }

  function pill(kind, text, value, title) {
    return el("span", { class: `pill ${kind}`, title: title || null, data: { value } }, text);
  }

  async function send(method, url, body) {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (_e) { data = null; }
    if (!response.ok) {
      const message = (data && data.error && data.error.message) || response.statusText;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401) {
      window.location.assign(`/dashboard/login?next=${encodeURIComponent(location.pathname + location.search)}`);
      throw new Error("not logged in");
    }
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    return response.json();
  }

  /* The separate facts of a kiosk as cells; `alive` is judged now against alive_until_ms. */
  function aliveAt(k, nowMs) {
    return k.alive_until_ms !== null && k.alive_until_ms !== undefined && nowMs <= k.alive_until_ms;
  }

  function factCells(k, nowMs) {
    const cells = {};
    if (k.revoked) {
      const r = pill("off", w("fact.revoked"), "revoked");
      return { alive: r, connected: r.cloneNode(true), in_sync: r.cloneNode(true) };
    }
    const alive = aliveAt(k, nowMs);
    if (k.heartbeat_received_ms === null) cells.alive = pill("bad", w("fact.never"), "no");
    else cells.alive = el("span", {}, pill(alive ? "ok" : "bad", alive ? w("fact.alive") : w("fact.dead"), alive ? "yes" : "no"),
      el("span", { class: "sub" }, ago(k.heartbeat_received_ms, nowMs)));
    const conn = k.status === null ? "unknown" : (k.connected ? "online" : "offline");
    cells.connected = el("span", {}, pill(conn === "online" ? "ok" : conn === "offline" ? "bad" : "off", w(`fact.${conn}`), conn),
      k.status_since_ms ? el("span", { class: "sub" }, ago(k.status_since_ms, nowMs)) : null);
    const syncKind = k.in_sync ? "ok" : (k.sync_problem ? "bad" : "warn");
    let syncNote = null;
    if (!k.events_caught_up) syncNote = `seq ${k.applied_seq}/${k.reported_last_seq ?? "?"}`;
    else if (!k.in_sync && k.out_of_sync_since_ms) syncNote = ago(k.out_of_sync_since_ms, nowMs);
    cells.in_sync = el("span", {}, pill(syncKind, k.in_sync ? w("fact.in_sync") : w("fact.behind"), k.in_sync ? "yes" : "no"),
      syncNote ? el("span", { class: "sub" }, syncNote) : null);
    return cells;
  }

  function versionsText(k) {
    return ["rules", "deny", "members"].map((name) => {
      const v = k.versions[name];
      const behind = v.applied === null || v.applied < v.current;
      return el("span", { class: behind ? "pill warn" : "pill ok", data: { version: name } },
        `${w("v." + name)} ${v.applied ?? "?"}/${v.current}`);
    });
  }

  function readersText(k) {
    const names = Object.keys(k.readers);
    if (!names.length) return el("span", { class: "muted" }, "—");
    return names.map((name) => {
      const r = k.readers[name];
      const kind = r.state === "ok" ? "ok" : r.state === "disabled" ? "off" : "bad";
      return pill(kind, `${name}: ${r.state}`, r.state, r.detail || null);
    });
  }

  // A door station reports every 30 s through its kiosk: silent for 90 s is worth a look.
  const STATION_SILENT_MS = 90000;

  function stationsText(k, nowMs) {
    const names = Object.keys(k.stations || {});
    if (!names.length) return el("span", { class: "muted" }, "—");
    return names.map((name) => {
      const s = k.stations[name];
      const silent = s.last_seen_ms === null || nowMs - s.last_seen_ms > STATION_SILENT_MS;
      const kind = s.reader === "fault" || silent || s.dropped ? "bad" : s.buffered || s.refused_requests ? "warn" : "ok";
      const label = silent ? w("station.silent", { name, ago: ago(s.last_seen_ms, nowMs) }) : `${name}: ${s.reader}`;
      const detail = [s.room ? `room ${s.room}` : null, s.fw ? `fw ${s.fw}` : null,
        `taps ${s.taps_accepted}/${s.taps_refused}`, `buffered ${s.buffered}`, `dropped ${s.dropped}`,
        `refused requests ${s.refused_requests}`].filter(Boolean).join(" · ");
      return el("span", { class: `pill ${kind}`, data: { station: name }, title: detail }, label);
    });
  }

  function clockText(k) {
    if (k.clock_offset_ms === null || k.clock_offset_ms === undefined) return "—";
    const s = (k.clock_offset_ms / 1000).toFixed(1);
    return `${k.clock_offset_ms >= 0 ? "+" : ""}${s} s${k.clock_offset_estimated ? ` (${w("fact.estimated")})` : ""}`;
  }

  function alertText(a) {
    let text = w(`alert.${a.kind}`);
    const d = a.detail || {};
    if (a.kind === "offline") text += ` (${w(d.connected === false ? "fact.offline" : "fact.dead")})`;
    if (a.kind === "flapping" && d.drops) text += ` · ${w("alert.flaps", { n: d.drops })}`;
    if (a.kind === "clock_skew" && d.clock_offset_ms !== undefined) text += ` · ${(d.clock_offset_ms / 1000).toFixed(1)} s`;
    if (a.kind === "reader" && d.readers) text += ` · ${Object.entries(d.readers).map(([n, s]) => `${n}: ${s}`).join(", ")}`;
    if (a.kind === "rejections" && d.window_rate !== undefined) text += ` · ${(d.window_rate * 100).toFixed(0)}%`;
    if (a.kind === "version_lag") text += ` · ${Object.keys(d).map((n) => w(`v.${n}`)).join(", ")}`;
    if (a.kind === "sync_lag" && d.oldest_unacked_age_s !== undefined) text += ` · ${d.oldest_unacked_age_s} s`;
    return text;
  }

  return { w, el, ago, localTime, pill, send, getJson, aliveAt, factCells, versionsText, readersText, stationsText, clockText, alertText, lang, canWrite };
})();
