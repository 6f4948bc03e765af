'use strict';
// The pickup board: a newly ready order is highlighted for a few seconds.
(() => {
  const HIGHLIGHT_MS = 8000;
  const readySince = new Map();
  let first = true;
  let last = { preparing: [], ready: [] };

  function entry(o, state) {
    const li = Milo.el('li', 'order ' + state);
    li.dataset.no = o.no;
    li.dataset.state = state;
    li.append(Milo.el('span', 'name', o.name || o.no));
    if (o.name) li.append(Milo.el('span', 'no', o.no));
    const since = readySince.get(o.no);
    if (state === 'ready' && since && Date.now() - since < HIGHLIGHT_MS) li.classList.add('new');
    return li;
  }

  function draw() {
    Milo.fill(document.getElementById('ready'), last.ready.map((o) => entry(o, 'ready')));
    Milo.fill(document.getElementById('preparing'), last.preparing.map((o) => entry(o, 'preparing')));
  }

  Milo.stream('/board/events', (doc) => {
    const now = Date.now();
    const ready = new Set(doc.ready.map((o) => o.no));
    for (const no of readySince.keys()) if (!ready.has(no)) readySince.delete(no);
    for (const no of ready) if (!readySince.has(no)) readySince.set(no, first ? 0 : now);
    first = false;
    last = doc;
    draw();
    setTimeout(draw, HIGHLIGHT_MS + 50);
  });
})();
