// The member's phone card: a QR code that keeps working with no signal.
//
// First visit: make an Ed25519 key pair with WebCrypto (private key not extractable, kept
// in IndexedDB), register the public key with the coordinator, then sign a short-lived
// "TF2" code every few seconds on the phone itself (shared/phonecode.py says the format).
// Without Ed25519 in WebCrypto, or when registering fails, the page falls back to the
// coordinator-signed "TF1" token, fetched while online (see docs/phonecard.md).
'use strict';

(function () {
  const cfg = JSON.parse(document.getElementById('card-config').textContent);
  const DB = 'tapfleet-card';
  const STORE = 'keys';
  const enc = new TextEncoder();
  let device = null;       // {device_id, member_id, ttl, refresh, key}
  let timer = null;

  function b64url(bytes) {
    let s = '';
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function field(text) {
    const raw = enc.encode(text);
    const out = new Uint8Array(raw.length + 1);
    out[0] = raw.length;
    out.set(raw, 1);
    return out;
  }

  function uint48(value) {
    const out = new Uint8Array(6);
    let v = value;
    for (let i = 5; i >= 0; i--) { out[i] = v % 256; v = Math.floor(v / 256); }
    return out;
  }

  function concat(parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  function idb(mode, fn) {
    return new Promise((resolve, reject) => {
      const open = indexedDB.open(DB, 1);
      open.onupgradeneeded = () => open.result.createObjectStore(STORE);
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const tx = open.result.transaction(STORE, mode);
        const req = fn(tx.objectStore(STORE));
        tx.oncomplete = () => { open.result.close(); resolve(req.result); };
        tx.onerror = () => { open.result.close(); reject(tx.error); };
      };
    });
  }

  function drawQr(text) {
    const qr = qrcode(0, 'L');
    qr.addData(text, 'Byte');
    qr.make();
    const n = qr.getModuleCount();
    const side = n + 8;  // 4-module quiet zone each side
    let d = '';
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) {
        if (qr.isDark(r, c)) d += 'M' + (c + 4) + ' ' + (r + 4) + 'h1v1h-1z';
      }
    }
    document.getElementById('qr').innerHTML =
      '<svg viewBox="0 0 ' + side + ' ' + side + '" class="phone-signed" ' +
      'shape-rendering="crispEdges"><path fill="#fff" d="M0 0h' + side + 'v' + side +
      'h-' + side + 'z"/><path fill="#000" d="' + d + '"/></svg>';
  }

  async function signCode() {
    const now = Date.now();
    const nonce = b64url(crypto.getRandomValues(new Uint8Array(12)));
    const payload = concat([
      uint48(now), uint48(now + device.ttl * 1000),
      field(device.device_id), field(device.member_id), field(nonce),
    ]);
    const signed = 'TF2.' + b64url(payload);
    const sig = new Uint8Array(
      await crypto.subtle.sign({name: 'Ed25519'}, device.key, enc.encode(signed)));
    return signed + '.' + b64url(sig);
  }

  async function showPhoneCode() {
    try {
      drawQr(await signCode());
      document.body.dataset.code = 'phone';
    } catch (err) {
      console.warn('could not sign a code on the phone', err);
      device = null;
      document.body.dataset.code = 'server';
    }
  }

  async function register(publicKey) {
    const r = await fetch('/api/v1/member/devices', {
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({
        link: cfg.link, public_key: publicKey, user_agent: navigator.userAgent.slice(0, 200),
      }),
    });
    const body = await r.json().catch(() => ({}));
    return r.ok ? {device: body} : {error: (body.error && body.error.code) || 'failed'};
  }

  async function loadDevice() {
    const stored = await idb('readonly', (s) => s.get(cfg.member_key)).catch(() => undefined);
    if (stored && stored.revoked) {
      // Staff removed this phone: it never signs again; online codes still work.
      document.getElementById('left').textContent = t('removed');
      return null;
    }
    if (stored && stored.key) {
      if (navigator.onLine && stored.public_key) {
        const check = await register(stored.public_key).catch(() => ({}));
        if (check.error === 'device_key_in_use') {
          await idb('readwrite', (s) => s.put({revoked: true}, cfg.member_key));
          document.getElementById('left').textContent = t('removed');
          return null;
        }
      }
      return stored;
    }
    let pair;
    try {
      pair = await crypto.subtle.generateKey({name: 'Ed25519'}, false, ['sign', 'verify']);
    } catch (err) {
      return null;  // no Ed25519 in this browser: coordinator-signed codes only
    }
    const publicKey = b64url(new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey)));
    const answer = await register(publicKey);
    if (!answer.device) {
      if (answer.error === 'too_many_devices') {
        document.getElementById('left').textContent = t('too_many');
      }
      return null;
    }
    const d = answer.device;
    const record = {
      device_id: d.device_id, member_id: d.member_id, ttl: d.code_ttl_s, refresh: d.refresh_s,
      key: pair.privateKey, public_key: publicKey,
    };
    await idb('readwrite', (s) => s.put(record, cfg.member_key));
    if (navigator.storage && navigator.storage.persist) navigator.storage.persist();
    return record;
  }

  async function refreshServerToken() {
    try {
      const r = await fetch('/api/v1/member/qr?link=' + encodeURIComponent(cfg.link));
      if (!r.ok) throw new Error('status ' + r.status);
      const token = await r.json();
      drawQr(token.token);
      setTimeout(tick, token.refresh_after_s * 1000);
    } catch (err) {
      document.getElementById('left').textContent = t('reload');
      setTimeout(tick, 5000);
    }
  }

  async function tick() {
    if (device) {
      await showPhoneCode();
      if (device) { timer = setTimeout(tick, device.refresh * 1000); return; }
    }
    await refreshServerToken();
  }

  async function start() {
    try {
      device = await loadDevice();
    } catch (err) {
      console.warn('no device key', err);
      device = null;
    }
    if (device) {
      await showPhoneCode();
      timer = setTimeout(tick, device.refresh * 1000);
    } else {
      document.body.dataset.code = 'server';
      setTimeout(tick, cfg.refresh * 1000);
    }
  }

  // --- language (follows the browser, switchable, remembered) ------------------------------
  const TEXT = {
    zh: {
      show: '请在自助机扫码', brightness: '☀ 请调高屏幕亮度', points: '积分',
      expiring: (n, d) => n > 0 ? n + ' 分将于 ' + d + ' 前到期' : '30 天内无积分到期',
      stored: '储值余额', split: (p, b) => '本金 ' + p + ' · 赠送 ' + b,
      bonus_expiring: (n, d) => n ? '赠送金额 ' + n + ' 将于 ' + d + ' 前到期' : '',
      passes: '卡券 · 次卡', coupons: '优惠券', visits: '最近到店',
      none: '暂无', sessions: (n) => '剩余 ' + n + ' 次', unlimited: '不限次数',
      until: (d) => '有效期至 ' + d, frozen: '已冻结',
      not_started: (n, d) => '未开卡 — 首次到店时开始计算（' + n + ' 天），最晚 ' + d + ' 自动开始',
      next: (n, t) => '再积 ' + n + ' 分升级为' + t, top: '已是最高等级',
      next_spend: (n, t) => '再消费 ' + n + ' 升级为' + t,
      next_topups: (n, t) => '再充值 ' + n + ' 升级为' + t,
      checkin: '签到', class_signin: '课程签到',
      updated: (d) => '离线 · 最后更新于 ' + d, other: 'EN', reload: '请刷新页面',
      too_many: '这个会员已绑定 3 部手机：此手机显示在线会员码；可到前台移除旧手机。',
      removed: '这部手机已从会员账户移除：联网时显示在线会员码。',
      classes: '课程预约', my_bookings: '我的预约', upcoming: '近期课程',
      classes_offline: '离线中：联网后可预约或取消课程。',
      seats: (n) => '剩余 ' + n + ' 个名额', full: '已满',
      book: '预约', join_waitlist: '加入候补', cancel: '取消',
      booked: '已预约', waitlisted: (n) => '候补第 ' + n + ' 位',
      did_book: '预约成功', did_wait: (n) => '已加入候补，第 ' + n + ' 位',
      did_cancel: '已取消', did_late: '已取消（晚于取消截止时间）',
      refused: (m) => '未成功：' + m, no_classes: '近期没有课程',
    },
    en: {
      show: 'Show this code at the kiosk', brightness: '☀ Turn your screen brightness up',
      points: 'Points',
      expiring: (n, d) => n > 0 ? n + ' expire by ' + d : 'none expire in 30 days',
      stored: 'Stored value', split: (p, b) => 'principal ' + p + ' · bonus ' + b,
      bonus_expiring: (n, d) => n ? 'bonus ' + n + ' expires by ' + d : '',
      passes: 'Passes', coupons: 'Coupons', visits: 'Last visits',
      none: 'None', sessions: (n) => n + ' sessions left', unlimited: 'Unlimited entries',
      until: (d) => 'valid until ' + d, frozen: 'frozen',
      not_started: (n, d) => 'not activated — starts at first visit (' + n + ' days), by ' + d
        + ' at the latest',
      next: (n, t) => n + ' more points to ' + t, top: 'Top tier reached',
      next_spend: (n, t) => 'Spend ' + n + ' more to reach ' + t,
      next_topups: (n, t) => 'Top up ' + n + ' more to reach ' + t,
      checkin: 'Check-in', class_signin: 'Class sign-in',
      updated: (d) => 'Offline · last updated ' + d, other: '中文', reload: 'Please reload',
      too_many: 'This membership already has 3 phones: this one shows online codes only. '
        + 'The front desk can remove an old phone.',
      removed: 'This phone was removed from the membership: it shows online codes only.',
      classes: 'Classes', my_bookings: 'My bookings', upcoming: 'Upcoming sessions',
      classes_offline: 'Offline: booking and cancelling need a connection.',
      seats: (n) => n + ' seats left', full: 'Full',
      book: 'Book', join_waitlist: 'Join waitlist', cancel: 'Cancel',
      booked: 'Booked', waitlisted: (n) => 'Waitlist #' + n,
      did_book: 'Booked', did_wait: (n) => 'On the waitlist, #' + n,
      did_cancel: 'Cancelled', did_late: 'Cancelled (after the cut-off)',
      refused: (m) => 'Not done: ' + m, no_classes: 'No sessions coming up',
    },
  };
  const LANG_KEY = 'tapfleet-card-lang';
  let lang = localStorage.getItem(LANG_KEY) ||
    ((navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en');
  let shown = null;  // {data, fetched_ms, cached}
  let classes = null;  // the last GET /api/v1/member/classes answer

  function t(key, ...args) {
    const v = TEXT[lang][key];
    return typeof v === 'function' ? v(...args) : v;
  }

  function applyLang() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
    document.getElementById('lang-switch').textContent = t('other');
    if (shown) renderBalances(shown);
    if (classes) renderClasses();
  }

  document.getElementById('lang-switch').addEventListener('click', () => {
    lang = lang === 'zh' ? 'en' : 'zh';
    localStorage.setItem(LANG_KEY, lang);
    applyLang();
  });

  // --- balances at a glance ----------------------------------------------------------------
  const BALANCE_KEY = 'tapfleet-card-balances:' + cfg.member_key;

  function day(ms, tz) {
    return new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en', {
      timeZone: tz, year: 'numeric', month: 'short', day: 'numeric',
    }).format(new Date(ms));
  }

  function moment(ms, tz) {
    return new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en', {
      timeZone: tz, month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
    }).format(new Date(ms));
  }

  function yuan(fen) {  // integer fen as ¥1,234.50, no float on the way
    const sign = fen < 0 ? '-' : '';
    const abs = Math.abs(fen);
    const whole = Math.floor(abs / 100).toLocaleString('en-US');
    return sign + '¥' + whole + '.' + String(abs % 100).padStart(2, '0');
  }

  function fillList(id, items, line) {
    const ul = document.getElementById(id);
    ul.replaceChildren();
    if (!items.length) {
      const li = document.createElement('li');
      li.textContent = t('none');
      ul.append(li);
    }
    for (const item of items) {
      const li = document.createElement('li');
      li.textContent = line(item);
      ul.append(li);
    }
  }

  function renderBalances(state) {
    const d = state.data;
    const tz = d.timezone;
    document.getElementById('b-points').textContent = String(d.points);
    document.getElementById('b-expiring').textContent =
      t('expiring', d.points_expiring, day(d.expiring_until_ms, tz));
    const sv = d.stored_value;
    document.getElementById('b-stored').textContent = yuan(sv.available_fen);
    document.getElementById('b-stored-split').textContent =
      t('split', yuan(sv.principal_fen), yuan(sv.bonus_fen));
    document.getElementById('b-stored-expiring').textContent = sv.bonus_expiring_fen > 0
      ? t('bonus_expiring', yuan(sv.bonus_expiring_fen), day(d.expiring_until_ms, tz)) : '';
    document.getElementById('b-tier-name').textContent =
      lang === 'zh' ? d.tier.title_zh : d.tier.title_en;
    document.getElementById('b-tier-bar').value = d.tier.progress_pct;
    document.getElementById('b-tier-next').textContent = d.tier.next_at === null
      ? t('top')
      : t(d.tier.basis === 'points' ? 'next' : 'next_' + d.tier.basis,
          d.tier.basis === 'points' ? Math.max(0, d.tier.next_at - d.tier.earned)
            : yuan(Math.max(0, d.tier.next_at - d.tier.earned)),
          lang === 'zh' ? d.tier.next_title_zh : d.tier.next_title_en);
    fillList('b-passes', d.passes, (p) => [
      p.name,
      p.sessions_left === null ? t('unlimited') : t('sessions', p.sessions_left),
      p.activate_by_ms === null || p.activate_by_ms === undefined
        ? t('until', day(p.valid_until_ms, tz)) : t('not_started', p.days, day(p.activate_by_ms, tz)),
      p.frozen ? t('frozen') : '',
    ].filter(Boolean).join(' · '));
    fillList('b-coupons', d.coupons, (c) => [
      c.title, lang === 'zh' ? c.describe_zh : c.describe_en, t('until', day(c.valid_until_ms, tz)),
    ].join(' · '));
    fillList('b-visits', d.visits, (v) => [
      moment(v.at_ms, tz), t(v.kind) || v.kind, v.store_name || v.store_id || '',
    ].filter(Boolean).join(' · '));
    const updated = document.getElementById('b-updated');
    updated.hidden = !state.cached;
    updated.textContent = state.cached ? t('updated', moment(state.fetched_ms, tz)) : '';
    document.getElementById('balances').hidden = false;
    document.body.dataset.balances = state.cached ? 'cached' : 'live';
  }

  async function loadBalances() {
    try {
      const r = await fetch('/api/v1/member/card?link=' + encodeURIComponent(cfg.link));
      if (!r.ok) throw new Error('status ' + r.status);
      shown = {data: await r.json(), fetched_ms: Date.now(), cached: false};
      localStorage.setItem(BALANCE_KEY, JSON.stringify({data: shown.data, fetched_ms: shown.fetched_ms}));
    } catch (err) {
      const saved = localStorage.getItem(BALANCE_KEY);
      if (!saved) return;
      shown = Object.assign(JSON.parse(saved), {cached: true});
    }
    renderBalances(shown);
  }

  // --- classes: book, join the waitlist, cancel (online only) -------------------------------
  let lastMessage = null;  // [kind, key, ...args] so a language switch re-words it

  function say(kind, key, ...args) {
    lastMessage = [kind, key, ...args];
    const el = document.getElementById('c-message');
    el.className = kind;
    el.textContent = t(key, ...args);
    el.hidden = false;
  }

  function sessionLine(s) {
    const tz = shown ? shown.data.timezone : undefined;
    return [lang === 'zh' ? s.title_zh : s.title_en, moment(s.starts_ms, tz), s.coach]
      .filter(Boolean).join(' · ');
  }

  function classRow(s, label, note, action) {
    const li = document.createElement('li');
    li.dataset.session = s.class_session_id;
    const text = document.createElement('span');
    text.textContent = sessionLine(s) + (note ? ' · ' + note : '');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = label;
    button.disabled = !navigator.onLine;
    button.addEventListener('click', () => action(s, button));
    li.append(text, button);
    return li;
  }

  function renderClasses() {
    const offline = !navigator.onLine;
    document.getElementById('c-offline').hidden = !offline;
    document.body.dataset.classes = offline ? 'offline' : 'online';
    if (lastMessage) say(...lastMessage);
    document.getElementById('c-lists').hidden = !classes;
    const mine = document.getElementById('c-mine');
    const list = document.getElementById('c-sessions');
    mine.replaceChildren();
    list.replaceChildren();
    const sessions = classes ? classes.sessions : [];
    for (const s of sessions) {
      if (s.my_status) {
        const note = s.my_status === 'waitlisted' ? t('waitlisted', s.waitlist_position)
          : t('booked');
        mine.append(classRow(s, t('cancel'), note, cancelBooking));
      } else {
        const full = s.seats_left <= 0;
        list.append(classRow(s, t(full ? 'join_waitlist' : 'book'),
          full ? t('full') : t('seats', s.seats_left), bookSession));
      }
    }
    for (const [ul, empty] of [[mine, 'none'], [list, 'no_classes']]) {
      if (!ul.children.length) {
        const li = document.createElement('li');
        li.textContent = t(empty);
        ul.append(li);
      }
    }
    for (const b of document.querySelectorAll('#classes button')) b.disabled = offline;
    document.getElementById('classes').hidden = false;
  }

  async function classCall(method, path, body) {
    const r = await fetch(path, {
      method,
      headers: body ? {'Content-Type': 'application/json'} : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const answer = await r.json().catch(() => ({}));
    if (!r.ok) {
      throw new Error((answer.error && answer.error.message) || ('HTTP ' + r.status));
    }
    return answer;
  }

  async function bookSession(s, button) {
    button.disabled = true;
    try {
      const b = await classCall('POST', '/api/v1/member/bookings?link=' +
        encodeURIComponent(cfg.link), {store_id: cfg.store_id, class_session_id: s.class_session_id});
      if (b.status === 'waitlisted') say('done', 'did_wait', b.waitlist_position);
      else say('done', 'did_book');
    } catch (err) {
      say('refused', 'refused', err.message);
    }
    await loadClasses();
  }

  async function cancelBooking(s, button) {
    button.disabled = true;
    try {
      const c = await classCall('DELETE', '/api/v1/member/bookings?' + new URLSearchParams({
        link: cfg.link, store_id: cfg.store_id, class_session_id: s.class_session_id,
      }));
      say('done', c.late ? 'did_late' : 'did_cancel');
    } catch (err) {
      say('refused', 'refused', err.message);
    }
    await loadClasses();
  }

  async function loadClasses() {
    if (!cfg.store_id) return;  // no home store: no class list to offer
    if (navigator.onLine) {
      try {
        classes = await classCall('GET', '/api/v1/member/classes?' + new URLSearchParams({
          link: cfg.link, store_id: cfg.store_id,
        }));
      } catch (err) {
        console.warn('no class list', err);
        if (!classes) return;
      }
    }
    renderClasses();  // offline: the last list with its buttons disabled, or just the note
  }

  window.addEventListener('online', loadClasses);
  window.addEventListener('offline', () => { if (classes) renderClasses(); });

  function installOffline() {
    if (!('serviceWorker' in navigator)) return;
    navigator.serviceWorker.register('/m/sw.js', {scope: '/m/'})
      .then(() => navigator.serviceWorker.ready)
      // The page's own first load came before the worker: keep a copy for offline opens.
      .then(() => caches.open('tapfleet-card-v1'))
      .then((cache) => (navigator.onLine ? cache.add(location.href) : null))
      .then(() => { document.body.dataset.offlineReady = '1'; })
      .catch((err) => console.warn('no offline copy of the card', err));
  }

  applyLang();
  installOffline();
  loadBalances();
  setInterval(loadBalances, 60000);
  loadClasses();
  start();
})();
