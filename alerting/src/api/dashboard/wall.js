// The wall screen of a command center (/wall): the map, the trends and the newest cases in turn, in
// large type, Chinese unless `?lang=en`. It needs only a viewer token, kept in this browser (a wall
// screen restarts unattended) and also taken from `#token=...` once, so that a kiosk can be set up
// with one URL. It survives a lost connection: the stream reconnects by itself, and meanwhile the
// page says "offline" with the time of its last update. `?cycle=N` shows each panel N seconds
// (default 20), `?panel=map|trends|newest` shows one only.
'use strict';

const WALL_LABELS = {
  zh: {
    'title': '雪亮工程 · 指挥大屏', 'live.on': '实时', 'live.off': '离线', 'live.updated': '最后更新',
    'signin.title': '大屏登录', 'signin.token': '查看令牌', 'signin.submit': '登录', 'signin.bad': '令牌无效',
    'panel.map': '网格地图', 'panel.trends': '趋势', 'panel.newest': '最新事项',
    'figure.opened': '近7日新增', 'figure.closed': '近7日结案', 'figure.open': '在办', 'figure.overdue': '超期',
    'figure.on_time': '按期处置率', 'trend.per_day': '近7日每日新增事项（按类别）', 'trend.overdue': '各街道在办超期事项',
    'newest.title': '最新事项', 'none': '无数据', 'map.none': '没有网格边界：请配置 cases.grid_polygons',
    'map.unplaced': '无法定位的事项', 'supervised': '督办',
  },
  en: {
    'title': 'Sharp Eyes · command center', 'live.on': 'live', 'live.off': 'offline', 'live.updated': 'last update',
    'signin.title': 'Wall screen sign-in', 'signin.token': 'Viewer token', 'signin.submit': 'Sign in',
    'signin.bad': 'Token not accepted', 'panel.map': 'Grid map', 'panel.trends': 'Trends', 'panel.newest': 'Newest cases',
    'figure.opened': 'reported, 7 days', 'figure.closed': 'closed, 7 days', 'figure.open': 'open', 'figure.overdue': 'overdue',
    'figure.on_time': 'on time', 'trend.per_day': 'Cases reported per day, by category (7 days)',
    'trend.overdue': 'Open cases past their deadline, per street', 'newest.title': 'Newest cases', 'none': 'no data',
    'map.none': 'No grid areas: configure cases.grid_polygons', 'map.unplaced': 'Cases without a place', 'supervised': 'supervised',
  },
};
const PANELS = ['map', 'trends', 'newest'];
const TOKEN_KEY = 'sharpeyes.wall.token';
/// How often the figures, the grids and the cases are read again besides the live stream.
const REFRESH_MS = 30000;

const params = new URLSearchParams(location.search);
const wall = {
  token: localStorage.getItem(TOKEN_KEY),
  lang: params.get('lang') === 'en' ? 'en' : 'zh',
  cycleMs: Math.max(5, Number(params.get('cycle')) || 20) * 1000,
  pinned: PANELS.includes(params.get('panel')) ? params.get('panel') : null,
  panel: 0,
  connected: false,
  refreshed: true,
  lastUpdate: null,
  names: new Map(),
  map: null,
  newest: [],
};

const $ = (selector) => document.querySelector(selector);
const label = (key) => WALL_LABELS[wall.lang][key] ?? key;
const term = (word) => (word && TERMS[wall.lang][word]) || (word ?? '').replaceAll('_', ' ');
const clock = (date) => date.toLocaleTimeString(wall.lang === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false });

class Unauthorized extends Error {}

async function getJson(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${wall.token}` } });
  if (response.status === 401) throw new Unauthorized(label('signin.bad'));
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

// ---- connection state ----

function updated() {
  wall.lastUpdate = new Date();
  showLive();
}

function showLive() {
  const on = wall.connected && wall.refreshed;
  const badge = $('#live');
  badge.className = `live ${on ? 'on' : 'off'}`;
  badge.dataset.state = on ? 'on' : 'off';
  const last = wall.lastUpdate ? ` · ${label('live.updated')} ${clock(wall.lastUpdate)}` : '';
  badge.textContent = `${label(on ? 'live.on' : 'live.off')}${on ? '' : last}`;
}

// ---- sign in ----

function askForToken(message = '') {
  wall.token = null;
  localStorage.removeItem(TOKEN_KEY);
  $('#wall-signin').hidden = false;
  $('#signin-error').textContent = message;
  for (const panel of document.querySelectorAll('.panel')) panel.hidden = true;
}

// Signs in with `token` and starts the panels; a server that cannot be reached yet is asked again
// every 5 s (a wall screen often starts before the network), a refused token asks for another.
async function start(token) {
  wall.token = token;
  for (;;) {
    try {
      await getJson('/api/v1/me');
      break;
    } catch (e) {
      if (e instanceof Unauthorized) throw e;
      wall.connected = false;
      showLive();
      await sleep(5000);
    }
  }
  localStorage.setItem(TOKEN_KEY, token);
  $('#wall-signin').hidden = true;
  wall.map = new GridMap($('#wall-map'), {
    term,
    words: { none: label('map.none'), unplaced: label('map.unplaced') },
    size: 1.8,
  });
  showPanel();
  await refresh();
  setInterval(refresh, REFRESH_MS);
  if (!wall.pinned) setInterval(() => { wall.panel = (wall.panel + 1) % PANELS.length; showPanel(); }, wall.cycleMs);
  const controller = new AbortController();
  followCaseStream({
    token: () => wall.token,
    signal: controller.signal,
    onUnauthorized: () => { controller.abort(); askForToken(label('signin.bad')); },
    onLive: (on) => { wall.connected = on; if (on) updated(); else showLive(); },
    // Reconnected after a gap: read everything again rather than trust what was missed.
    onConnect: () => { if (wall.lastUpdate) refresh(); },
    onEntry: onCaseChange,
  });
}

// ---- panels ----

function showPanel() {
  const shown = wall.pinned ?? PANELS[wall.panel];
  for (const name of PANELS) $(`#panel-${name}`).hidden = name !== shown;
  for (const dot of document.querySelectorAll('#wall-panels span')) dot.classList.toggle('active', dot.dataset.panel === shown);
  // The map measures the screen for its tiles once it is visible.
  if (shown === 'map') wall.map?.renderTiles();
}

async function refresh() {
  try {
    const until = new Date();
    const since = new Date(until.getTime() - 7 * 86400000);
    const span = `since=${since.toISOString()}&until=${until.toISOString()}`;
    const [grids, places, open, newest, totals, trend, perGrid] = await Promise.all([
      getJson('/api/v1/grids'), getJson('/api/v1/map'), getJson('/api/v1/cases?open=true&limit=1000'),
      getJson('/api/v1/cases?limit=12'), getJson(`/api/v1/stats?${span}`),
      getJson(`/api/v1/stats?${span}&group_by=day,category`), getJson(`/api/v1/stats?${span}&group_by=grid`),
    ]);
    wall.names = new Map(grids.map((g) => [g.code, g.name]));
    wall.map.setGrids(grids);
    wall.map.setPlaces(places);
    wall.map.setCases(open);
    wall.newest = newest;
    drawNewest();
    const all = totals.rows[0] ?? {};
    $('#figure-opened').textContent = all.opened ?? 0;
    $('#figure-closed').textContent = all.closed ?? 0;
    $('#figure-open').textContent = all.open_at_end ?? 0;
    $('#figure-overdue').textContent = all.overdue_at_end ?? 0;
    $('#figure-on-time').textContent = all.on_time_rate == null ? '—' : `${Math.round(all.on_time_rate * 100)}%`;
    drawTrendChart($('#wall-trend'), trend.rows, { term, none: label('none') });
    drawOverdueChart($('#wall-overdue'), perGrid.rows, wall.names, label('none'));
    wall.refreshed = true;
    updated();
  } catch (e) {
    if (e instanceof Unauthorized) { askForToken(e.message); return; }
    wall.refreshed = false;
    showLive();
  }
}

function drawNewest() {
  $('#wall-newest tbody').replaceChildren(...wall.newest.map((c) => el('tr', { 'data-case': c.id, 'data-status': c.status },
    el('td', {}, `#${c.id}`),
    el('td', {}, el('i', { class: 'swatch', 'data-category': c.category }), term(c.category)),
    el('td', {}, wall.names.get(c.grid) || c.grid),
    el('td', {}, el('span', { class: `badge ${c.status}` }, term(c.status)), c.supervised ? el('span', { class: 'badge supervised' }, label('supervised')) : null),
    el('td', { class: 'plate' }, c.plate ?? ''),
    el('td', {}, clock(new Date(c.opened_at))))));
  for (const swatch of document.querySelectorAll('#wall-newest i.swatch')) swatch.style.background = categoryColor(swatch.dataset.category);
}

// The grids' counts after a burst of case changes.
const reloadGrids = debounce(() => getJson('/api/v1/grids').then((grids) => wall.map.setGrids(grids)).catch(() => {}), 1000);

async function onCaseChange(entry) {
  updated();
  const item = await getJson(`/api/v1/cases/${entry.case_id}`).catch(() => null);
  if (!item) return;
  wall.map.upsertCase(item, true);
  reloadGrids();
  wall.newest = [item, ...wall.newest.filter((c) => c.id !== item.id)].sort((a, b) => b.id - a.id).slice(0, 12);
  drawNewest();
}

// ---- wiring ----

document.addEventListener('DOMContentLoaded', () => {
  document.documentElement.lang = wall.lang === 'zh' ? 'zh-CN' : 'en';
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = label(node.dataset.i18n);
  $('#wall-panels').replaceChildren(...PANELS.map((name) => el('span', { 'data-panel': name }, label(`panel.${name}`))));
  const tick = () => { $('#wall-clock').textContent = clock(new Date()); };
  tick();
  setInterval(tick, 1000);
  // A token in the fragment (never sent to the server) is taken once and removed from the address.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get('token')) {
    wall.token = fragment.get('token');
    history.replaceState(null, '', location.pathname + location.search);
  }
  $('#signin').addEventListener('submit', (event) => {
    event.preventDefault();
    start($('#token').value.trim()).catch((e) => askForToken(e.message));
  });
  if (wall.token) start(wall.token).catch((e) => askForToken(e.message));
  else askForToken();
});
