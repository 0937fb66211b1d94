// The HQ dashboard. It uses HQ's HTTP API only: /api/events, its summary,
// attendees and import, /api/boxes and /api/session. Every word comes from
// i18n.json (Chinese by default, English). Data is put in the page as text,
// never as markup; the chart is SVG built from the summary's numbers.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const SVGNS = 'http://www.w3.org/2000/svg';
  const REFRESH_MS = 5000;

  const S = {
    lang: 'zh',
    strings: { zh: {}, en: {} },
    events: [],
    event: '',
    tab: 'overview',
    summary: null,
    boxes: [],
    attendees: [],
    clear: false,
    who: null,
    file: null,
  };

  function t(key, vars) {
    let s = (S.strings[S.lang] || {})[key];
    if (s === undefined) s = S.strings.zh[key];
    if (s === undefined) s = key;
    if (vars) s = s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] === undefined ? '' : String(vars[k])));
    return s;
  }
  const has = (key) => Object.prototype.hasOwnProperty.call(S.strings[S.lang] || {}, key);
  const locale = () => (S.lang === 'zh' ? 'zh-CN' : 'en-GB');

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function clearNode(n) {
    while (n.firstChild) n.removeChild(n.firstChild);
  }

  function fmtTime(iso, withDate) {
    const d = new Date(iso);
    if (isNaN(d) || d.getFullYear() < 2000) return '—';
    const opts = withDate ? { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' } : { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
    return new Intl.DateTimeFormat(locale(), opts).format(d);
  }
  function fmtAgo(iso) {
    const ms = Date.now() - new Date(iso).getTime();
    if (!(ms >= 0) || ms < 60000) return t('ago.now');
    const min = Math.floor(ms / 60000);
    if (min < 60) return t('ago.min', { n: min });
    const h = Math.floor(min / 60);
    return h < 48 ? t('ago.hour', { n: h }) : t('ago.day', { n: Math.floor(h / 24) });
  }
  const fmtN = (n) => new Intl.NumberFormat(locale()).format(n || 0);
  const reason = (r) => (has('reason.' + r) ? t('reason.' + r) : r);
  const level = (l) => (has('level.' + l) ? t('level.' + l) : l);
  function gate(g) {
    const m = /^gate-?(\d+)$/i.exec(g || '');
    return m ? t('gate.n', { n: m[1] }) : g || '';
  }

  function toast(msg) {
    const n = $('toast');
    n.textContent = msg;
    n.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => (n.hidden = true), 3500);
  }

  async function api(path, opts) {
    const res = await fetch(path, Object.assign({ credentials: 'same-origin', cache: 'no-store' }, opts || {}));
    let body = null;
    const type = res.headers.get('Content-Type') || '';
    if (type.startsWith('application/json')) body = await res.json();
    if (!res.ok) {
      const err = new Error((body && body.error) || res.statusText);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  // --- words ---------------------------------------------------------------

  function applyLang() {
    document.documentElement.lang = locale();
    for (const n of document.querySelectorAll('[data-i18n]')) n.textContent = t(n.dataset.i18n);
    for (const n of document.querySelectorAll('[data-i18n-placeholder]')) n.placeholder = t(n.dataset.i18nPlaceholder);
    renderWho();
    renderEvents();
    render();
  }

  // --- sign-in ----------------------------------------------------------------

  function renderWho() {
    $('signin').textContent = S.who ? t('signin.as', { who: S.who.actor === 'token' ? t('signin.tokenName') : S.who.actor }) : t('signin.button');
    $('signin').classList.toggle('on', !!S.who);
    const sup = S.who && S.who.role === 'supervisor';
    for (const id of ['zip-link', 'sheet-link', 'clear-toggle']) $(id).classList.toggle('disabled', !sup);
    $('clear-toggle').disabled = !sup;
    $('do-import').disabled = !S.who;
    $('preview').disabled = !S.who;
  }

  async function loadWho() {
    try {
      S.who = await api('/api/session');
    } catch (_) {
      S.who = null;
    }
    renderWho();
  }

  function openLogin() {
    if (S.who) {
      api('/api/session', { method: 'DELETE' }).catch(() => {});
      S.who = null;
      S.clear = false;
      renderWho();
      loadAttendees();
      return;
    }
    $('l-error').textContent = '';
    $('login').hidden = false;
    $('l-operator').focus();
  }

  async function submitLogin(ev) {
    ev.preventDefault();
    const body = $('l-token').value ? { token: $('l-token').value } : { operator: $('l-operator').value, password: $('l-password').value };
    try {
      S.who = await api('/api/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      $('login').hidden = true;
      for (const id of ['l-token', 'l-password']) $(id).value = '';
      renderWho();
      toast(t('signin.done'));
    } catch (e) {
      $('l-error').textContent = t('signin.wrong');
    }
  }

  // --- events -----------------------------------------------------------------

  function renderEvents() {
    const sel = $('event');
    clearNode(sel);
    for (const e of S.events) {
      const o = el('option', '', e.name ? e.name + ' · ' + e.id : e.id);
      o.value = e.id;
      sel.appendChild(o);
    }
    if (!S.events.length) sel.appendChild(el('option', '', t('top.noEvents')));
    sel.value = S.event;
  }

  async function loadEvents() {
    try {
      S.events = await api('/api/events');
    } catch (_) {
      S.events = [];
    }
    const q = new URLSearchParams(location.search).get('event');
    if (q && !S.events.some((e) => e.id === q)) S.events.push({ id: q, name: '' });
    if (!S.event) S.event = q || (S.events[0] && S.events[0].id) || '';
    renderEvents();
  }

  async function loadSummary() {
    if (!S.event) return;
    try {
      S.summary = await api('/api/events/' + encodeURIComponent(S.event) + '/summary');
      $('updated').textContent = t('updated', { time: fmtTime(S.summary.computed) });
    } catch (e) {
      $('updated').textContent = t('updated.failed');
    }
  }

  async function loadBoxes() {
    try {
      S.boxes = await api('/api/boxes');
    } catch (_) {
      S.boxes = [];
    }
  }

  async function loadAttendees() {
    if (!S.event) return;
    try {
      S.attendees = await api('/api/events/' + encodeURIComponent(S.event) + '/attendees' + (S.clear ? '?clear=1' : ''));
    } catch (e) {
      S.attendees = [];
      if (S.clear) {
        S.clear = false;
        toast(t('tickets.clearRefused'));
      }
    }
    renderAttendees();
  }

  // --- overview ----------------------------------------------------------------

  function render() {
    renderOverview();
    renderFleet();
    renderAttendees();
    renderLinks();
  }

  function renderLinks() {
    const base = '/api/events/' + encodeURIComponent(S.event);
    $('csv-link').href = base + '/attendance?format=csv';
    $('zip-link').href = base + '/tickets.zip';
    $('sheet-link').href = base + '/sheet';
    $('att-csv-link').href = base + '/attendees?format=csv' + (S.clear ? '&clear=1' : '');
  }

  function renderOverview() {
    const s = S.summary;
    if (!s) return;
    const e = s.event || {};
    $('ev-name').textContent = e.name || e.id || '';
    const meta = [];
    if (e.start) meta.push(fmtTime(e.start, true) + (e.end ? ' – ' + fmtTime(e.end, true) : ''));
    if (e.venue) meta.push(e.venue);
    if (e.manifest_version) meta.push(t('meta.version', { v: e.manifest_version }));
    if (e.reentry) meta.push(t('meta.reentry'));
    $('ev-meta').textContent = meta.join(' · ');
    $('k-admitted').textContent = fmtN(s.admitted);
    $('k-expected').textContent = fmtN(s.expected);
    const rate = s.expected ? Math.min(100, (100 * s.admitted) / s.expected) : 0;
    $('k-bar').style.width = rate.toFixed(1) + '%';
    $('k-rate').textContent = t('kpi.rate', { p: rate.toFixed(1), entries: fmtN(s.entries) });
    $('k-noshows').textContent = fmtN(s.no_shows);
    $('k-vip').textContent = fmtN(s.vip_arrivals.length);
    $('k-fever').textContent = fmtN(s.fever.held);
    $('k-fever-d').textContent = t('kpi.feverDetail', { ok: s.fever.admitted, no: s.fever.refused });
    $('k-rejected').textContent = fmtN(s.rejected - s.undos.length);
    $('k-conflicts').textContent = fmtN(s.conflicts);
    $('k-conflicts-card').classList.toggle('alert', s.conflicts > 0);
    drawChart(s.timeline);

    const gates = $('gates').tBodies[0];
    clearNode(gates);
    for (const g of s.gates) {
      const tr = el('tr');
      tr.appendChild(el('td', '', gate(g.gate || g.box) + (g.gate && g.gate !== g.box ? ' · ' + g.box : '')));
      for (const n of [g.admitted, g.rejected, g.held]) tr.appendChild(el('td', 'r', fmtN(n)));
      gates.appendChild(tr);
    }
    if (!s.gates.length) gates.appendChild(emptyRow(4));

    const reasons = $('reasons');
    clearNode(reasons);
    const rs = Object.entries(s.rejections_by_reason).sort((a, b) => b[1] - a[1]);
    const top = rs.length ? rs[0][1] : 0;
    for (const [r, n] of rs) {
      const li = el('li');
      li.appendChild(el('span', '', reason(r)));
      const track = el('span', 'track');
      const fill = el('span', 'fill');
      fill.style.display = 'block';
      fill.style.width = ((100 * n) / top).toFixed(1) + '%';
      track.appendChild(fill);
      li.appendChild(track);
      li.appendChild(el('span', 'n', fmtN(n)));
      reasons.appendChild(li);
    }
    if (!rs.length) reasons.appendChild(el('li', 'none', t('none')));

    list($('vip'), s.vip_arrivals, (a) => [a.name + ' · ' + level(a.level), gate(a.gate) + ' ' + fmtTime(a.at)]);
    const staff = s.staff_overrides.map((x) => Object.assign({ kind: 'override' }, x)).concat(s.undos.map((x) => Object.assign({ kind: 'undo' }, x)));
    staff.sort((a, b) => (a.at < b.at ? 1 : -1));
    list($('staff'), staff, (x) => [t('staff.' + x.kind, { ticket: x.ticket, staff: x.staff || '—' }), gate(x.gate) + ' ' + fmtTime(x.at)]);
    list($('conflicts'), s.conflict_tickets, (c) => [t('conflict.ticket', { ticket: c }), t('conflict.hint')]);
    list($('noshows'), s.no_show_list, (p) => ['No. ' + p.ticket + ' ' + p.name, p.level ? level(p.level) : '']);
    if (s.no_shows > s.no_show_list.length) $('noshows').appendChild(el('li', 'none', t('noshows.more', { n: s.no_shows - s.no_show_list.length })));
  }

  function emptyRow(cols) {
    const tr = el('tr');
    const td = el('td', 'muted', t('none'));
    td.colSpan = cols;
    tr.appendChild(td);
    return tr;
  }

  function list(ul, items, fn) {
    clearNode(ul);
    for (const it of items) {
      const [main, sub] = fn(it);
      const li = el('li');
      li.appendChild(el('span', '', main));
      li.appendChild(el('span', 'sub', sub));
      ul.appendChild(li);
    }
    if (!items.length) ul.appendChild(el('li', 'none', t('none')));
  }

  // drawChart draws the timeline as stacked bars: admitted (green) under
  // rejected (red), one bar a bucket, with a scale and a time axis.
  function drawChart(tl) {
    const box = $('chart');
    clearNode(box);
    const W = Math.max(300, box.clientWidth || 900);
    const H = Math.max(160, box.clientHeight || 240);
    const pad = { l: 40, r: 10, t: 10, b: 24 };
    const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': t('card.timeline') });
    const n = tl.admitted.length;
    if (!n) {
      s.appendChild(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, t('chart.empty')));
      box.appendChild(s);
      return;
    }
    let top = 1;
    for (let i = 0; i < n; i++) top = Math.max(top, tl.admitted[i] + tl.rejected[i]);
    const nice = niceMax(top);
    const iw = W - pad.l - pad.r;
    const ih = H - pad.t - pad.b;
    for (let k = 0; k <= 4; k++) {
      const v = (nice * k) / 4;
      const y = pad.t + ih - (ih * v) / nice;
      s.appendChild(svg('line', { x1: pad.l, x2: W - pad.r, y1: y, y2: y, class: 'grid-line' }));
      s.appendChild(svg('text', { x: pad.l - 6, y: y + 4, 'text-anchor': 'end', class: 'axis' }, fmtN(Math.round(v))));
    }
    const bw = iw / n;
    const gap = Math.min(4, bw * 0.2);
    const start = new Date(tl.start).getTime();
    for (let i = 0; i < n; i++) {
      const x = pad.l + i * bw + gap / 2;
      const ha = (ih * tl.admitted[i]) / nice;
      const hr = (ih * tl.rejected[i]) / nice;
      const y0 = pad.t + ih;
      if (ha > 0) s.appendChild(svg('rect', { x, y: y0 - ha, width: Math.max(1, bw - gap), height: ha, class: 'ok', rx: 2 }));
      if (hr > 0) s.appendChild(svg('rect', { x, y: y0 - ha - hr, width: Math.max(1, bw - gap), height: hr, class: 'bad', rx: 2 }));
      const title = svg('title', {}, `${fmtTime(new Date(start + i * tl.step_s * 1000).toISOString())}: ${t('legend.admitted')} ${tl.admitted[i]}, ${t('legend.rejected')} ${tl.rejected[i]}`);
      s.lastChild && s.lastChild.appendChild(title);
    }
    const every = Math.max(1, Math.ceil(n / 8));
    for (let i = 0; i < n; i += every) {
      const d = new Date(start + i * tl.step_s * 1000);
      const label = new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(d);
      s.appendChild(svg('text', { x: pad.l + i * bw + bw / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis' }, label));
    }
    box.appendChild(s);
  }

  function niceMax(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // --- fleet ---------------------------------------------------------------------

  function renderFleet() {
    const body = $('fleet').tBodies[0];
    clearNode(body);
    const breaks = [];
    let broken = 0;
    for (const b of S.boxes) {
      const tr = el('tr');
      tr.appendChild(el('td', '', b.box));
      tr.appendChild(el('td', 'muted', b.venue));
      const st = el('td');
      st.appendChild(el('span', 'dot ' + (b.online ? 'ok' : 'bad')));
      st.appendChild(document.createTextNode(t(b.online ? 'fleet.online' : 'fleet.offline')));
      tr.appendChild(st);
      tr.appendChild(el('td', 'muted', b.last_seen ? fmtAgo(b.last_seen) : '—'));
      const q = el('td', 'r', fmtN(b.queued));
      if (b.queued > 0) q.appendChild(el('span', 'pill warn', '!')).style.marginLeft = '6px';
      tr.appendChild(q);
      tr.appendChild(el('td', 'r', Object.entries(b.manifest_version || {}).map(([e, v]) => (e === S.event ? 'v' + v : '')).filter(Boolean).join(' ') || '—'));
      const dr = el('td', 'r', (b.clock_offset_ms / 1000).toFixed(1) + ' s');
      if (b.clock_drift) dr.appendChild(el('span', 'pill bad', t('fleet.drift'))).style.marginLeft = '6px';
      tr.appendChild(dr);
      const au = el('td');
      if (!b.audit) au.appendChild(el('span', 'muted', t('audit.none')));
      else if (b.audit.ok) au.appendChild(el('span', 'pill ok', t('audit.ok', { n: fmtN(b.audit.seq) })));
      else {
        broken++;
        au.appendChild(el('span', 'pill bad', t('audit.broken', { n: b.audit.break_count })));
        for (const x of b.audit.breaks || []) breaks.push(Object.assign({ box: b.box }, x));
      }
      tr.appendChild(au);
      body.appendChild(tr);
    }
    if (!S.boxes.length) body.appendChild(emptyRow(8));
    $('fleet-badge').hidden = !broken;
    $('fleet-badge').textContent = broken;
    $('breaks-card').hidden = !breaks.length;
    list($('breaks'), breaks, (x) => [x.box + ' · ' + t('audit.entry', { n: x.seq }) + ' · ' + (has('break.' + x.reason) ? t('break.' + x.reason) : x.reason), fmtTime(x.found, true)]);
  }

  // --- attendees and import --------------------------------------------------------

  function renderAttendees() {
    const body = $('attendees').tBodies[0];
    clearNode(body);
    const q = $('filter').value.trim().toLowerCase();
    const rows = S.attendees.filter((a) => !q || [a.ticket, a.name, a.phone, a.member_level, a.class].join(' ').toLowerCase().includes(q));
    for (const a of rows.slice(0, 300)) {
      const tr = el('tr', a.revoked ? 'revoked' : '');
      tr.appendChild(el('td', 't', a.ticket));
      tr.appendChild(el('td', '', a.name));
      tr.appendChild(el('td', 't', a.phone));
      tr.appendChild(el('td', '', a.member_level ? level(a.member_level) : ''));
      tr.appendChild(el('td', '', a.class || ''));
      const st = el('td');
      st.appendChild(el('span', 'pill ' + (a.revoked ? 'bad' : 'ok'), t(a.revoked ? 'status.revoked' : 'status.valid')));
      tr.appendChild(st);
      const act = el('td');
      if (!a.revoked && S.who) {
        const b = el('button', 'chip', t('action.revoke'));
        b.type = 'button';
        b.addEventListener('click', () => revoke(a.ticket));
        act.appendChild(b);
      }
      tr.appendChild(act);
      body.appendChild(tr);
    }
    if (!rows.length) body.appendChild(emptyRow(7));
    $('list-more').textContent = rows.length > 300 ? t('list.more', { n: rows.length - 300 }) : t('list.count', { n: rows.length });
    $('clear-toggle').textContent = t(S.clear ? 'tickets.mask' : 'tickets.clear');
    $('clear-note').hidden = !S.clear;
  }

  async function revoke(id) {
    if (!confirm(t('action.revokeConfirm', { ticket: id }))) return;
    try {
      await api('/api/events/' + encodeURIComponent(S.event) + '/attendees/' + id + '/revoke', { method: 'POST' });
      toast(t('action.revoked', { ticket: id }));
      loadAttendees();
    } catch (e) {
      toast(e.message);
    }
  }

  async function runImport(dry) {
    if (!S.file) {
      toast(t('import.noFile'));
      return;
    }
    try {
      const rep = await api('/api/events/' + encodeURIComponent(S.event) + '/attendees' + (dry ? '?dry_run=1' : ''), {
        method: 'POST',
        headers: { 'Content-Type': 'text/csv' },
        body: S.file,
      });
      showReport(rep);
      if (!dry) {
        toast(t('import.done', { n: rep.accepted }));
        loadAttendees();
        loadEvents();
      }
    } catch (e) {
      toast(e.status === 401 ? t('signin.needed') : e.message);
    }
  }

  function showReport(rep) {
    $('report').hidden = false;
    $('r-accepted').textContent = t(rep.dry_run ? 'report.wouldAccept' : 'report.accepted', { n: rep.accepted });
    $('r-rejected').textContent = t('report.rejected', { n: rep.rejected.length });
    $('r-encoding').textContent = t('report.encoding', { e: rep.encoding.toUpperCase() });
    $('r-manifest').hidden = !rep.manifest;
    if (rep.manifest) $('r-manifest').textContent = t('report.manifest', { v: rep.manifest.version, venues: rep.manifest.venues_pushed });
    const body = $('r-rows').tBodies[0];
    clearNode(body);
    for (const r of rep.rejected) {
      const tr = el('tr');
      tr.appendChild(el('td', 't', r.line));
      tr.appendChild(el('td', '', r.reason));
      body.appendChild(tr);
    }
    if (!rep.rejected.length) body.appendChild(emptyRow(2));
  }

  function setFile(f) {
    S.file = f || null;
    $('file-name').textContent = f ? f.name + ' · ' + fmtN(Math.ceil(f.size / 1024)) + ' KB' : t('import.choose');
  }

  // --- wiring ------------------------------------------------------------------------

  function setTab(tab) {
    S.tab = tab;
    for (const b of document.querySelectorAll('#tabs button')) b.classList.toggle('on', b.dataset.tab === tab);
    for (const p of document.querySelectorAll('.pane')) p.hidden = p.dataset.pane !== tab;
    if (tab === 'attendees') loadAttendees();
    if (tab === 'overview' && S.summary) drawChart(S.summary.timeline);
  }

  async function refresh() {
    await Promise.all([loadSummary(), loadBoxes()]);
    renderOverview();
    renderFleet();
  }

  async function main() {
    try {
      S.strings = await (await fetch('i18n.json', { cache: 'no-store' })).json();
    } catch (_) {
      // Without the words the page shows their keys; it still works.
    }
    let lang = 'zh';
    try {
      lang = localStorage.getItem('venuebox.hq.lang') || new URLSearchParams(location.search).get('lang') || 'zh';
    } catch (_) {
      // no storage: Chinese
    }
    if (new URLSearchParams(location.search).get('lang')) lang = new URLSearchParams(location.search).get('lang');
    S.lang = lang === 'en' ? 'en' : 'zh';
    const tab = new URLSearchParams(location.search).get('tab');
    $('lang').addEventListener('click', () => {
      S.lang = S.lang === 'zh' ? 'en' : 'zh';
      try {
        localStorage.setItem('venuebox.hq.lang', S.lang);
      } catch (_) {
        // kept until reload
      }
      applyLang();
    });
    for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => setTab(b.dataset.tab));
    $('event').addEventListener('change', () => {
      S.event = $('event').value;
      S.summary = null;
      refresh();
      loadAttendees();
      renderLinks();
    });
    $('signin').addEventListener('click', openLogin);
    $('l-cancel').addEventListener('click', () => ($('login').hidden = true));
    $('login-form').addEventListener('submit', submitLogin);
    $('file').addEventListener('change', () => setFile($('file').files[0]));
    const drop = $('drop');
    drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      setFile(e.dataTransfer.files[0]);
    });
    $('preview').addEventListener('click', () => runImport(true));
    $('import-form').addEventListener('submit', (e) => {
      e.preventDefault();
      runImport(false);
    });
    $('clear-toggle').addEventListener('click', () => {
      S.clear = !S.clear;
      loadAttendees();
      renderLinks();
    });
    $('filter').addEventListener('input', renderAttendees);
    window.addEventListener('resize', () => S.summary && drawChart(S.summary.timeline));
    await Promise.all([loadEvents(), loadWho()]);
    applyLang();
    setTab(tab || 'overview');
    await refresh();
    document.body.dataset.ready = '1';
    setInterval(refresh, REFRESH_MS);
  }

  main();
})();
