// The kiosk screen at a venue gate. It uses the box's HTTP API only:
// /api/status (polled), /api/stream (one "verdict" event per decision) and
// /api/staff/... in staff mode. Every word it shows comes from i18n.json, in
// Chinese (the default) and English. Data from the box is only ever put in
// the page as text, never as markup.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  // How long a verdict stays on screen, by verdict (ms).
  const SHOW_MS = { admitted: 4000, rejected: 7000, held: 12000 };
  const STATUS_EVERY_MS = 2000;
  const LOGIN_IDLE_MS = 60000;

  const S = {
    lang: 'zh',
    strings: { zh: {}, en: {} },
    status: null,
    skew: 0, // the box's clock minus this page's
    panel: null, // the verdict on screen
    panelTimer: 0,
    connected: true,
    lostSince: 0,
    staff: null, // {id, idleMs, lastActive}
    tab: 'lookup',
    recent: null,
    lookup: null,
    pin: '',
    loginMode: 'pin',
    loginTimer: 0,
    lockedUntil: 0,
    dialog: null,
  };

  // --- words ---------------------------------------------------------------

  function t(key, vars) {
    const table = S.strings[S.lang] || {};
    let s = table[key];
    if (s === undefined) s = S.strings.zh[key];
    if (s === undefined) s = (S.strings[S.lang] || {})['reason.other'] || '';
    if (vars) s = s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] === undefined ? '' : String(vars[k])));
    return s;
  }

  function has(key) {
    return Object.prototype.hasOwnProperty.call(S.strings[S.lang] || {}, key);
  }

  function locale() {
    return S.lang === 'zh' ? 'zh-CN' : 'en-GB';
  }

  function applyLang() {
    document.documentElement.lang = locale();
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
    buildPads();
    if (S.status) renderStatus(S.status);
    if (S.panel) renderPanel(S.panel);
    renderClock();
    if (S.staff) renderStaff();
    if (S.dialog) renderDialog();
    setLoginMode(S.loginMode);
  }

  function setLang(lang) {
    S.lang = lang === 'en' ? 'en' : 'zh';
    try {
      localStorage.setItem('venuebox.lang', S.lang);
    } catch (_) {
      // A kiosk profile without storage keeps the language until reload.
    }
    applyLang();
  }

  // --- formatting ----------------------------------------------------------

  function boxNow() {
    return Date.now() + S.skew;
  }

  function fmtTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return '';
    const today = new Date(boxNow()).toDateString() === d.toDateString();
    const opts = today ? { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' } : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
    return new Intl.DateTimeFormat(locale(), opts).format(d);
  }

  function fmtAgo(iso) {
    const ms = boxNow() - new Date(iso).getTime();
    if (!(ms >= 0) || ms < 60000) return t('ago.now');
    const min = Math.floor(ms / 60000);
    if (min < 60) return t('ago.min', { n: min });
    const h = Math.floor(min / 60);
    if (h < 48) return t('ago.hour', { n: h });
    return t('ago.day', { n: Math.floor(h / 24) });
  }

  function fmtGate(id) {
    const m = /^gate-?(\d+)$/i.exec(id || '');
    return m ? t('gate.n', { n: m[1] }) : id || '';
  }

  function fmtClass(c) {
    if (!c) return '';
    return has('class.' + c) ? t('class.' + c) : c;
  }

  function fmtLevel(l) {
    if (!l) return '';
    return has('level.' + l) ? t('level.' + l) : t('level.other', { level: l });
  }

  function fmtTemp(c) {
    return (Math.round(c * 10) / 10).toFixed(1) + ' °C';
  }

  function reasonText(v) {
    if (v.verdict === 'rejected' && v.reason === 'fever') return t('reason.fever-refused');
    if (v.reason === 'wrong-zone' && v.zone) return t('reason.wrong-zone.named', { zone: v.zone });
    return has('reason.' + v.reason) ? t('reason.' + v.reason) : t('reason.other');
  }

  // logText is a decision's reason as staff read it in their lists.
  function logText(d) {
    if (d.verdict === 'rejected' && d.reason === 'fever') return t('log.fever-refused');
    return has('log.' + d.reason) ? t('log.' + d.reason) : t('log.other');
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  // --- the box's API ---------------------------------------------------------

  async function api(method, path, body, auto) {
    const opts = { method, headers: {}, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    if (auto) opts.headers['X-Venuebox-Auto'] = '1';
    const r = await fetch(path, opts);
    let data = null;
    try {
      data = await r.json();
    } catch (_) {
      data = null;
    }
    return { status: r.status, ok: r.ok, data: data || {} };
  }

  // --- status --------------------------------------------------------------

  async function pollStatus() {
    try {
      const r = await api('GET', 'api/status');
      if (r.ok) {
        S.status = r.data;
        const at = Date.parse(r.data.time);
        if (!isNaN(at)) S.skew = at - Date.now();
        renderStatus(r.data);
        setConnected(true, 'status');
      }
    } catch (_) {
      setConnected(false, 'status');
    }
  }

  function pill(id, text, tone) {
    const p = $(id);
    p.textContent = text;
    p.className = 'pill' + (tone ? ' ' + tone : '');
  }

  function renderStatus(s) {
    const events = s.events || [];
    $('event-name').textContent = events.length ? events.map((e) => e.name || e.id).join(' · ') : t('status.noEvent');
    $('gate-name').textContent = fmtGate(s.box);
    $('admitted').textContent = (s.counts && s.counts.admitted) || 0;
    $('expected').textContent = events.reduce((n, e) => n + (e.expected || 0), 0);
    pill('hq', s.online ? t('hq.online') : t('hq.offline'), s.online ? 'ok' : 'bad');
    const q = s.queued || 0;
    pill('queue', t('queue', { n: q }), q > 0 && !s.online ? 'warn' : '');
    pill('sync', s.last_sync ? t('sync.at', { ago: fmtAgo(s.last_sync) }) : t('sync.never'), '');
    if (s.manifest_at) {
      const age = boxNow() - Date.parse(s.manifest_at);
      pill('list', t('list.age', { ago: fmtAgo(s.manifest_at) }), age > 24 * 3600e3 ? 'warn' : '');
    } else {
      pill('list', t('list.none'), 'bad');
    }
    const devs = $('devices');
    devs.replaceChildren();
    for (const name of Object.keys(s.devices || {}).sort()) {
      const up = s.devices[name] === 'up';
      const d = el('span', 'dev ' + (up ? 'ok' : 'bad'));
      d.dataset.device = name;
      d.append(el('i', 'dot'), el('span', '', has('dev.' + name) ? t('dev.' + name) : name));
      if (!up) d.append(el('span', 'down', t('dev.down')));
      devs.append(d);
    }
    $('staff-btn').hidden = !s.staff;
  }

  function setConnected(ok, _what) {
    if (ok) {
      S.connected = true;
      S.lostSince = 0;
      $('conn').hidden = true;
      return;
    }
    if (!S.lostSince) S.lostSince = Date.now();
    // A reconnect within a few seconds is not worth alarming anyone.
    if (Date.now() - S.lostSince > 3000) $('conn').hidden = false;
  }

  // --- verdicts ------------------------------------------------------------

  function connectStream() {
    const es = new EventSource('api/stream');
    es.addEventListener('verdict', (e) => {
      let v;
      try {
        v = JSON.parse(e.data);
      } catch (_) {
        return;
      }
      onVerdict(v);
    });
    es.addEventListener('open', () => setConnected(true, 'stream'));
    es.addEventListener('error', () => {
      setConnected(false, 'stream');
      setTimeout(() => {
        if (es.readyState !== EventSource.CLOSED) setConnected(false, 'stream');
      }, 3500);
    });
  }

  function onVerdict(v) {
    if (!v || typeof v !== 'object') return;
    if (v.reason !== 'undo') showPanel(v);
    pollStatus();
    if (S.staff) loadRecent(true);
  }

  function showPanel(v) {
    S.panel = v;
    renderPanel(v);
    const panel = $('panel');
    panel.hidden = false;
    $('ready').hidden = true;
    // How many verdicts were shown and when the last one was: for tests
    // and for anyone measuring the screen's latency.
    panel.dataset.shown = String((Number(panel.dataset.shown) || 0) + 1);
    panel.dataset.shownAt = String(Date.now());
    const kind = panelKind(v);
    const ms = SHOW_MS[kind];
    const bar = $('panel-timer');
    bar.style.animation = 'none';
    void bar.offsetWidth; // restart the countdown
    bar.style.animation = 'drain ' + ms + 'ms linear forwards';
    clearTimeout(S.panelTimer);
    S.panelTimer = setTimeout(hidePanel, ms);
  }

  function hidePanel() {
    clearTimeout(S.panelTimer);
    S.panel = null;
    $('panel').hidden = true;
    $('ready').hidden = false;
  }

  function panelKind(v) {
    return v.verdict === 'admitted' || v.verdict === 'held' ? v.verdict : 'rejected';
  }

  function renderPanel(v) {
    const kind = panelKind(v);
    const panel = $('panel');
    panel.className = 'panel ' + kind;
    panel.dataset.verdict = kind;
    panel.dataset.reason = v.reason || '';
    $('panel-title').textContent = t('verdict.' + kind);
    $('panel-reason').textContent = reasonText(v);
    const prior = $('panel-prior');
    if (v.prior_at) {
      prior.textContent = t(v.reason === 'reentry' ? 'prior.reentry' : 'prior.used', { time: fmtTime(v.prior_at), gate: fmtGate(v.prior_gate) });
      prior.hidden = false;
    } else {
      prior.textContent = '';
      prior.hidden = true;
    }
    $('panel-name').textContent = v.name || '';
    $('panel-level').textContent = fmtLevel(v.member_level);
    $('panel-level').hidden = !v.member_level;
    $('panel-who').hidden = !v.name && !v.member_level;
    const facts = $('panel-facts');
    facts.replaceChildren();
    const fact = (key, value, cls) => {
      const li = el('li', cls);
      li.append(el('span', 'k', t(key)), el('span', 'v', value));
      facts.append(li);
    };
    if (v.class) fact('fact.class', fmtClass(v.class));
    if (v.zone) fact('fact.zone', v.zone);
    if (v.benefit && kind === 'admitted') fact('fact.benefit', v.benefit, 'benefit');
    if (typeof v.temp_c === 'number') fact('fact.temp', fmtTemp(v.temp_c), kind === 'held' ? 'alert' : '');
    facts.hidden = !facts.childElementCount;
  }

  function renderClock() {
    const d = new Date(boxNow());
    $('clock').textContent = new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(d);
  }

  // --- keypads -------------------------------------------------------------

  function buildPad(container, onKey) {
    container.replaceChildren();
    const keys = ['1', '2', '3', '4', '5', '6', '7', '8', '9', 'clear', '0', 'ok'];
    for (const k of keys) {
      const b = el('button', 'key' + (k === 'ok' ? ' primary' : k === 'clear' ? ' muted' : ''));
      b.type = 'button';
      b.dataset.key = k;
      b.textContent = k === 'ok' ? t(container.dataset.okKey || 'login.ok') : k === 'clear' ? t('login.clear') : k;
      b.addEventListener('click', () => onKey(k));
      container.append(b);
    }
  }

  function buildPads() {
    buildPad($('pin-pad'), pinKey);
    $('lookup-pad').dataset.okKey = 'lookup.go';
    buildPad($('lookup-pad'), (k) => {
      const q = $('q');
      if (k === 'clear') q.value = '';
      else if (k === 'ok') doLookup();
      else if (q.value.length < 32) q.value += k;
      touch();
    });
  }

  // --- staff login ---------------------------------------------------------

  function openLogin() {
    S.pin = '';
    $('login-error').textContent = '';
    $('card-error').textContent = '';
    $('card-input').value = '';
    setLoginMode('pin');
    renderPin();
    $('login').hidden = false;
    armLoginTimer();
  }

  function closeLogin() {
    clearTimeout(S.loginTimer);
    S.pin = '';
    $('login').hidden = true;
  }

  function armLoginTimer() {
    clearTimeout(S.loginTimer);
    S.loginTimer = setTimeout(closeLogin, LOGIN_IDLE_MS);
  }

  function setLoginMode(mode) {
    S.loginMode = mode;
    $('pin-view').hidden = mode !== 'pin';
    $('card-view').hidden = mode !== 'card';
    $('login-mode').textContent = mode === 'pin' ? t('login.card') : t('login.pin');
    if (mode === 'card' && !$('login').hidden) $('card-input').focus();
  }

  function renderPin() {
    const dots = $('pin-dots');
    dots.replaceChildren();
    const n = Math.max(4, S.pin.length);
    for (let i = 0; i < n; i++) dots.append(el('i', i < S.pin.length ? 'on' : ''));
  }

  function pinKey(k) {
    armLoginTimer();
    if (k === 'clear') S.pin = '';
    else if (k === 'ok') return login({ pin: S.pin });
    else if (S.pin.length < 12) S.pin += k;
    $('login-error').textContent = '';
    renderPin();
  }

  async function login(body) {
    const errEl = body.card !== undefined ? $('card-error') : $('login-error');
    if (!body.pin && !body.card) return;
    if (Date.now() < S.lockedUntil) {
      errEl.textContent = t('login.locked', { min: Math.ceil((S.lockedUntil - Date.now()) / 60000) });
      return;
    }
    let r;
    try {
      r = await api('POST', 'api/staff/login', body);
    } catch (_) {
      errEl.textContent = t('login.error');
      return;
    }
    S.pin = '';
    renderPin();
    $('card-input').value = '';
    if (r.ok) {
      closeLogin();
      enterStaff(r.data);
      return;
    }
    const card = body.card !== undefined;
    if (r.status === 401) {
      errEl.textContent = t(card ? 'login.wrongCard' : 'login.wrong', { n: r.data.attempts_left });
    } else if (r.status === 423) {
      const s = r.data.retry_after_s || 60;
      S.lockedUntil = Date.now() + s * 1000;
      errEl.textContent = t('login.locked', { min: Math.ceil(s / 60) });
    } else if (r.status === 403) {
      errEl.textContent = t('login.disabled');
    } else {
      errEl.textContent = t('login.error');
    }
    errEl.classList.remove('shake');
    void errEl.offsetWidth;
    errEl.classList.add('shake');
  }

  // --- staff mode ----------------------------------------------------------

  function enterStaff(session) {
    S.staff = { id: session.staff, idleMs: (session.idle_s || 600) * 1000, lastActive: Date.now() };
    S.lookup = null;
    $('q').value = '';
    $('lookup-results').replaceChildren();
    document.body.classList.add('staff-mode');
    $('staff').hidden = false;
    setTab('lookup');
    renderStaff();
    loadRecent(false);
  }

  function exitStaff(message) {
    S.staff = null;
    S.recent = null;
    S.lookup = null;
    closeDialog();
    document.body.classList.remove('staff-mode');
    $('staff').hidden = true;
    $('lookup-results').replaceChildren();
    $('recent').replaceChildren();
    $('holds').replaceChildren();
    if (message) toast(message);
  }

  async function logout() {
    try {
      await api('POST', 'api/staff/logout', {});
    } catch (_) {
      // The session ends on the box by itself when it is not used.
    }
    exitStaff();
  }

  // touch notes staff activity, which the box counts on each request.
  function touch() {
    if (S.staff) S.staff.lastActive = Date.now();
  }

  // staffCall makes a staff request; a refused session ends staff mode.
  async function staffCall(method, path, body, auto) {
    if (!auto) touch();
    const r = await api(method, path, body, auto);
    if (r.status === 401 && S.staff) exitStaff(t('staff.timedOut'));
    return r;
  }

  async function checkSession() {
    if (!S.staff) return;
    if (Date.now() - S.staff.lastActive < S.staff.idleMs) return;
    try {
      await staffCall('GET', 'api/staff/session', undefined, true);
    } catch (_) {
      // Asked again at the next tick.
    }
  }

  function setTab(tab) {
    S.tab = tab;
    for (const b of document.querySelectorAll('[data-tab]')) b.classList.toggle('active', b.dataset.tab === tab);
    for (const p of document.querySelectorAll('[data-pane]')) p.hidden = p.dataset.pane !== tab;
    if (tab === 'lookup') $('q').focus();
  }

  function renderStaff() {
    if (!S.staff) return;
    $('staff-id').textContent = S.staff.id;
    $('staff-expiry').textContent = t('staff.expires', { min: Math.round(S.staff.idleMs / 60000) });
    renderLookup();
    renderRecent();
  }

  async function doLookup() {
    const q = $('q').value.trim();
    const note = $('lookup-note');
    if (!q) {
      note.textContent = t('lookup.bad');
      return;
    }
    let r;
    try {
      r = await staffCall('GET', 'api/staff/lookup?q=' + encodeURIComponent(q));
    } catch (_) {
      toast(t('err.failed'));
      return;
    }
    if (r.status === 400) {
      note.textContent = t('lookup.bad');
      return;
    }
    if (!r.ok) return;
    S.lookup = r.data;
    renderLookup();
  }

  function renderLookup() {
    const list = $('lookup-results');
    const note = $('lookup-note');
    list.replaceChildren();
    if (!S.lookup) {
      note.textContent = t('lookup.limit');
      return;
    }
    const res = S.lookup.results || [];
    note.textContent = res.length === 0 ? t('lookup.none') : S.lookup.more ? t('lookup.more') : t('lookup.limit');
    for (const h of res) {
      const li = el('li', 'row');
      li.dataset.ticket = h.ticket;
      const main = el('div', 'main');
      main.append(el('span', 'name', h.name || t('ticket.no', { id: h.ticket })), el('span', 'phone', h.phone || ''));
      const sub = el('div', 'sub');
      sub.textContent = [t('ticket.no', { id: h.ticket }), fmtClass(h.class), fmtLevel(h.member_level), h.zone].filter(Boolean).join(' · ');
      const info = el('div', 'info');
      info.append(main, sub);
      let state;
      if (h.revoked) state = el('span', 'state bad', t('state.revoked'));
      else if (h.admitted_at) state = el('span', 'state ok', t('state.entered', { time: fmtTime(h.admitted_at), gate: fmtGate(h.admitted_gate) }));
      else state = el('span', 'state', t('state.notYet'));
      const btn = el('button', 'action go', t('act.admit'));
      btn.type = 'button';
      btn.addEventListener('click', () => openDialog('admit', h));
      li.append(info, state, btn);
      list.append(li);
    }
  }

  async function loadRecent(auto) {
    let r;
    try {
      r = await staffCall('GET', 'api/staff/recent', undefined, auto);
    } catch (_) {
      return;
    }
    if (!r.ok) return;
    S.recent = r.data;
    renderRecent();
  }

  function decisionRow(d, withHoldActions) {
    const li = el('li', 'row');
    li.dataset.nonce = d.nonce;
    li.dataset.verdict = d.verdict;
    li.dataset.reason = d.reason;
    const time = el('span', 'time', fmtTime(d.at));
    const chip = el('span', 'vchip ' + panelKind(d), t('short.' + panelKind(d)));
    const info = el('div', 'info');
    const main = el('div', 'main');
    main.append(el('span', 'name', d.name || (d.ticket ? t('ticket.no', { id: d.ticket }) : t('log.noTicket'))), el('span', 'reasontext', logText(d)));
    const subParts = [];
    if (d.name && d.ticket) subParts.push(t('ticket.no', { id: d.ticket }));
    if (d.gate) subParts.push(fmtGate(d.gate));
    if (typeof d.temp_c === 'number') subParts.push(fmtTemp(d.temp_c));
    if (d.staff) subParts.push(t('staff.by', { id: d.staff }));
    if (d.note) subParts.push(d.note);
    info.append(main, el('div', 'sub', subParts.join(' · ')));
    li.append(time, chip, info);
    if (withHoldActions && d.can_resolve) {
      const ok = el('button', 'action go', t('act.confirm'));
      ok.type = 'button';
      ok.addEventListener('click', () => openDialog('confirm', d));
      const no = el('button', 'action stop', t('act.refuse'));
      no.type = 'button';
      no.addEventListener('click', () => openDialog('refuse', d));
      li.append(ok, no);
    } else if (d.can_undo) {
      const b = el('button', 'action', t('act.undo'));
      b.type = 'button';
      b.addEventListener('click', () => openDialog('undo', d));
      li.append(b);
    } else if (d.resolved_by) {
      li.append(el('span', 'state', d.verdict === 'held' ? t('act.resolved') : t('act.undone')));
    }
    return li;
  }

  function renderRecent() {
    const recent = $('recent');
    const holds = $('holds');
    recent.replaceChildren();
    holds.replaceChildren();
    if (!S.recent) return;
    const ds = S.recent.decisions || [];
    const hs = S.recent.holds || [];
    if (!ds.length) recent.append(el('li', 'empty', t('recent.none')));
    for (const d of ds) recent.append(decisionRow(d, false));
    if (!hs.length) holds.append(el('li', 'empty', t('holds.none')));
    for (const d of hs) holds.append(decisionRow(d, true));
    const badge = $('holds-count');
    badge.textContent = hs.length;
    badge.hidden = !hs.length;
  }

  // --- the reason dialog ---------------------------------------------------

  const DIALOGS = {
    admit: { title: 'dialog.admit', presets: ['preset.admit.1', 'preset.admit.2', 'preset.admit.3'], required: true, ok: 'act.admit' },
    undo: { title: 'dialog.undo', presets: ['preset.undo.1', 'preset.undo.2', 'preset.undo.3'], required: true, ok: 'act.undo' },
    confirm: { title: 'dialog.confirm', presets: ['preset.confirm.1'], required: false, ok: 'act.confirm' },
    refuse: { title: 'dialog.refuse', presets: ['preset.refuse.1', 'preset.refuse.2'], required: false, ok: 'act.refuse' },
  };

  function openDialog(kind, item) {
    touch();
    S.dialog = { kind, item };
    $('dialog-note').value = '';
    $('dialog-error').textContent = '';
    renderDialog();
    $('dialog').hidden = false;
  }

  function closeDialog() {
    S.dialog = null;
    $('dialog').hidden = true;
  }

  function renderDialog() {
    const { kind, item } = S.dialog;
    const d = DIALOGS[kind];
    $('dialog').dataset.kind = kind;
    $('dialog-title').textContent = t(d.title);
    const subject = [item.name, item.phone, t('ticket.no', { id: item.ticket })];
    if (kind !== 'admit') subject.push(fmtTime(item.at));
    $('dialog-subject').textContent = subject.filter(Boolean).join(' · ');
    $('dialog-label').textContent = t(d.required ? 'dialog.reason' : 'dialog.note');
    const presets = $('dialog-presets');
    presets.replaceChildren();
    for (const p of d.presets) {
      const b = el('button', 'chip', t(p));
      b.type = 'button';
      b.addEventListener('click', () => {
        $('dialog-note').value = t(p);
        $('dialog-error').textContent = '';
        touch();
      });
      presets.append(b);
    }
    const ok = $('dialog-ok');
    ok.textContent = t(d.ok);
    ok.className = kind === 'refuse' ? 'stop' : 'primary';
  }

  async function confirmDialog() {
    if (!S.dialog) return;
    const { kind, item } = S.dialog;
    const note = $('dialog-note').value.trim();
    if (DIALOGS[kind].required && !note) {
      $('dialog-error').textContent = t('dialog.needReason');
      return;
    }
    let r;
    const ok = $('dialog-ok');
    ok.disabled = true;
    try {
      if (kind === 'admit') r = await staffCall('POST', 'api/staff/admit', { event: item.event, ticket: item.ticket, note });
      else if (kind === 'undo') r = await staffCall('POST', 'api/staff/undo', { nonce: item.nonce, note });
      else r = await staffCall('POST', 'api/staff/hold', { nonce: item.nonce, admit: kind === 'confirm', note });
    } catch (_) {
      r = { status: 0, ok: false, data: {} };
    } finally {
      ok.disabled = false;
    }
    if (!S.staff) return;
    if (!r.ok) {
      $('dialog-error').textContent = r.status === 409 ? t('err.conflict') : r.status === 404 ? t('err.notFound') : t('err.failed');
      return;
    }
    closeDialog();
    toast(kind === 'admit' ? t('done.admit') : kind === 'undo' ? t('done.undo') : t('done.hold'));
    if (kind === 'admit' && S.lookup) doLookup();
    loadRecent(true);
  }

  // --- bits ----------------------------------------------------------------

  let toastTimer = 0;
  function toast(msg) {
    const e = $('toast');
    e.textContent = msg;
    e.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      e.hidden = true;
    }, 3500);
  }

  function wire() {
    $('lang').addEventListener('click', () => setLang(S.lang === 'zh' ? 'en' : 'zh'));
    $('staff-btn').addEventListener('click', () => (S.staff ? ($('staff').hidden = false) : openLogin()));
    $('login-cancel').addEventListener('click', closeLogin);
    $('login-mode').addEventListener('click', () => {
      armLoginTimer();
      setLoginMode(S.loginMode === 'pin' ? 'card' : 'pin');
    });
    $('card-input').addEventListener('keydown', (e) => {
      armLoginTimer();
      if (e.key === 'Enter') {
        e.preventDefault();
        login({ card: $('card-input').value.trim() });
      }
    });
    $('logout').addEventListener('click', logout);
    for (const b of document.querySelectorAll('[data-tab]')) {
      b.addEventListener('click', () => {
        touch();
        setTab(b.dataset.tab);
        if (b.dataset.tab !== 'lookup') loadRecent(false);
      });
    }
    $('lookup-form').addEventListener('submit', (e) => {
      e.preventDefault();
      doLookup();
    });
    $('q').addEventListener('input', touch);
    $('dialog-cancel').addEventListener('click', closeDialog);
    $('dialog-ok').addEventListener('click', confirmDialog);
    $('dialog-note').addEventListener('input', () => {
      touch();
      $('dialog-error').textContent = '';
    });
    $('dialog-note').addEventListener('keydown', (e) => {
      if (e.key === 'Enter') confirmDialog();
    });
    // Tapping a verdict lets staff see their screen again at once.
    $('panel').addEventListener('click', () => {
      if (S.staff) hidePanel();
    });
    // A keyboard on the kiosk types the PIN.
    document.addEventListener('keydown', (e) => {
      if ($('login').hidden || S.loginMode !== 'pin') return;
      if (/^[0-9]$/.test(e.key)) pinKey(e.key);
      else if (e.key === 'Backspace') pinKey('clear');
      else if (e.key === 'Enter') pinKey('ok');
      else if (e.key === 'Escape') closeLogin();
    });
    document.addEventListener('contextmenu', (e) => e.preventDefault());
  }

  async function start() {
    try {
      const r = await fetch('i18n.json', { cache: 'no-store' });
      S.strings = await r.json();
    } catch (_) {
      // Without the words there is nothing to show; try again shortly.
      setTimeout(start, 2000);
      return;
    }
    let lang = 'zh';
    try {
      lang = localStorage.getItem('venuebox.lang') || 'zh';
    } catch (_) {
      lang = 'zh';
    }
    wire();
    setLang(lang);
    connectStream();
    await pollStatus();
    setInterval(pollStatus, STATUS_EVERY_MS);
    setInterval(() => {
      renderClock();
      checkSession();
    }, 5000);
    document.body.dataset.ready = '1';
  }

  start();
})();
