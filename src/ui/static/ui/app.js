// TeleGate operator dashboard. Plain JS, no framework, no build step.
//
// Every value from the API is put on the page with textContent or as an
// attribute value, never as HTML: session names come from file names and
// reasons from workers, so either may hold markup.
//
// The API key is typed once per tab, kept in sessionStorage (gone when the tab
// closes) and sent as X-API-Key. URLs are relative to the page, so the
// dashboard works on a port-forward and behind a path prefix alike.
'use strict';

(() => {
  const KEY_STORAGE = 'telegate.apiKey';
  const REFRESH_MS = 5000;
  const TIMELINE_SIZE = 8;
  /** Flood-wait sessions loaded for the timeline, at most (pages of 1000). */
  const TIMELINE_PAGES = 2;
  const STATE_LABELS = { free: 'Free', in_use: 'In use', floodwait: 'Flood wait', invalidated: 'Invalidated' };

  const $ = (id) => document.getElementById(id);

  const state = {
    key: sessionStorage.getItem(KEY_STORAGE),
    /** Cursors of the pages seen: cursors[i] opens page i (undefined: the first). */
    cursors: [undefined],
    page: 0,
    nextCursor: null,
    sessions: [],
    canList: true,
    timer: undefined,
    loading: false,
    /** A refresh was asked for while one ran: run again when it ends. */
    again: false,
    dialogFor: undefined,
    bannerFromRefresh: false,
  };

  class ApiError extends Error {
    constructor(status, detail) {
      super(describeDetail(status, detail));
      this.status = status;
      this.detail = detail;
    }
  }

  function describeDetail(status, detail) {
    if (typeof detail === 'string') return detail;
    if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).slice(1).join('.')}: ${d.msg}`).join('; ');
    if (detail && typeof detail === 'object' && typeof detail.error === 'string') {
      if (detail.error === 'store_unavailable') return 'The store (Redis) is unavailable';
      return detail.reason ? `${detail.error}: ${detail.reason}` : detail.error;
    }
    return `HTTP ${status}`;
  }

  async function api(method, path, params) {
    const headers = { 'X-API-Key': state.key || '', Accept: 'application/json' };
    let url = path;
    let body;
    if (method === 'GET') {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== '') q.set(k, String(v));
      if ([...q].length) url += `?${q}`;
    } else {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(params || {});
    }
    let res;
    try {
      res = await fetch(url, { method, headers, body, cache: 'no-store', credentials: 'omit' });
    } catch {
      throw new ApiError(0, 'TeleGate is unreachable');
    }
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (!res.ok) throw new ApiError(res.status, data && 'detail' in data ? data.detail : null);
    return data;
  }

  // ---- rendering helpers (text only) ----

  function el(tag, opts, ...children) {
    const node = document.createElement(tag);
    if (opts) {
      if (opts.className) node.className = opts.className;
      if (opts.text !== undefined) node.textContent = String(opts.text);
      if (opts.title) node.title = opts.title;
      if (opts.attrs) for (const [k, v] of Object.entries(opts.attrs)) node.setAttribute(k, String(v));
    }
    for (const c of children) if (c) node.append(c);
    return node;
  }

  /** "YYYY-MM-DD HH:MM:SS" (UTC) → ms, or null. */
  function parseUtc(s) {
    if (typeof s !== 'string') return null;
    const ms = Date.parse(`${s.replace(' ', 'T')}Z`);
    return Number.isNaN(ms) ? null : ms;
  }

  function humanDuration(ms) {
    let s = Math.round(Math.abs(ms) / 1000);
    const d = Math.floor(s / 86400);
    s -= d * 86400;
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${s}s`;
    return `${s}s`;
  }

  function relative(ms) {
    const diff = ms - Date.now();
    return diff >= 0 ? `in ${humanDuration(diff)}` : `${humanDuration(diff)} ago`;
  }

  function timeCell(s) {
    const td = el('td', { className: 'time' });
    const ms = parseUtc(s);
    if (ms === null) {
      td.append(el('span', { className: 'muted', text: '—' }));
      return td;
    }
    td.append(el('span', { className: 'rel', text: relative(ms) }), el('span', { className: 'abs', text: `${s} UTC` }));
    return td;
  }

  /**
   * One message line under the header. A refresh failure goes away by itself
   * at the next good refresh; the outcome of an action stays until dismissed
   * or replaced.
   */
  function setBanner(kind, message, fromRefresh = false) {
    const b = $('banner');
    state.bannerFromRefresh = Boolean(message) && fromRefresh;
    if (!message) {
      b.hidden = true;
      $('banner-text').textContent = '';
      return;
    }
    b.className = `banner ${kind}`;
    $('banner-text').textContent = message;
    b.hidden = false;
  }

  // ---- views ----

  function showLogin(message) {
    stopTimer();
    $('dashboard').hidden = true;
    $('session-controls').hidden = true;
    $('login').hidden = false;
    $('login-error').hidden = !message;
    $('login-error').textContent = message || '';
    setBanner();
    $('key-input').value = '';
    $('key-input').focus();
  }

  function showDashboard() {
    $('login').hidden = true;
    $('dashboard').hidden = false;
    $('session-controls').hidden = false;
  }

  function renderCounts(s) {
    const flood = s.in_floodwait - s.invalidated;
    $('count-total').textContent = String(s.total);
    $('count-free').textContent = String(s.free);
    $('count-in_use').textContent = String(s.in_use);
    $('count-floodwait').textContent = String(flood);
    $('count-invalidated').textContent = String(s.invalidated);
    const next = parseUtc(s.next_available);
    $('next-available').textContent = next === null ? '' : `next release ${relative(next)} (${s.next_available} UTC)`;
  }

  function renderHealth(s) {
    const health = $('health');
    health.replaceChildren();
    for (const [name, n] of Object.entries(s.health || {})) {
      health.append(el('span', { className: `chip ${name}`, text: `${name.replace('_', ' ')} ${n}`, attrs: { 'data-health': name } }));
    }
    const rests = $('rests');
    rests.replaceChildren();
    const entries = Object.entries(s.rests || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    if (entries.length === 0) rests.append(el('li', { className: 'empty', text: 'No session rests on a method.' }));
    for (const [scope, n] of entries) {
      rests.append(el('li', { className: 'chip', text: `${scope} · ${n}`, attrs: { 'data-scope': scope } }));
    }
  }

  function describeEvent(e) {
    const parts = [e.at, e.type];
    if (e.error) parts.push(e.error);
    if (e.action) parts.push(`→ ${e.action}`);
    if (e.scope) parts.push(`on ${e.scope}`);
    if (e.until) parts.push(`until ${e.until}`);
    if (e.reason) parts.push(`(${e.reason})`);
    return parts.join(' ');
  }

  async function showHistory(s) {
    $('history-name').textContent = s.session_name;
    const rests = Object.entries(s.rests || {});
    $('history-rests').textContent = rests.length ? `Resting on ${rests.map(([scope, until]) => `${scope} until ${until}`).join(', ')} UTC` : '';
    const list = $('history');
    list.replaceChildren(el('li', { className: 'empty', text: 'Loading…' }));
    $('history-dialog').showModal();
    try {
      const page = await api('GET', 'events', { session_id: s.session_id, limit: 100 });
      list.replaceChildren();
      if (page.events.length === 0) list.append(el('li', { className: 'empty', text: 'No recent events.' }));
      for (const e of page.events) list.append(el('li', { text: describeEvent(e), attrs: { 'data-type': e.type } }));
    } catch (err) {
      list.replaceChildren(el('li', { className: 'empty', text: `History unavailable: ${err.message}` }));
    }
  }

  function renderTimeline(floodSessions, status) {
    const list = $('timeline');
    list.replaceChildren();
    if (floodSessions === null) {
      // A key that cannot list sessions still sees the earliest deadline.
      const next = parseUtc(status.next_available);
      list.append(el('li', {}, el('span', { className: 'empty', text: next === null ? 'No session is in a flood wait.' : `Earliest deadline ${relative(next)} (${status.next_available} UTC).` })));
      return;
    }
    const upcoming = floodSessions
      .map((s) => ({ s, at: parseUtc(s.floodwait_until) }))
      .filter((x) => x.at !== null)
      .sort((a, b) => a.at - b.at || a.s.session_id - b.s.session_id)
      .slice(0, TIMELINE_SIZE);
    if (upcoming.length === 0) {
      list.append(el('li', {}, el('span', { className: 'empty', text: 'No session is in a flood wait.' })));
      return;
    }
    const now = Date.now();
    const horizon = Math.max(...upcoming.map((x) => x.at - now), 1);
    for (const { s, at } of upcoming) {
      const bar = el('div', { className: 'bar' });
      bar.style.width = `${Math.max(1, Math.min(100, ((at - now) / horizon) * 100)).toFixed(1)}%`;
      list.append(
        el(
          'li',
          { attrs: { 'data-session-id': s.session_id } },
          el('span', { className: 'name', text: s.session_name, title: s.session_name }),
          el('div', { className: 'track' }, bar),
          el('span', { className: 'when', text: `${relative(at)} · ${s.floodwait_until.slice(11)} UTC`, title: `${s.floodwait_until} UTC` }),
        ),
      );
    }
  }

  function actionButton(label, className, onClick) {
    const b = el('button', { className: `btn btn-small ${className}`, text: label, attrs: { type: 'button' } });
    b.addEventListener('click', onClick);
    return b;
  }

  function renderRows() {
    const tbody = $('rows');
    tbody.replaceChildren();
    const q = $('search').value.trim().toLowerCase();
    const shown = q ? state.sessions.filter((s) => String(s.session_name).toLowerCase().includes(q)) : state.sessions;
    if (!state.canList) {
      tbody.append(el('tr', {}, el('td', { className: 'empty', text: 'Listing needs an admin key.', attrs: { colspan: 8 } })));
    } else if (shown.length === 0) {
      const text = q ? 'No session on this page matches the filter.' : 'No sessions.';
      tbody.append(el('tr', {}, el('td', { className: 'empty', text, attrs: { colspan: 8 } })));
    }
    for (const s of shown) {
      const actions = el('td', { className: 'actions' });
      actions.append(actionButton('History', 'btn-history', () => void showHistory(s)));
      if (s.state === 'floodwait' || s.state === 'invalidated') {
        actions.append(actionButton('Restore', 'btn-restore', () => restore(s)));
      }
      if (s.state !== 'invalidated') {
        actions.append(actionButton('Invalidate', 'btn-invalidate', () => askInvalidate(s)));
      }
      tbody.append(
        el(
          'tr',
          { attrs: { 'data-session-id': s.session_id, 'data-state': s.state } },
          el('td', { className: 'num', text: s.session_id }),
          el('td', { className: 'name', text: s.session_name }),
          el('td', { className: 'state' }, el('span', { className: `badge ${STATE_LABELS[s.state] ? s.state : ''}`, text: STATE_LABELS[s.state] || s.state })),
          timeCell(s.lease_expires_at),
          timeCell(s.floodwait_until),
          el('td', { className: 'health' }, el('span', { className: `badge ${s.health || ''}`, text: s.health || '' })),
          el('td', { className: 'reason', text: s.reason || '' }),
          actions,
        ),
      );
    }
    $('page-info').textContent = state.canList
      ? `Page ${state.page + 1}${state.sessions.length ? ` · ${state.sessions.length} session${state.sessions.length === 1 ? '' : 's'}${q ? `, ${shown.length} shown` : ''}` : ''}`
      : '';
    $('toolbar').hidden = !state.canList;
    $('pager').hidden = !state.canList;
    $('prev-page').disabled = !state.canList || state.page === 0;
    $('next-page').disabled = !state.canList || state.nextCursor === null;
  }

  // ---- data ----

  async function loadFloodwaits() {
    const all = [];
    let cursor;
    for (let i = 0; i < TIMELINE_PAGES; i++) {
      const page = await api('GET', 'sessions', { state: 'floodwait', limit: 1000, cursor });
      all.push(...page.sessions);
      if (page.next_cursor === null) break;
      cursor = page.next_cursor;
    }
    return all;
  }

  async function refresh() {
    if (!state.key) return;
    if (state.loading) {
      state.again = true;
      return;
    }
    state.loading = true;
    state.again = false;
    try {
      const status = await api('GET', 'status');
      showDashboard();
      renderCounts(status);
      renderHealth(status);
      let flood = null;
      try {
        const [page, floods] = await Promise.all([
          api('GET', 'sessions', { state: $('state-filter').value, limit: $('page-size').value, cursor: state.cursors[state.page] }),
          loadFloodwaits(),
        ]);
        state.canList = true;
        state.sessions = page.sessions;
        state.nextCursor = page.next_cursor;
        flood = floods;
        $('list-note').hidden = true;
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 403) throw err;
        state.canList = false;
        state.sessions = [];
        state.nextCursor = null;
        $('list-note').textContent = `This key can read the counts only: ${err.message}. Use an admin key to list, restore and invalidate sessions.`;
        $('list-note').hidden = false;
      }
      renderTimeline(flood, status);
      renderRows();
      $('updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
      if (state.bannerFromRefresh) setBanner();
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        sessionStorage.removeItem(KEY_STORAGE);
        state.key = null;
        showLogin(err.message);
        return;
      }
      setBanner('error', `Refresh failed: ${err.message}`, true);
    } finally {
      state.loading = false;
      if (state.again && state.key) void refresh();
      else schedule();
    }
  }

  function stopTimer() {
    clearTimeout(state.timer);
    state.timer = undefined;
  }

  function schedule() {
    stopTimer();
    if (!state.key || !$('auto-refresh').checked) return;
    state.timer = setTimeout(() => {
      if (document.hidden) schedule();
      else void refresh();
    }, REFRESH_MS);
  }

  // ---- actions ----

  async function restore(s) {
    try {
      const r = await api('POST', 'restore', { session_id: s.session_id });
      setBanner('info', `${s.session_name} restored: now ${STATE_LABELS[r.state] || r.state}.`);
    } catch (err) {
      setBanner('error', `Restore of ${s.session_name} failed: ${err.message}`);
    }
    await refresh();
  }

  function askInvalidate(s) {
    state.dialogFor = s;
    $('invalidate-name').textContent = s.session_name;
    $('invalidate-reason').value = '';
    $('invalidate-dialog').showModal();
    $('invalidate-reason').focus();
  }

  async function invalidate(s, reason) {
    try {
      await api('POST', 'invalidate', reason ? { session_id: s.session_id, reason } : { session_id: s.session_id });
      setBanner('info', `${s.session_name} invalidated.`);
    } catch (err) {
      setBanner('error', `Invalidate of ${s.session_name} failed: ${err.message}`);
    }
    await refresh();
  }

  function resetPaging() {
    state.cursors = [undefined];
    state.page = 0;
    void refresh();
  }

  // ---- wiring ----

  document.addEventListener('DOMContentLoaded', () => {
    $('key-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const key = $('key-input').value.trim();
      if (!key) return;
      state.key = key;
      sessionStorage.setItem(KEY_STORAGE, key);
      $('login-error').hidden = true;
      resetPaging();
    });
    $('sign-out').addEventListener('click', () => {
      sessionStorage.removeItem(KEY_STORAGE);
      state.key = null;
      showLogin();
    });
    $('refresh').addEventListener('click', () => void refresh());
    $('banner-close').addEventListener('click', () => setBanner());
    $('auto-refresh').addEventListener('change', () => schedule());
    $('search').addEventListener('input', () => renderRows());
    $('state-filter').addEventListener('change', resetPaging);
    $('page-size').addEventListener('change', resetPaging);
    $('prev-page').addEventListener('click', () => {
      if (state.page === 0) return;
      state.page -= 1;
      void refresh();
    });
    $('next-page').addEventListener('click', () => {
      if (state.nextCursor === null) return;
      state.cursors[state.page + 1] = state.nextCursor;
      state.page += 1;
      void refresh();
    });
    $('invalidate-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const confirmed = e.submitter && e.submitter.value === 'confirm';
      const s = state.dialogFor;
      const reason = $('invalidate-reason').value.trim();
      $('invalidate-dialog').close();
      state.dialogFor = undefined;
      if (confirmed && s) void invalidate(s, reason);
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && state.key && $('auto-refresh').checked) void refresh();
    });

    if (state.key) void refresh();
    else showLogin();
  });
})();
