'use strict';
// Shared by the three screens: elements built with textContent only (names come from
// customers), the live stream, the optional bearer token, money.
const Milo = {
  el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  },
  fill(node, children) {
    node.replaceChildren(...children);
  },
  // Opens the screen's event stream; EventSource reconnects by itself, and every connect
  // starts with a whole snapshot.
  stream(path, onSnapshot) {
    const conn = document.getElementById('conn');
    const es = new EventSource(path);
    es.addEventListener('snapshot', (e) => {
      if (conn) { conn.className = 'conn live'; conn.textContent = 'live'; }
      onSnapshot(JSON.parse(e.data));
    });
    es.onerror = () => {
      if (conn) { conn.className = 'conn down'; conn.textContent = 'reconnecting…'; }
    };
    return es;
  },
  // A token given once as ?token=... is kept for this tab only and taken out of the address.
  token() {
    const url = new URL(window.location.href);
    const given = url.searchParams.get('token');
    if (given) {
      sessionStorage.setItem('milo-token', given);
      url.searchParams.delete('token');
      history.replaceState(null, '', url.pathname + url.search);
    }
    return sessionStorage.getItem('milo-token');
  },
  async post(path) {
    const headers = {};
    const token = Milo.token();
    if (token) headers.Authorization = 'Bearer ' + token;
    const r = await fetch(path, { method: 'POST', headers });
    let body = {};
    try { body = await r.json(); } catch (_) { /* no body */ }
    return { ok: r.ok, status: r.status, body };
  },
  money(cents) {
    const n = Number(cents || 0);
    return (n < 0 ? '-' : '') + (Math.abs(n) / 100).toFixed(2);
  },
  secs(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
  },
};
