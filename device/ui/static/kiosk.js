// The kiosk touchscreen: member screens, redemptions and staff mode.
// Results arrive over Server-Sent Events the moment a tap is decided (no polling).
"use strict";

const $ = (sel) => document.querySelector(sel);
const $$ = (sel) => Array.from(document.querySelectorAll(sel));

const state = {
  config: { default_lang: "zh", result_display_s: 6, member_session_s: 45, staff_idle_s: 120 },
  lang: "zh",
  view: "idle",
  status: null,
  tap: null,
  memberToken: null,
  memberDetail: null,
  pending: null,
  staff: null,
  staffTab: "member",
  staffMember: null,
  staffPending: null,
  pin: "",
  shift: true,
  timers: {},
};

// --- helpers -------------------------------------------------------------------------------

function t(key, vars) {
  const table = STRINGS[state.lang] || STRINGS.zh;
  let text = table[key] !== undefined ? table[key] : STRINGS.zh[key] || key;
  if (vars) {
    for (const [name, value] of Object.entries(vars)) {
      text = text.split("{" + name + "}").join(String(value));
    }
  }
  return text;
}

function other(lang) {
  return lang === "en" ? "zh" : "en";
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function bilingual(zh, en) {
  return state.lang === "en" ? en || zh : zh || en;
}

function clearTimer(name) {
  if (state.timers[name]) {
    clearTimeout(state.timers[name]);
    delete state.timers[name];
  }
}

function setTimer(name, seconds, fn) {
  clearTimer(name);
  state.timers[name] = setTimeout(() => {
    delete state.timers[name];
    fn();
  }, seconds * 1000);
}

async function api(method, path, { body, member, staff } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (member) headers["X-Member-Session"] = member;
  if (staff) headers["X-Staff-Session"] = staff;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    return { ok: false, status: 0, data: { code: "network", message_zh: "本机界面连接失败", message_en: "The screen lost its connection" } };
  }
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = {};
  }
  return { ok: response.ok, status: response.status, data };
}

// --- language and views -----------------------------------------------------------------------

function applyI18n() {
  document.documentElement.lang = state.lang === "en" ? "en" : "zh-CN";
  for (const node of $$("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of $$("[data-i18n-other]")) {
    const table = STRINGS[other(state.lang)];
    node.textContent = table[node.dataset.i18nOther] || "";
  }
}

function setLang(lang) {
  state.lang = lang === "en" ? "en" : "zh";
  applyI18n();
  renderStatus();
  rerender();
}

function show(view) {
  state.view = view;
  for (const section of $$(".view")) section.hidden = section.dataset.view !== view;
  document.body.dataset.view = view;
}

function rerender() {
  switch (state.view) {
    case "result": renderResult(); break;
    case "rewards": renderRewards(); break;
    case "coupons": renderCoupons(); break;
    case "confirm": renderConfirm(); break;
    case "pin": renderPin(); break;
    case "staff": renderStaff(); break;
    default: break;
  }
}

function inStaffMode() {
  return state.view === "pin" || state.view === "staff";
}

function goIdle() {
  for (const name of ["result", "session"]) clearTimer(name);
  state.memberToken = null;
  state.memberDetail = null;
  state.pending = null;
  state.tap = null;
  if (state.lang !== state.config.default_lang) setLang(state.config.default_lang);
  show("idle");
}

// --- status -----------------------------------------------------------------------------------

function renderStatus() {
  const s = state.status;
  if (!s) return;
  $("#offline-indicator").hidden = !!s.online;
  const warnings = [];
  for (const reader of [s.nfc, s.camera]) {
    if (reader && reader.state === "unavailable") {
      warnings.push(bilingual(reader.message_zh, reader.message_en));
    }
  }
  const warning = $("#reader-warning");
  warning.textContent = warnings.join(" ");
  warning.hidden = warnings.length === 0;
  $("#not-ready-warning").hidden = !!s.ready || !!s.stream_refused;
  $("#stream-refused-warning").hidden = !s.stream_refused;
}

// --- tap results ---------------------------------------------------------------------------------

function onTap(view) {
  if (inStaffMode()) {
    // Staff are working the screen: a student's tap is still recorded; tell staff briefly.
    const name = view.member ? view.member.display_name + " · " : "";
    staffNotice(name + (view.outcome === "accepted" ? headline(view) : bilingual(view.message_zh, view.message_en)));
    return;
  }
  state.tap = view;
  state.memberToken = view.session_token || null;
  state.memberDetail = null;
  state.pending = null;
  // A member's own language; a refusal nobody could be identified for keeps the screen's.
  setLang(view.member ? view.lang : state.lang);
  show("result");
  renderResult();
  setTimer("result", state.config.result_display_s, goIdle);
  if (state.memberToken) {
    setTimer("session", view.session_s || state.config.member_session_s, goIdle);
  } else {
    clearTimer("session");
  }
}

const SOFT_REFUSALS = ["already_checked_in", "already_signed_in"];

function headline(view) {
  if (view.outcome !== "accepted") {
    return SOFT_REFUSALS.includes(view.reason) ? t("already_done") : t("refused");
  }
  return {
    checkin: t("checked_in"),
    class_signin: t("class_signed_in"),
    points_redeem: t("points_redeemed"),
    coupon_redeem: t("coupon_redeemed"),
    reversal: t("reversed"),
    sv_spend: t("charged"),
  }[view.action] || t("checked_in");
}

function yuan(fen) {
  return "¥" + (fen / 100).toFixed(2);
}

function fact(label, value, id) {
  return el("div", { class: "fact" },
    el("span", { class: "label", text: label }),
    el("span", { class: "value", id: id || null, text: value }));
}

function renderResult() {
  const view = state.tap;
  if (!view) return;
  const card = $("#result-card");
  const soft = SOFT_REFUSALS.includes(view.reason);
  card.className = "result " + (view.outcome === "accepted" ? "ok" : soft ? "info" : "refused");
  $("#result-headline").textContent = headline(view);
  $("#result-name").textContent = view.member ? t("welcome", { name: view.member.display_name }) : "";
  const message = $("#result-message");
  const note = view.outcome === "accepted" && (view.class_not_covered_zh || view.class_not_covered_en)
    ? t("class_not_covered", { title: bilingual(view.class_not_covered_zh, view.class_not_covered_en) })
    : "";
  message.hidden = view.outcome === "accepted" && !note;
  message.textContent = view.outcome === "accepted" ? note : bilingual(view.message_zh, view.message_en);
  const facts = $("#result-facts");
  facts.replaceChildren();
  if (view.class_title_zh || view.class_title_en) {
    const title = bilingual(view.class_title_zh, view.class_title_en);
    facts.append(fact(t("class"), view.class_starts ? title + " " + view.class_starts : title, "result-class"));
  }
  if (view.reward_title_zh || view.reward_title_en) {
    facts.append(fact(t("reward"), bilingual(view.reward_title_zh, view.reward_title_en), "result-reward"));
  }
  if (view.coupon_title) facts.append(fact(t("coupon"), view.coupon_title, "result-coupon"));
  if (view.outcome === "accepted" && (view.action === "checkin" || view.points_earned > 0)) {
    facts.append(fact(t("points_earned"), "+" + view.points_earned, "result-earned"));
  }
  if (view.points_spent > 0) facts.append(fact(t("points_spent"), "-" + view.points_spent, "result-spent"));
  if (view.member) facts.append(fact(t("points_balance"), String(view.member.points_balance), "result-balance"));
  if (view.sv_charged_fen > 0) {
    const paid = view.action === "class_signin" ? "drop_in_paid" : "charged_amount";
    facts.append(fact(t(paid), yuan(view.sv_charged_fen), "result-charged"));
    facts.append(fact(t("stored_value"), yuan(view.member.stored_value_fen), "result-stored-value"));
  }
  const pass = view.pass_info;
  if (pass) {
    const left = pass.sessions_left === null ? t("time_pass") : t("sessions_unit", { n: pass.sessions_left });
    facts.append(fact(t("sessions_left"), left, "result-sessions"));
    if (pass.valid_until) facts.append(fact(t("pass_valid_until"), pass.valid_until, "result-expiry"));
  }
  $("#result-actions").hidden = !state.memberToken;
}

// --- member redemptions ---------------------------------------------------------------------------

function memberInteracting() {
  clearTimer("result"); // the session timer still ends it
}

async function loadMemberDetail() {
  const res = await api("GET", "/api/member", { member: state.memberToken });
  if (!res.ok) {
    sessionOver(res.data);
    return false;
  }
  state.memberDetail = res.data;
  return true;
}

function sessionOver(data) {
  state.memberToken = null;
  state.tap = {
    outcome: "refused",
    message_zh: (data && data.message_zh) || STRINGS.zh.session_over,
    message_en: (data && data.message_en) || STRINGS.en.session_over,
    member: null,
    lang: state.lang,
  };
  show("result");
  renderResult();
  setTimer("result", Math.min(state.config.result_display_s, 5), goIdle);
}

async function openRewards() {
  memberInteracting();
  if (await loadMemberDetail()) {
    show("rewards");
    renderRewards();
  }
}

async function openCoupons() {
  memberInteracting();
  if (await loadMemberDetail()) {
    show("coupons");
    renderCoupons();
  }
}

function renderRewards() {
  const detail = state.memberDetail;
  if (!detail) return;
  $("#rewards-balance").textContent = String(detail.member.points_balance);
  const list = $("#rewards-list");
  list.replaceChildren();
  if (detail.rewards.length === 0) list.append(el("p", { class: "empty", text: t("no_rewards") }));
  for (const reward of detail.rewards) {
    const title = bilingual(reward.title_zh, reward.title_en);
    list.append(el("button", {
      class: "choice", type: "button", "data-reward": reward.reward_id,
      disabled: !reward.affordable,
      onclick: () => askConfirm({ kind: "reward", id: reward.reward_id, title, cost: reward.points_cost }),
    }, el("span", { class: "title", text: title }),
       el("span", { class: "cost", text: t("points_cost", { cost: reward.points_cost }) })));
  }
}

function renderCoupons() {
  const detail = state.memberDetail;
  if (!detail) return;
  const list = $("#coupons-list");
  list.replaceChildren();
  if (detail.coupons.length === 0) list.append(el("p", { class: "empty", text: t("no_coupons") }));
  for (const coupon of detail.coupons) {
    const when = coupon.usable ? t("valid_until", { date: coupon.valid_until }) : t("not_usable_here");
    const sub = bilingual(coupon.kind_zh, coupon.kind_en) + " · " + when;
    list.append(el("button", {
      class: "choice", type: "button", "data-coupon": coupon.coupon_id,
      disabled: !coupon.usable,
      onclick: () => askConfirm({ kind: "coupon", id: coupon.coupon_id, title: coupon.title }),
    }, el("span", { class: "title", text: coupon.title }), el("span", { class: "cost", text: sub })));
  }
}

function askConfirm(pending) {
  memberInteracting();
  state.pending = pending;
  show("confirm");
  renderConfirm();
}

function renderConfirm() {
  const p = state.pending;
  if (!p) return;
  $("#confirm-question").textContent = p.kind === "reward"
    ? t("confirm_reward", { title: p.title, cost: p.cost })
    : t("confirm_coupon", { title: p.title });
}

async function confirmPending() {
  const p = state.pending;
  if (!p) return;
  state.pending = null;
  show("checking");
  const res = p.kind === "reward"
    ? await api("POST", "/api/member/redeem-points", { body: { reward_id: p.id }, member: state.memberToken })
    : await api("POST", "/api/member/redeem-coupon", { body: { coupon_id: p.id }, member: state.memberToken });
  if (!res.ok) {
    sessionOver(res.data);
    return;
  }
  state.tap = res.data;
  show("result");
  renderResult();
  setTimer("result", state.config.result_display_s, goIdle);
}

function cancelPending() {
  const p = state.pending;
  state.pending = null;
  if (p && p.kind === "coupon") {
    show("coupons");
    renderCoupons();
  } else {
    show("rewards");
    renderRewards();
  }
}

async function memberDone() {
  const token = state.memberToken;
  goIdle();
  if (token) await api("POST", "/api/member/done", { member: token });
}

// --- staff: PIN -------------------------------------------------------------------------------------

function openStaff() {
  for (const name of ["result", "session"]) clearTimer(name);
  if (state.staff) {
    show("staff");
    switchTab(state.staffTab);
    touchStaff();
    return;
  }
  state.pin = "";
  $("#pin-error").hidden = true;
  show("pin");
  renderPin();
  setTimer("pin", 30, () => { if (state.view === "pin") goIdle(); });
}

function renderPin() {
  $("#pin-dots").textContent = state.pin ? "●".repeat(state.pin.length) : "—";
  const pad = $("#pin-pad");
  if (pad.childElementCount === 0) {
    for (const key of ["1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "ok"]) {
      pad.append(el("button", {
        class: "key" + (key === "ok" ? " ok" : ""), type: "button", "data-key": key,
        onclick: () => pinKey(key),
      }));
    }
  }
  for (const button of pad.children) {
    const key = button.dataset.key;
    button.textContent = key === "clear" ? t("pin_clear") : key === "ok" ? t("pin_ok") : key;
  }
}

async function pinKey(key) {
  setTimer("pin", 30, () => { if (state.view === "pin") goIdle(); });
  if (key === "clear") {
    state.pin = "";
  } else if (key === "ok") {
    const pin = state.pin;
    state.pin = "";
    renderPin();
    const res = await api("POST", "/api/staff/login", { body: { pin } });
    if (res.ok) {
      clearTimer("pin");
      enterStaff(res.data);
      return;
    }
    const error = $("#pin-error");
    error.textContent = res.status === 429
      ? bilingual(res.data.message_zh, res.data.message_en)
      : t("wrong_pin");
    error.hidden = false;
  } else if (state.pin.length < 12) {
    state.pin += key;
  }
  renderPin();
}

function enterStaff(login) {
  state.staff = { token: login.token, staff_id: login.staff_id };
  state.config.staff_idle_s = login.idle_s || state.config.staff_idle_s;
  state.staffMember = null;
  state.staffPending = null;
  show("staff");
  switchTab("member");
  touchStaff();
}

function touchStaff() {
  if (!state.staff) return;
  setTimer("staff", state.config.staff_idle_s, () => exitStaff());
}

async function exitStaff(notice) {
  const staff = state.staff;
  state.staff = null;
  state.staffMember = null;
  clearTimer("staff");
  clearTimer("sync");
  goIdle();
  if (staff) await api("POST", "/api/staff/logout", { staff: staff.token });
}

async function staffApi(method, path, body) {
  if (!state.staff) return { ok: false, status: 401, data: {} };
  touchStaff();
  const res = await api(method, path, { body, staff: state.staff.token });
  if (res.status === 401) {
    state.staff = null;
    goIdle();
  }
  return res;
}

function staffNotice(text, kind) {
  const notice = $("#staff-notice");
  notice.textContent = text;
  notice.className = "staff-notice " + (kind || "");
  notice.hidden = !text;
}

// --- staff: tabs -----------------------------------------------------------------------------------

function switchTab(name) {
  state.staffTab = name;
  clearTimer("sync");
  for (const tab of $$(".tab[data-tab]")) tab.classList.toggle("active", tab.dataset.tab === name);
  for (const panel of $$(".tabpanel")) panel.hidden = panel.dataset.panel !== name;
  staffNotice("");
  if (name === "undo") loadRecent();
  if (name === "roster") loadRoster();
  if (name === "sync") loadSync();
  if (name === "member") renderStaffMember();
}

function renderStaff() {
  switchTab(state.staffTab);
}

function renderKeys() {
  const keys = $("#lookup-keys");
  keys.replaceChildren();
  const rows = ["1234567890", "QWERTYUIOP", "ASDFGHJKL-", "ZXCVBNM_.⌫"];
  for (const row of rows) {
    const line = el("div", { class: "keyrow" });
    for (const ch of row) {
      const label = /[A-Z]/.test(ch) && !state.shift ? ch.toLowerCase() : ch;
      line.append(el("button", { class: "key small", type: "button", onclick: () => lookupKey(label) }, label));
    }
    if (row === rows[3]) {
      line.append(el("button", { class: "key small", type: "button", onclick: () => { state.shift = !state.shift; renderKeys(); } }, "⇧"));
    }
    keys.append(line);
  }
}

function lookupKey(ch) {
  const input = $("#lookup-id");
  input.value = ch === "⌫" ? input.value.slice(0, -1) : input.value + ch;
  touchStaff();
}

async function lookupMember(memberId) {
  const id = (memberId || $("#lookup-id").value).trim();
  if (!id) return;
  const res = await staffApi("GET", "/api/staff/member/" + encodeURIComponent(id));
  if (!res.ok) {
    state.staffMember = null;
    renderStaffMember();
    staffNotice(bilingual(res.data.message_zh, res.data.message_en) || String(res.status), "bad");
    return;
  }
  state.staffMember = res.data;
  state.staffPending = null;
  staffNotice("");
  renderStaffMember();
}

async function lookupByCard() {
  const res = await staffApi("POST", "/api/staff/lookup-card");
  if (res.ok) staffNotice(t("waiting_for_card"));
}

function onStaffLookup(data) {
  if (!state.staff || state.view !== "staff") return;
  if (state.staffTab !== "member") switchTab("member");
  if (data.member_id) {
    $("#lookup-id").value = data.member_id;
    lookupMember(data.member_id);
  } else {
    staffNotice(t("card_not_member"), "bad");
  }
}

function renderStaffMember() {
  const box = $("#staff-member");
  const m = state.staffMember;
  $("#lookup-keys").hidden = !!m; // the keyboard makes room for the member once found
  box.hidden = !m;
  box.replaceChildren();
  if (!m) return;
  box.append(el("div", { class: "member-head" },
    el("span", { class: "name", id: "staff-member-name", text: m.member.display_name }),
    el("span", { class: "muted", text: t("member_id") + " " + m.member_id }),
    el("span", { class: "muted", text: bilingual(m.member.tier_title_zh, m.member.tier_title_en) }),
    el("span", { text: t("points_balance") + " " }, el("b", { id: "staff-member-balance", text: String(m.member.points_balance) })),
    el("span", { text: t("stored_value") + " " }, el("b", { id: "staff-member-stored-value", text: yuan(m.member.stored_value_fen) }))));
  for (const p of m.passes) {
    const left = p.sessions_left === null ? t("time_pass") : t("sessions_unit", { n: p.sessions_left });
    box.append(el("div", { class: "row" }, el("span", { text: p.name }),
      el("span", { text: t("sessions_left") + " " + left }),
      el("span", { class: "muted", text: p.starts_by
        ? t("pass_not_started", { date: p.starts_by })
        : t("pass_valid_until") + " " + (p.valid_until || "") })));
  }
  if (state.staffPending) {
    const p = state.staffPending;
    const question = p.kind === "reward"
      ? t("confirm_reward", { title: p.title, cost: p.cost })
      : p.kind === "charge"
        ? t("confirm_charge", { amount: (p.amount_fen / 100).toFixed(2) })
        : t("confirm_coupon", { title: p.title });
    box.append(el("div", { class: "confirmbar" }, el("span", { text: question }),
      el("button", { class: "btn", id: "staff-confirm", type: "button", onclick: staffConfirm }, t("confirm")),
      el("button", { class: "btn secondary", type: "button", onclick: () => { state.staffPending = null; renderStaffMember(); } }, t("cancel"))));
  }
  const rewards = el("div", { class: "grid" });
  for (const r of m.rewards) {
    const title = bilingual(r.title_zh, r.title_en);
    rewards.append(el("button", {
      class: "btn choice-small", type: "button", "data-staff-reward": r.reward_id, disabled: !r.affordable,
      onclick: () => { state.staffPending = { kind: "reward", id: r.reward_id, title, cost: r.points_cost }; renderStaffMember(); },
    }, title + " · " + t("points_cost", { cost: r.points_cost })));
  }
  box.append(el("p", { class: "subhead small", text: t("redeem_for_member") }), rewards);
  const coupons = el("div", { class: "grid" });
  for (const c of m.coupons) {
    coupons.append(el("button", {
      class: "btn choice-small", type: "button", "data-staff-coupon": c.coupon_id, disabled: !c.usable,
      onclick: () => { state.staffPending = { kind: "coupon", id: c.coupon_id, title: c.title }; renderStaffMember(); },
    }, t("use_coupon") + " " + c.title + " · " + bilingual(c.kind_zh, c.kind_en)));
  }
  if (m.coupons.length) box.append(el("p", { class: "subhead small", text: t("my_coupons") }), coupons);
  // The charge keypad: an amount in yuan, confirmed like a redemption.
  const amount = el("input", { id: "staff-charge-amount", type: "number", min: "0.01", step: "0.01", inputmode: "decimal" });
  box.append(el("p", { class: "subhead small", text: t("charge_stored_value") }),
    el("div", { class: "row" }, el("label", { for: "staff-charge-amount", text: t("charge_amount") }), amount,
      el("button", {
        class: "btn choice-small", id: "staff-charge", type: "button",
        onclick: () => {
          const fen = Math.round(Number(amount.value) * 100);
          if (!Number.isFinite(fen) || fen < 1) return;
          state.staffPending = { kind: "charge", amount_fen: fen };
          renderStaffMember();
        },
      }, t("charge_stored_value"))));
}

async function staffConfirm() {
  const p = state.staffPending;
  const m = state.staffMember;
  if (!p || !m) return;
  state.staffPending = null;
  staffNotice(t("checking"));
  const res = p.kind === "reward"
    ? await staffApi("POST", "/api/staff/redeem-points", { member_id: m.member_id, reward_id: p.id })
    : p.kind === "charge"
      ? await staffApi("POST", "/api/staff/charge", { member_id: m.member_id, amount_fen: p.amount_fen })
      : await staffApi("POST", "/api/staff/redeem-coupon", { member_id: m.member_id, coupon_id: p.id });
  if (!res.ok) {
    staffNotice(bilingual(res.data.message_zh, res.data.message_en) || String(res.status), "bad");
    return;
  }
  const view = res.data;
  await lookupMember(m.member_id);
  if (view.outcome === "accepted") {
    const balance = p.kind === "charge"
      ? t("stored_value") + " " + yuan(view.member.stored_value_fen)
      : t("points_balance") + " " + view.member.points_balance;
    staffNotice(headline(view) + " · " + balance, "good");
  } else {
    staffNotice(bilingual(view.message_zh, view.message_en), "bad");
  }
}

async function loadRecent() {
  const res = await staffApi("GET", "/api/staff/recent");
  const list = $("#recent-list");
  list.replaceChildren();
  if (!res.ok) return;
  if (res.data.events.length === 0) list.append(el("p", { class: "empty", text: t("no_recent") }));
  for (const e of res.data.events) {
    const status = e.reversed ? t("undone") : e.undoable ? null : t("not_undoable");
    list.append(el("div", { class: "row", "data-event": e.event_id, "data-kind": e.kind },
      el("span", { class: "muted", text: e.at || "" }),
      el("span", { class: "name", text: e.display_name || e.member_id || "" }),
      el("span", { class: "what", text: bilingual(e.what_zh, e.what_en) }),
      status
        ? el("span", { class: "muted", text: status })
        : el("button", { class: "btn undo", type: "button", onclick: () => undoEvent(e.event_id) }, t("undo"))));
  }
}

async function undoEvent(eventId) {
  const res = await staffApi("POST", "/api/staff/undo", { event_id: eventId });
  if (!res.ok) {
    staffNotice(bilingual(res.data.message_zh, res.data.message_en) || String(res.status), "bad");
    return;
  }
  const view = res.data;
  if (view.outcome === "accepted") {
    staffNotice(t("reversed") + " · " + (view.member ? view.member.display_name + " · " + t("points_balance") + " " + view.member.points_balance : ""), "good");
  } else {
    staffNotice(bilingual(view.message_zh, view.message_en), "bad");
  }
  loadRecent();
}

async function loadRoster() {
  const res = await staffApi("GET", "/api/staff/roster");
  const list = $("#roster-list");
  list.replaceChildren();
  if (!res.ok) return;
  if (res.data.classes.length === 0) list.append(el("p", { class: "empty", text: t("no_classes") }));
  for (const c of res.data.classes) {
    const names = el("div", { class: "names" });
    if (c.signed_in.length === 0) names.append(el("span", { class: "muted", text: t("nobody_yet") }));
    for (const s of c.signed_in) {
      const where = s.station_id ? " · " + t("at_station", { station: s.station_id }) : "";
      names.append(el("span", { class: "student", "data-member": s.member_id, "data-station": s.station_id || "", text: s.display_name + " " + (s.at || "") + where }));
    }
    if (c.booked_absent && c.booked_absent.length) {
      const key = c.signin_over ? "no_shows" : "booked_waiting";
      names.append(el("span", { class: "muted booked-absent", "data-kind": key,
        text: t(key, { names: c.booked_absent.map((b) => b.display_name).join("、") }) }));
    }
    const count = t("signed_in_count", { n: c.signed_in.length }) + (c.capacity ? " / " + c.capacity : "");
    list.append(el("div", { class: "class-block", "data-class": c.class_session_id },
      el("div", { class: "row" },
        el("span", { class: "name", text: bilingual(c.title_zh, c.title_en) }),
        el("span", { text: (c.starts || "") + "–" + (c.ends || "") }),
        el("span", { class: "count", text: count }),
        el("span", { class: c.signin_open ? "good" : "muted", text: c.signin_open ? t("signin_open") : t("signin_closed") })),
      names));
  }
}

function readerText(r) {
  if (!r) return t("reader_disabled");
  const label = t("reader_" + r.state);
  return r.detail ? label + " (" + r.detail + ")" : label;
}

async function loadSync() {
  const res = await staffApi("GET", "/api/staff/sync");
  const table = $("#sync-table");
  if (!res.ok) return;
  const s = res.data;
  const yes = (v) => (v ? t("yes") : t("no"));
  const rows = [
    ["sync_online", yes(s.online), "sync-online"],
    ["sync_connected", yes(s.connected), "sync-connected"],
    ["sync_offline_since", s.offline_since || "—"],
    ["sync_outbox", s.outbox_depth, "sync-outbox"],
    ["sync_oldest", s.oldest_unacked_age_s === null ? "—" : s.oldest_unacked_age_s],
    ["sync_seq", s.last_seq + " / " + s.acked_seq + " / " + s.confirmed_seq],
    ["sync_versions", s.versions.rules + " / " + s.versions.members + " / " + s.versions.deny, "sync-versions"],
    ["sync_members", s.members],
    ["sync_unconfirmed", s.unconfirmed_sessions + " / " + s.unconfirmed_points],
    ["sync_last_ack", s.last_ack || "—"],
    ["sync_nfc", readerText(s.nfc), "sync-nfc"],
    ["sync_camera", readerText(s.camera)],
    ["sync_taps", s.taps_accepted + " / " + s.taps_refused],
    ["sync_last_tap", s.last_good_tap || "—"],
    ["sync_software", s.software_version + " · " + s.kiosk_id + " @ " + s.store_id],
  ];
  table.replaceChildren(...rows.map(([key, value, id]) =>
    el("tr", {}, el("th", { text: t(key) }), el("td", { id: id || null, text: String(value) }))));
  if (state.staffTab === "sync" && state.view === "staff") setTimer("sync", 2, loadSync);
}

// --- events -------------------------------------------------------------------------------------------

function connectEvents() {
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => { $("#sse-indicator").hidden = true; });
  source.addEventListener("error", () => { $("#sse-indicator").hidden = false; });
  source.addEventListener("status", (e) => {
    state.status = JSON.parse(e.data);
    renderStatus();
  });
  source.addEventListener("tap", (e) => onTap(JSON.parse(e.data)));
  source.addEventListener("roster", () => {
    if (state.view === "staff" && state.staffTab === "roster") loadRoster();
  });
  source.addEventListener("staff_login", (e) => enterStaff(JSON.parse(e.data)));
  source.addEventListener("staff_lookup", (e) => onStaffLookup(JSON.parse(e.data)));
  window.kioskEvents = source;
}

async function init() {
  const res = await api("GET", "/api/config");
  if (res.ok) Object.assign(state.config, res.data);
  $("#store-label").textContent = state.config.store_id ? state.config.store_id + " · " + state.config.kiosk_id : "";
  state.lang = state.config.default_lang === "en" ? "en" : "zh";
  applyI18n();
  renderKeys();
  $("#lang-toggle").addEventListener("click", () => {
    setLang(other(state.lang));
    if (state.view === "result") memberInteracting();
  });
  $("#staff-button").addEventListener("click", openStaff);
  $("#btn-redeem-points").addEventListener("click", openRewards);
  $("#btn-my-coupons").addEventListener("click", openCoupons);
  $("#btn-done").addEventListener("click", memberDone);
  for (const back of $$(".back")) back.addEventListener("click", () => { show("result"); renderResult(); });
  $("#btn-confirm").addEventListener("click", confirmPending);
  $("#btn-cancel").addEventListener("click", cancelPending);
  $("#staff-exit").addEventListener("click", () => exitStaff());
  for (const tab of $$(".tab[data-tab]")) tab.addEventListener("click", () => switchTab(tab.dataset.tab));
  $("#lookup-go").addEventListener("click", () => lookupMember());
  $("#lookup-card").addEventListener("click", lookupByCard);
  $("#lookup-id").addEventListener("pointerdown", () => { $("#lookup-keys").hidden = false; });
  document.addEventListener("pointerdown", () => { if (state.view === "staff") touchStaff(); });
  show("idle");
  connectEvents();
  document.body.dataset.ready = "1";
}

init();
