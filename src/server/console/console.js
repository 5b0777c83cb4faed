// tokenhub's console: plain JS, no dependency. Reads GET /v1/admin/events (server-sent events over
// fetch, so that the key travels in a header) and falls back to polling GET /v1/admin/status.
// Every value from the server reaches the page as text (textContent), never as HTML.

const STORAGE_KEY = 'tokenhub.adminKey';
const API = new URL('v1/admin/', document.baseURI);
const POLL_MS = 2000;
/** Polls between two attempts to get the stream back. */
const POLLS_PER_RETRY = 5;
/** The stream sends every second; this long without a frame and it is taken for dead. */
const STREAM_SILENCE_MS = 5000;

const LABELS = {
  'token.unavailable': 'unavailable',
  'credentials.rejected': 'credentials refused',
  'ticket.missing': 'ticket missing',
  'grant.rejected': 'grant revoked',
  'refresh.failing': 'refresh failing',
  'token.reported': 'reported',
  'tenants.failing': 'tenants failing',
};

const $ = (id) => document.getElementById(id);

let key = sessionStorage.getItem(STORAGE_KEY);
/** The last status, and the server's clock minus ours when it came. */
let status;
let skewMs = 0;
/** Bumped to stop the live loop (the key was forgotten or refused). */
let generation = 0;
let streamAbort;

class AuthError extends Error {}

// ---- talking to tokenhub -------------------------------------------------------------------

function headers() {
  return { authorization: `Bearer ${key}` };
}

/** The error tokenhub answered with, in words for the operator. */
async function refusal(res) {
  let body;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const code = body?.error?.code ?? `HTTP ${res.status}`;
  if (res.status === 401) return new AuthError('tokenhub knows no client with this key.');
  if (res.status === 403) return new AuthError(`This client is not an admin (${code}): give it admin: true in the config, or use another key.`);
  return new Error(`${code}: ${body?.error?.message ?? res.statusText}`);
}

async function fetchStatus() {
  const res = await fetch(new URL('status', API), { headers: headers(), cache: 'no-store' });
  if (!res.ok) throw await refusal(res);
  return res.json();
}

/** Reads the event stream until it ends, fails or goes silent; each status is shown as it comes. */
async function stream(gen) {
  streamAbort = new AbortController();
  const abort = streamAbort;
  let silence;
  const watch = () => {
    clearTimeout(silence);
    silence = setTimeout(() => abort.abort(), STREAM_SILENCE_MS);
  };
  watch();
  try {
    const res = await fetch(new URL('events', API), { headers: { ...headers(), accept: 'text/event-stream' }, cache: 'no-store', signal: abort.signal });
    if (!res.ok) throw await refusal(res);
    if (!res.body) throw new Error('this browser cannot read a streamed answer');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done || gen !== generation) return;
      watch();
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        onFrame(frame);
      }
    }
  } finally {
    clearTimeout(silence);
    abort.abort();
  }
}

function onFrame(frame) {
  let event = 'message';
  const data = [];
  for (const line of frame.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (data.length === 0) return;
  if (event === 'status') {
    show(JSON.parse(data.join('\n')));
    setLive('live', 'live');
  }
}

/** The stream while it works; polling every 2 s while it does not, trying the stream again now and then. */
async function live() {
  const gen = ++generation;
  while (gen === generation) {
    try {
      await stream(gen);
    } catch (err) {
      if (err instanceof AuthError) return signOut(`The key is no longer accepted: ${err.message}`);
    }
    for (let i = 0; i < POLLS_PER_RETRY && gen === generation; i++) {
      try {
        show(await fetchStatus());
        setLive('polling', 'polling every 2 s');
      } catch (err) {
        if (err instanceof AuthError) return signOut(`The key is no longer accepted: ${err.message}`);
        setLive('offline', `tokenhub does not answer (${err.message}); retrying`);
      }
      await sleep(POLL_MS);
    }
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- the key --------------------------------------------------------------------------------

function showLogin(message) {
  $('board').hidden = true;
  $('forget').hidden = true;
  $('only-label').hidden = true;
  $('live').hidden = true;
  $('login').hidden = false;
  const error = $('login-error');
  error.textContent = message ?? '';
  error.hidden = !message;
  $('key').focus();
}

function signOut(message) {
  generation++;
  streamAbort?.abort();
  key = null;
  sessionStorage.removeItem(STORAGE_KEY);
  showLogin(message);
}

async function signIn(candidate) {
  key = candidate;
  try {
    const first = await fetchStatus();
    sessionStorage.setItem(STORAGE_KEY, candidate);
    $('login').hidden = true;
    $('board').hidden = false;
    $('forget').hidden = false;
    $('only-label').hidden = false;
    $('key').value = '';
    show(first);
    void live();
  } catch (err) {
    key = null;
    sessionStorage.removeItem(STORAGE_KEY);
    showLogin(err instanceof AuthError ? err.message : `tokenhub does not answer: ${err.message}`);
  }
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  const candidate = $('key').value.trim();
  if (candidate !== '') void signIn(candidate);
});
$('forget').addEventListener('click', () => signOut());
$('only').addEventListener('change', () => status && show(status));

// ---- showing the status ---------------------------------------------------------------------

function setLive(state, text) {
  const el = $('live');
  el.hidden = false;
  el.className = `live ${state}`;
  el.textContent = text;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) if (child !== undefined && child !== null) node.append(child);
  return node;
}

/** Now by the server's clock. */
const serverNow = () => Date.now() + skewMs;

/** `precise`: down to the second (a countdown); otherwise two units at most. */
function duration(ms, precise = false) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return precise ? `${h} h ${m % 60} min ${s % 60} s` : `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

function clock(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

/** A time shown relative to now (`left`, `ago` or `in`), kept current by the ticker. */
function timeCell(iso, mode, col) {
  if (!iso) return el('td', { 'data-col': col, class: 'none' }, '—');
  return el('td', { 'data-col': col, 'data-time': iso, 'data-mode': mode, title: iso }, relative(iso, mode));
}

function relative(iso, mode) {
  const delta = Date.parse(iso) - serverNow();
  if (mode === 'left') return delta <= 0 ? 'expired' : duration(delta, true);
  if (mode === 'ago') return `${duration(-delta)} ago`;
  return delta <= 0 ? 'due' : `in ${duration(delta)}`;
}

function tick() {
  for (const cell of document.querySelectorAll('[data-time]')) {
    const text = relative(cell.dataset.time, cell.dataset.mode);
    if (cell.textContent !== text) cell.textContent = text;
    if (cell.dataset.mode === 'left') cell.classList.toggle('expired', text === 'expired');
  }
  if (status) $('uptime').textContent = duration(serverNow() - Date.parse(status.startedAt));
}
setInterval(tick, 1000);

function badge(text, level, title) {
  return el('span', { class: `badge ${level}`, title }, text);
}

function attentionBadges(marks) {
  return marks.map((m) => badge(LABELS[m.reason] ?? m.reason, m.level, m.message));
}

function upstreamCell(count) {
  const text = count.calls === 0 ? 'none' : `${count.calls}${count.failures > 0 ? ` (${count.failures} failed)` : ''}`;
  const title = count.lastAt ? `last: ${count.lastOutcome} at ${count.lastAt}` : undefined;
  return el('td', { 'data-col': 'upstream', class: count.failures > 0 ? 'failed' : undefined, title }, text);
}

function errorCell(error) {
  if (!error) return el('td', { 'data-col': 'error', class: 'none' }, '—');
  return el(
    'td',
    { 'data-col': 'error', class: 'error', title: error.message },
    el('code', {}, error.code),
    error.platformCode === undefined ? '' : ` (${error.platformCode})`,
    el('div', { class: 'message' }, error.message),
    el('div', { class: 'when' }, `at ${clock(error.at)}${error.retryAt ? `, retry at ${clock(error.retryAt)}` : ''}`),
  );
}

function ticketText(ticket) {
  if (!ticket.present) return `${ticket.name}: ${ticket.refused ? 'refused' : 'none yet'}`;
  return `${ticket.name}: ${ticket.ageSeconds === undefined ? 'kept' : `${duration(ticket.ageSeconds * 1000)} old`}`;
}

function tokenRow(app, token, first) {
  const marks = token.attention;
  const level = marks.some((m) => m.level === 'error') ? 'error' : marks.length > 0 ? 'warning' : 'ok';
  const appCell = el(
    'td',
    { 'data-col': 'app', class: 'app' },
    first
      ? [
          el('strong', {}, app.id),
          el('div', { class: 'platform' }, app.platform),
          app.health?.ticket ? el('div', { class: 'ticket', 'data-ticket': true }, ticketText(app.health.ticket)) : undefined,
          app.health?.grants ? el('div', { class: 'grants' }, `${app.health.grants.count} grants`) : undefined,
          ...attentionBadges(app.attention),
        ]
      : [],
  );
  const state = [];
  if (token.refreshing === true || token.refreshing > 0) state.push(badge(token.tenantScoped ? `${token.refreshing} refreshing` : 'refreshing', 'info'));
  state.push(...attentionBadges(marks));
  if (state.length === 0) state.push(badge(token.expiresAt || token.valid > 0 ? 'ok' : 'not fetched yet', token.expiresAt || token.valid > 0 ? 'ok' : 'idle'));
  const row = el('tr', { 'data-app': app.id, 'data-kind': token.kind, 'data-level': level, class: `${first ? 'first ' : ''}${level}` });
  if (token.tenantScoped) {
    row.append(
      appCell,
      el('td', { 'data-col': 'kind' }, el('code', {}, token.kind), el('div', { class: 'tenants' }, `per tenant: ${token.tenants} (${token.valid} valid${token.failing ? `, ${token.failing} failing` : ''})`)),
      timeCell(token.nextExpiresAt, 'left', 'left'),
      el('td', { 'data-col': 'expires', title: token.nextExpiresAt }, token.nextExpiresAt ? `first at ${clock(token.nextExpiresAt)}` : '—'),
      el('td', { 'data-col': 'last', class: 'none' }, '—'),
      el('td', { 'data-col': 'next', class: 'none' }, '—'),
      upstreamCell(token.upstream),
      el('td', { 'data-col': 'error', class: 'none' }, token.failing ? `${token.failing} failing` : '—'),
      el('td', { 'data-col': 'state' }, state),
    );
  } else {
    row.append(
      appCell,
      el('td', { 'data-col': 'kind' }, el('code', {}, token.kind)),
      timeCell(token.expiresAt, 'left', 'left'),
      el('td', { 'data-col': 'expires', title: token.expiresAt }, token.expiresAt ? clock(token.expiresAt) : '—'),
      timeCell(token.lastRefreshAt, 'ago', 'last'),
      timeCell(token.nextRefreshAt, 'in', 'next'),
      upstreamCell(token.upstream),
      errorCell(token.lastError),
      el('td', { 'data-col': 'state' }, state),
    );
  }
  return row;
}

function show(next) {
  status = next;
  skewMs = Date.parse(next.now) - Date.now();
  const only = $('only').checked;
  $('version').textContent = `v${next.version}`;
  const store = next.store;
  $('store').replaceChildren(
    `${store.type}, `,
    badge(store.reachable ? 'reachable' : 'unreachable', store.reachable ? 'ok' : 'error', store.lastError ? `last error at ${store.lastError.at}: ${store.lastError.message}` : undefined),
    store.lastError ? el('span', { class: 'when' }, ` last error ${clock(store.lastError.at)}: ${store.lastError.message}`) : '',
  );
  $('apps-count').textContent = String(next.apps.length);
  const { errors, warnings } = next.attention;
  $('attention-count').replaceChildren(
    errors + warnings === 0 ? badge('nothing', 'ok') : '',
    errors > 0 ? badge(`${errors} error${errors === 1 ? '' : 's'}`, 'error') : '',
    warnings > 0 ? badge(`${warnings} warning${warnings === 1 ? '' : 's'}`, 'warning') : '',
  );
  $('updated').textContent = clock(next.now);
  const tbody = document.querySelector('#tokens tbody');
  const shown = new Map([...tbody.children].map((tr) => [tr.dataset.key, tr]));
  const rows = [];
  for (const app of next.apps) {
    const tokens = only ? app.tokens.filter((t) => t.attention.length > 0 || app.attention.length > 0) : app.tokens;
    tokens.forEach((token, i) => {
      // A row whose data did not change is kept as it is: a tooltip or a selection in it stays.
      const key = `${app.id}\n${token.kind}`;
      const sig = JSON.stringify([token, i === 0 ? [app.platform, app.health, app.attention] : null]);
      const old = shown.get(key);
      if (old?.dataset.sig === sig) return rows.push(old);
      const row = tokenRow(app, token, i === 0);
      row.dataset.key = key;
      row.dataset.sig = sig;
      rows.push(row);
    });
  }
  const current = [...tbody.children];
  if (rows.length === current.length && rows.every((row, i) => row.dataset.key === current[i].dataset.key)) {
    rows.forEach((row, i) => row !== current[i] && current[i].replaceWith(row));
  } else {
    tbody.replaceChildren(...rows);
  }
  $('empty').hidden = rows.length > 0;
  tick();
}

// ---- start ----------------------------------------------------------------------------------

if (key) void signIn(key);
else showLogin();
