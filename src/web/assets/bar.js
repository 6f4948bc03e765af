'use strict';
// The bar's tablet: the station's queue with ticket ages, its machine, Bump and Recall.
(() => {
  const station = decodeURIComponent(window.location.pathname.split('/')[2] || '');
  const base = '/bar/' + encodeURIComponent(station);
  let doc = null;
  let skew = 0; // server clock minus this one
  Milo.token();
  document.getElementById('station').textContent = station;
  document.title = 'Bar ' + station;

  function drink(l) {
    const parts = [(l.qty > 1 ? l.qty + '× ' : '') + l.item, l.size];
    if (l.milk) parts.push(l.milk);
    for (const m of l.modifiers || []) parts.push(m);
    return parts.join(' · ');
  }

  function ticket(t) {
    const li = Milo.el('li', 'ticket ' + t.state);
    li.dataset.no = t.no;
    li.dataset.state = t.state;
    const head = Milo.el('div', 'head');
    head.append(Milo.el('span', 'no', t.no), Milo.el('span', 'who', t.customer),
      Milo.el('span', 'state', t.state), Milo.el('span', 'age'));
    li.dataset.queued = t.queued_ms;
    const lines = Milo.el('ul', 'lines');
    for (const l of t.lines) lines.append(Milo.el('li', null, drink(l)));
    li.append(head, lines);
    return li;
  }

  function ages() {
    if (!doc) return;
    const now = Date.now() + skew;
    for (const li of document.querySelectorAll('#queue > li.ticket')) {
      const age = now - Number(li.dataset.queued);
      li.querySelector('.age').textContent = Milo.secs(age);
      li.classList.toggle('warn', age >= doc.warn_secs * 1000 && age < doc.late_secs * 1000);
      li.classList.toggle('late', age >= doc.late_secs * 1000);
    }
  }

  function machine(d) {
    const box = document.getElementById('machine');
    const t = d.telemetry;
    const kids = [Milo.el('span', 'presence ' + (d.presence || 'unknown'), d.presence || 'unknown')];
    if (t) {
      kids.push(Milo.el('span', 'mstate ' + t.state, t.state));
      if (t.fault) kids.push(Milo.el('span', 'fault', t.fault));
      kids.push(Milo.el('span', 'level', t.boiler_c.toFixed(0) + ' °C'),
        Milo.el('span', 'level', 'water ' + t.water_ml + ' ml'),
        Milo.el('span', 'level', 'beans ' + t.beans_g + ' g'),
        Milo.el('span', 'level', 'milk ' + t.milk_ml + ' ml'));
    } else {
      kids.push(Milo.el('span', 'level', 'no telemetry'));
    }
    Milo.fill(box, kids);
  }

  Milo.stream(base + '/events', (d) => {
    doc = d;
    skew = d.now_ms - Date.now();
    machine(d);
    const q = document.getElementById('queue');
    Milo.fill(q, d.queue.length ? d.queue.map(ticket) : [Milo.el('li', 'empty', 'No tickets')]);
    ages();
  });
  setInterval(ages, 1000);

  for (const what of ['bump', 'recall']) {
    const button = document.getElementById(what);
    button.addEventListener('click', async () => {
      const said = document.getElementById('said');
      button.disabled = true;
      try {
        const r = await Milo.post(base + '/' + what);
        said.textContent = r.ok ? what + ' sent' : (r.body.error || ('error ' + r.status));
        said.className = 'said ' + (r.ok ? 'ok' : 'bad');
      } catch (e) {
        said.textContent = 'cannot reach Milo';
        said.className = 'said bad';
      } finally {
        button.disabled = false;
      }
    });
  }
})();
