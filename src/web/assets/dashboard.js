'use strict';
// The manager's dashboard: today's figures, the flow, the bar, stock, parts, two charts.
(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const QUARTER = 15 * 60 * 1000;

  function row(cells) {
    const tr = Milo.el('tr');
    for (const c of cells) tr.append(c instanceof Node ? c : Milo.el('td', null, c));
    return tr;
  }
  function tbody(id, rows, empty) {
    const body = document.querySelector('#' + id + ' tbody');
    Milo.fill(body, rows.length ? rows : [row([empty])]);
  }
  function clock(ms) {
    return ms ? new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '–';
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Bars of `values` (one per quarter hour of the day, local time; null: nothing), labels
  // every 3 hours.
  function bars(id, values, unit) {
    const W = 960, H = 200, PAD = 28;
    const max = Math.max(1, ...values.filter((v) => v !== null));
    const box = svg('svg', { viewBox: `0 0 ${W} ${H + PAD}`, role: 'img', class: 'bars' });
    const w = W / values.length;
    values.forEach((v, i) => {
      if (v === null) return;
      const h = Math.max(2, (v / max) * (H - 16));
      const r = svg('rect', { x: i * w + 1, y: H - h, width: Math.max(1, w - 2), height: h });
      r.append(svg('title', {}, `${String(Math.floor(i / 4)).padStart(2, '0')}:${String((i % 4) * 15).padStart(2, '0')} ${v}${unit}`));
      box.append(r);
    });
    for (let hour = 0; hour <= 24; hour += 3) {
      const end = hour === 24 ? { 'text-anchor': 'end' } : {};
      box.append(svg('text', { x: hour * 4 * w, y: H + 24, class: 'axis', ...end }, String(hour)));
    }
    box.append(svg('text', { x: 4, y: 18, class: 'axis' }, 'max ' + max + unit));
    box.append(svg('line', { x1: 0, y1: H, x2: W, y2: H, class: 'base' }));
    Milo.fill(document.getElementById(id), [box]);
  }

  function charts(day) {
    const midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    const count = new Array(96).fill(0);
    const sum = new Array(96).fill(0);
    const made = new Array(96).fill(0);
    for (const [placed, prep] of day) {
      const i = Math.floor((placed - midnight.getTime()) / QUARTER);
      if (i < 0 || i >= 96) continue;
      count[i] += 1;
      if (prep !== null) { sum[i] += prep; made[i] += 1; }
    }
    bars('chart-orders', count.map((c) => c || null), '');
    bars('chart-prep', sum.map((s, i) => (made[i] ? Math.round(s / made[i] / 100) / 10 : null)), ' s');
  }

  function figures(d) {
    const t = d.today || {};
    const total = t.orders ? t.orders.total : 0;
    const orders = document.getElementById('orders-today');
    orders.textContent = total;
    orders.dataset.value = total;
    const revenue = document.getElementById('revenue-today');
    revenue.textContent = Milo.money(t.revenue_cents);
    revenue.dataset.value = t.revenue_cents || 0;
    document.getElementById('in-flight-count').textContent = d.in_flight.length;
    const dl = document.getElementById('dead-letters');
    dl.textContent = d.dead_letters;
    dl.classList.toggle('alert', d.dead_letters > 0);
  }

  function stations(d) {
    tbody('stations', d.stations.map((s) => {
      const t = s.telemetry;
      const state = Milo.el('td', 'mstate ' + (t ? t.state : ''), t ? t.state + (t.fault ? ': ' + t.fault : '') : (s.presence || 'unknown'));
      const machine = t ? `${t.boiler_c.toFixed(0)} °C · water ${t.water_ml} · beans ${t.beans_g} · milk ${t.milk_ml}` : '–';
      const link = Milo.el('a', null, s.station);
      link.href = '/bar/' + encodeURIComponent(s.station);
      const name = Milo.el('td');
      name.append(link);
      return row([name, state, s.queue, clock(s.eta_ms), machine]);
    }), 'no station');
  }

  function stock(d) {
    const a = d.stock || { stock: {}, low: [], out: [], items: {} };
    tbody('stock', Object.entries(a.stock).map(([ing, left]) => {
      const flag = a.out.includes(ing) ? 'OUT' : (a.low.includes(ing) ? 'LOW' : '');
      const tr = row([ing, left, flag]);
      if (flag) tr.className = flag.toLowerCase();
      return tr;
    }), 'no stock report yet');
    const gone = Object.entries(a.items || {}).filter(([, v]) => !v.available);
    Milo.fill(document.getElementById('eighty-sixed'), gone.length
      ? gone.map(([item, v]) => Milo.el('li', 'out', item + (v.reason ? ' — ' + v.reason : '')))
      : [Milo.el('li', null, 'everything can be sold')]);
  }

  // The card processor (the retained payments/gateway) and the charges it declined after
  // they were authorized offline: the drink was made, the money was not taken.
  function cards(d) {
    const c = d.cards || {};
    const note = document.getElementById('cards');
    note.textContent = c.note || '–';
    note.dataset.state = c.state || '';
    note.classList.toggle('alert', !!c.offline);
    const dec = d.declined_offline || { count: null, list: [] };
    const count = document.getElementById('declined-offline-count');
    count.textContent = dec.count === null ? '' : '(' + dec.count + ')';
    count.dataset.value = dec.count === null ? '' : dec.count;
    tbody('declined-offline', dec.list.map((x) => {
      const tr = row([x.no, Milo.money(x.amount_cents), x.customer || '', x.reason, x.at ? clock(Date.parse(x.at)) : '–']);
      tr.dataset.order = x.order_id;
      tr.className = 'declined';
      return tr;
    }), 'none');
  }

  // While the broker is unreachable, presence is as last seen: say so, dimmed.
  function parts(d) {
    const up = d.broker === 'connected';
    const broker = Milo.el('li', up ? 'online' : 'offline', 'broker: ' + d.broker);
    broker.id = 'broker';
    const all = Object.entries(d.services).concat(Object.entries(d.devices));
    Milo.fill(document.getElementById('parts'), [broker].concat(all.map(([name, state]) =>
      Milo.el('li', (state === 'online' ? 'online' : 'offline') + (up ? '' : ' stale'),
        name + ': ' + state + (up ? '' : ' (last seen)')))));
  }

  Milo.stream('/events', (d) => {
    figures(d);
    tbody('in-flight', d.in_flight.map((o) =>
      row([o.no, o.customer || '', o.status, Milo.money(o.total_cents), clock(o.since_ms)])), 'none');
    stations(d);
    stock(d);
    parts(d);
    cards(d);
    charts(d.day);
  });
})();
