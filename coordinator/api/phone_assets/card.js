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

  async function loadDevice() {
    const stored = await idb('readonly', (s) => s.get(cfg.member_key)).catch(() => undefined);
    if (stored && stored.key) return stored;
    let pair;
    try {
      pair = await crypto.subtle.generateKey({name: 'Ed25519'}, false, ['sign', 'verify']);
    } catch (err) {
      return null;  // no Ed25519 in this browser: coordinator-signed codes only
    }
    const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
    const r = await fetch('/api/v1/member/devices', {
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({
        link: cfg.link, public_key: b64url(raw), user_agent: navigator.userAgent.slice(0, 200),
      }),
    });
    if (!r.ok) return null;
    const d = await r.json();
    const record = {
      device_id: d.device_id, member_id: d.member_id, ttl: d.code_ttl_s, refresh: d.refresh_s,
      key: pair.privateKey,
    };
    await idb('readwrite', (s) => s.put(record, cfg.member_key));
    if (navigator.storage && navigator.storage.persist) navigator.storage.persist();
    return record;
  }

  async function refreshServerToken() {
    try {
      const r = await fetch('/api/v1/member/qr?link=' + encodeURIComponent(cfg.link));
      if (!r.ok) throw new Error('status ' + r.status);
      const t = await r.json();
      drawQr(t.token);
      setTimeout(tick, t.refresh_after_s * 1000);
    } catch (err) {
      document.getElementById('left').textContent = cfg.text.reload;
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

  installOffline();
  start();
})();
