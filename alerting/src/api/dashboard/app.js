// The sharpeyes operator dashboard: no external assets, no build step. It talks to /api/v1 with the
// bearer token the person signs in with (kept in sessionStorage for this tab only) and follows case
// changes on /api/v1/stream (common.js). The map view is map.js's GridMap.
'use strict';

const LABELS = {
  zh: {
    'title': '雪亮工程 · 网格事项', 'tab.cases': '事项', 'tab.grids': '网格', 'tab.cameras': '摄像头', 'tab.tuning': '调参',
    'live.on': '实时', 'live.off': '未连接', 'signout': '退出', 'signin.title': '登录', 'signin.token': '访问令牌',
    'signin.submit': '登录', 'signin.bad': '令牌无效', 'filter.status': '状态', 'filter.any': '全部', 'filter.grid': '网格',
    'filter.clear': '清除', 'col.category': '类别', 'col.grid': '网格', 'col.source': '来源', 'col.status': '状态',
    'col.urgency': '紧急程度', 'col.opened': '上报时间', 'col.deadline': '时限', 'more': '更多',
    'detail.none': '选择一条事项查看详情', 'detail.code': '编码', 'detail.place': '位置', 'detail.objects': '目标数',
    'detail.first_seen': '首次发现', 'detail.confirmed': '确认时间', 'detail.deadline': '处置时限',
    'detail.responsible': '责任部门', 'detail.duplicate_of': '重复于', 'detail.evidence': '证据',
    'detail.timeline': '流程记录', 'detail.whistles': '吹哨', 'detail.note': '备注', 'detail.no_actions': '当前角色无可执行操作',
    'whistle.blow': '吹哨', 'whistle.due': '报到时限', 'whistle.reported': '已报到', 'whistle.waiting': '待报到',
    'grid.level': '层级', 'grid.open': '在办', 'grid.supervised': '督办', 'grid.total': '合计',
    'level.district': '区', 'level.street': '街道', 'level.community': '社区', 'level.cell': '网格',
    'camera.frames': '帧', 'camera.node': '边缘节点', 'camera.dropped': '丢弃', 'camera.interval': '分析间隔', 'camera.asked': '要求', 'camera.restarts': '重连', 'camera.last_frame': '最新帧',
    'tuning.camera': '摄像头', 'tuning.zone': '区域', 'tuning.kind': '类型', 'tuning.classes': '类别',
    'tuning.min_score': '最低分', 'tuning.active': '时段', 'tuning.class': '目标', 'tuning.score': '分数', 'tuning.box': '框',
    'tuning.none': '尚无分析帧', 'tuning.add': '添加区域', 'tuning.add_mask': '添加遮罩', 'tuning.delete_mask': '删除遮罩',
    'tuning.pick_zone': '先选一个区域', 'tuning.pick_mask': '先选一个遮罩', 'tuning.preview': '预览', 'tuning.save': '保存',
    'tuning.reset': '恢复文件配置', 'tuning.area': '面积', 'tuning.dwell': '停留秒', 'tuning.source.file': '来源：配置文件', 'tuning.source.api': '来源：接口修改',
    'tuning.draft': '未保存的修改', 'tuning.saved': '已保存并生效', 'tuning.hint': '拖动顶点、区域或遮罩移动；双击顶点删除；双击边添加顶点；遮罩内不计',
    'tuning.previewed': (p) => `最近 ${p.frames} 帧：${p.zones.map((z) => `${z.zone} ${z.frames} 帧有目标`).join('，')}；规则将确认 ${p.cases.length} 起违规`,
    'supervised': '督办', 'extension': '申请延期中', 'role': '角色',
    'detail.owner': '负责人', 'detail.unowned': '无人认领', 'detail.unacknowledged': '待确认', 'detail.escalation': '升级',
    'ack': '认领', 'hand_over': '移交', 'hand_over.to': '移交给（令牌名）',
    'filter.plate': '车牌', 'col.plate': '车牌', 'detail.plate': '车牌', 'detail.same_plate': '同车牌事项',
    'tab.stats': '统计', 'stats.days': '最近天数', 'stats.csv': '导出 CSV', 'stats.per_day': '每日新增事项（按类别）',
    'stats.overdue': '各街道在办超期事项', 'stats.departments': '部门处置（按期处置率从低到高）', 'stats.department': '部门',
    'stats.closed': '结案', 'stats.on_time': '按期处置率', 'stats.reopened': '返工率', 'stats.close_p50': '结案用时中位数',
    'stats.open': '在办', 'stats.overdue_now': '超期', 'stats.quality': '摄像头区域准确率（从低到高，点击调参）',
    'stats.cases': '事项', 'stats.verified': '核实', 'stats.false': '误报', 'stats.precision': '准确率', 'stats.none': '无数据',
    'tab.map': '地图', 'map.none': '没有网格边界：请配置 cases.grid_polygons', 'map.unplaced': '无法定位的事项',
    'map.hint': '点击网格筛选事项，点击标记查看事项，点击摄像头查看最新画面；滚轮缩放，拖动平移', 'map.frame': '最新画面',
  },
  en: {
    'title': 'Sharp Eyes · grid cases', 'tab.cases': 'Cases', 'tab.grids': 'Grids', 'tab.cameras': 'Cameras', 'tab.tuning': 'Tuning',
    'live.on': 'live', 'live.off': 'offline', 'signout': 'Sign out', 'signin.title': 'Sign in', 'signin.token': 'Access token',
    'signin.submit': 'Sign in', 'signin.bad': 'Token not accepted', 'filter.status': 'Status', 'filter.any': 'any',
    'filter.grid': 'Grid', 'filter.clear': 'Clear', 'col.category': 'Category', 'col.grid': 'Grid', 'col.source': 'Source',
    'col.status': 'Status', 'col.urgency': 'Urgency', 'col.opened': 'Reported', 'col.deadline': 'Deadline', 'more': 'More',
    'detail.none': 'Select a case to see it', 'detail.code': 'Code', 'detail.place': 'Place', 'detail.objects': 'Objects',
    'detail.first_seen': 'First seen', 'detail.confirmed': 'Confirmed', 'detail.deadline': 'Deadline',
    'detail.responsible': 'Responsible', 'detail.duplicate_of': 'Duplicate of', 'detail.evidence': 'Evidence',
    'detail.timeline': 'Timeline', 'detail.whistles': 'Whistles', 'detail.note': 'Note',
    'detail.no_actions': 'Nothing for your role to do here', 'whistle.blow': 'Whistle', 'whistle.due': 'Report in by',
    'whistle.reported': 'reported in', 'whistle.waiting': 'waiting', 'grid.level': 'Level', 'grid.open': 'Open',
    'grid.supervised': 'Supervised', 'grid.total': 'Total', 'level.district': 'district', 'level.street': 'street',
    'level.community': 'community', 'level.cell': 'cell', 'camera.frames': 'frames', 'camera.node': 'edge node', 'camera.dropped': 'dropped', 'camera.interval': 'analysed every', 'camera.asked': 'asked',
    'camera.restarts': 'restarts', 'camera.last_frame': 'last frame', 'tuning.camera': 'Camera', 'tuning.zone': 'Zone',
    'tuning.kind': 'Kind', 'tuning.classes': 'Classes', 'tuning.min_score': 'Min score', 'tuning.active': 'Active',
    'tuning.class': 'Class', 'tuning.score': 'Score', 'tuning.box': 'Box', 'tuning.none': 'No analysed frame yet',
    'tuning.add': 'Add zone', 'tuning.add_mask': 'Add mask', 'tuning.delete_mask': 'Delete mask',
    'tuning.pick_zone': 'pick a zone first', 'tuning.pick_mask': 'pick a mask first', 'tuning.preview': 'Preview', 'tuning.save': 'Save', 'tuning.reset': 'Back to the file',
    'tuning.area': 'Area', 'tuning.dwell': 'Dwell s', 'tuning.source.file': 'from the configuration file', 'tuning.source.api': 'changed through the API',
    'tuning.draft': 'unsaved changes', 'tuning.saved': 'saved and in force', 'tuning.hint': 'Drag a corner, a zone or a mask to move it; double-click a corner to remove it, an edge to add one; nothing in a mask counts',
    'tuning.previewed': (p) => `last ${p.frames} frames: ${p.zones.map((z) => `${z.zone} counted in ${z.frames}`).join(', ')}; the rules would confirm ${p.cases.length} violations`,
    'supervised': 'supervised', 'extension': 'extension requested', 'role': 'role',
    'detail.owner': 'Owner', 'detail.unowned': 'nobody', 'detail.unacknowledged': 'not acknowledged yet',
    'detail.escalation': 'Escalation', 'ack': 'Acknowledge', 'hand_over': 'Hand over', 'hand_over.to': 'hand over to (token name)',
    'filter.plate': 'Plate', 'col.plate': 'Plate', 'detail.plate': 'Plate', 'detail.same_plate': 'Same plate',
    'tab.stats': 'Statistics', 'stats.days': 'Last days', 'stats.csv': 'Export CSV', 'stats.per_day': 'Cases reported per day, by category',
    'stats.overdue': 'Open cases past their deadline, per street', 'stats.departments': 'Departments (on-time rate, worst first)',
    'stats.department': 'Department', 'stats.closed': 'Closed', 'stats.on_time': 'On time', 'stats.reopened': 'Re-opened',
    'stats.close_p50': 'Median time to close', 'stats.open': 'Open', 'stats.overdue_now': 'Overdue',
    'stats.quality': 'Camera zone precision (worst first; click to tune)', 'stats.cases': 'Cases', 'stats.verified': 'Verified',
    'stats.false': 'False detections', 'stats.precision': 'Precision', 'stats.none': 'no data',
    'tab.map': 'Map', 'map.none': 'No grid areas: configure cases.grid_polygons', 'map.unplaced': 'Cases without a place',
    'map.hint': 'Click a grid to filter the list, a marker to open its case, a camera for its latest frame; wheel to zoom, drag to pan',
    'map.frame': 'Latest frame',
  },
};
const state = {
  token: sessionStorage.getItem('sharpeyes.token'),
  me: null,
  lang: localStorage.getItem('sharpeyes.lang') || 'zh',
  view: 'cases',
  selected: null,
  oldest: null,
  stream: null,
  timers: [],
};

const $ = (selector, root = document) => root.querySelector(selector);
const text = (key) => LABELS[state.lang][key] ?? key;
const term = (word) => (word && TERMS[state.lang][word]) || (word ?? '').replaceAll('_', ' ');
const when = (iso) => (iso ? new Date(iso).toLocaleString(state.lang === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false }) : '—');

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${state.token}`, ...(options.body ? { 'Content-Type': 'application/json' } : {}) },
  });
  if (response.status === 401) { signOut(); throw new ApiError(401, text('signin.bad')); }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new ApiError(response.status, body.error || response.statusText);
  }
  return response;
}
const getJson = async (path) => (await api(path)).json();

async function imageUrl(path) {
  const blob = await (await api(path)).blob();
  return URL.createObjectURL(blob);
}

// Shows an API image in `img`; its object URL is released once the picture is decoded.
function showImage(img, path) {
  imageUrl(path).then((url) => {
    img.addEventListener('load', () => URL.revokeObjectURL(url), { once: true });
    img.src = url;
  }).catch(() => {});
}

// ---- language ----

function applyLanguage() {
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = text(node.dataset.i18n);
  $('#lang').textContent = state.lang === 'zh' ? 'English' : '中文';
  for (const option of $('#filter-status').options) if (option.value) option.textContent = term(option.value);
  if (state.me) showWho();
}

// ---- sign in ----

async function signIn(token) {
  state.token = token;
  const response = await fetch('/api/v1/me', { headers: { Authorization: `Bearer ${token}` } });
  if (!response.ok) { state.token = null; throw new ApiError(response.status, text('signin.bad')); }
  state.me = await response.json();
  sessionStorage.setItem('sharpeyes.token', token);
  $('#signin-view').hidden = true;
  $('#tabs').hidden = false;
  $('#signout').hidden = false;
  showWho();
  showView('cases');
  followStream();
}

function signOut() {
  sessionStorage.removeItem('sharpeyes.token');
  state.token = null;
  state.me = null;
  state.stream?.abort();
  location.reload();
}

function showWho() {
  $('#who').textContent = `${state.me.name} · ${term(state.me.role)}`;
  $('#who').dataset.role = state.me.role;
}

// ---- views ----

function showView(view) {
  state.view = view;
  for (const button of document.querySelectorAll('#tabs button')) button.classList.toggle('active', button.dataset.view === view);
  for (const section of document.querySelectorAll('.view')) section.hidden = section.id !== `${view}-view`;
  state.timers.forEach(clearInterval);
  state.timers = [];
  const every = (ms, fn) => { fn(); state.timers.push(setInterval(fn, ms)); };
  if (view === 'cases') loadCases();
  if (view === 'grids') every(10000, loadGrids);
  if (view === 'cameras') every(5000, loadCameras);
  if (view === 'tuning') loadTuningCameras().then(() => every(2000, drawTuning));
  if (view === 'stats') every(30000, loadStats);
  if (view === 'map') { state.gridMap = newGridMap(); every(10000, loadMap); }
}

// ---- cases ----

function caseQuery(before) {
  const query = new URLSearchParams({ limit: '50' });
  const status = $('#filter-status').value;
  const grid = $('#filter-grid').value.trim();
  const plate = $('#filter-plate').value.trim().toUpperCase();
  if (status) query.set('status', status);
  if (grid) query.set('grid', grid);
  if (plate) query.set('plate', plate);
  if (before) query.set('before', before);
  return query;
}

function matchesFilter(item) {
  const status = $('#filter-status').value;
  const grid = $('#filter-grid').value.trim();
  const plate = $('#filter-plate').value.trim().toUpperCase();
  return (!status || item.status === status) && (!grid || item.grid.startsWith(grid))
    && (!plate || (item.plate ?? '').startsWith(plate));
}

async function loadCases(more = false) {
  const cases = await getJson(`/api/v1/cases?${caseQuery(more ? state.oldest : null)}`);
  const body = $('#case-list tbody');
  if (!more) body.replaceChildren();
  for (const item of cases) body.append(caseRow(item));
  if (cases.length) state.oldest = cases[cases.length - 1].id;
  $('#more').hidden = cases.length < 50;
}

function caseRow(item) {
  const overdue = item.deadline_at && new Date(item.deadline_at) < new Date() && !['closed', 'evaluated', 'voided'].includes(item.status);
  return el('tr', { 'data-case': item.id, 'data-status': item.status, class: item.id === state.selected ? 'selected' : '',
    onclick: () => selectCase(item.id) },
  el('td', {}, item.id),
  el('td', {}, `${item.code} ${term(item.category)}`),
  el('td', {}, item.grid),
  el('td', {}, item.camera || item.device || term(item.source)),
  el('td', { class: 'plate' }, item.plate ?? ''),
  el('td', {}, el('span', { class: `badge ${item.status}` }, term(item.status)), item.supervised ? el('span', { class: 'badge supervised' }, text('supervised')) : null),
  el('td', {}, el('span', { class: `badge ${item.urgency}` }, term(item.urgency))),
  el('td', {}, when(item.opened_at)),
  el('td', { class: overdue ? 'overdue' : '' }, when(item.deadline_at)));
}

function upsertRow(item) {
  const body = $('#case-list tbody');
  const old = body.querySelector(`tr[data-case="${item.id}"]`);
  if (!matchesFilter(item)) { old?.remove(); return; }
  const row = caseRow(item);
  if (old) { old.replaceWith(row); return; }
  row.classList.add('fresh');
  const after = [...body.rows].find((r) => Number(r.dataset.case) < item.id);
  body.insertBefore(row, after ?? null);
}

async function selectCase(id) {
  state.selected = id;
  for (const row of document.querySelectorAll('#case-list tbody tr')) row.classList.toggle('selected', Number(row.dataset.case) === id);
  const detail = await getJson(`/api/v1/cases/${id}`);
  if (state.selected === id) renderDetail(detail);
}

function renderDetail(d) {
  const pane = $('#case-detail');
  const field = (key, value) => [el('dt', {}, text(key)), el('dd', {}, value)];
  const evidence = el('div', { class: 'evidence' });
  for (const item of d.evidence) {
    const img = el('img', { alt: `evidence ${item.index}`, 'data-evidence': item.index });
    showImage(img, `/api/v1/cases/${d.id}/evidence/${item.index}`);
    evidence.append(el('figure', {}, img, el('figcaption', {}, `#${item.index} · ${when(item.captured_at)}`)));
  }
  // A live update re-renders the detail: keep what the person was typing.
  const typed = $('#case-detail h2')?.dataset.case === String(d.id) ? $('#action-note')?.value ?? '' : '';
  const note = el('input', { id: 'action-note', placeholder: text('detail.note'), maxlength: 4000, value: typed });
  const error = el('p', { class: 'error', role: 'alert', id: 'action-error' });
  // Voiding takes a reason (required for camera cases): it feeds each zone's precision.
  const reason = d.actions.includes('void')
    ? el('select', { id: 'void-reason' }, ...['false_detection', 'not_a_violation', 'duplicate', 'other'].map((r) => el('option', { value: r }, term(r))))
    : null;
  const actions = el('div', { class: 'actions' },
    d.actions.length ? d.actions.map((action) => el('button', { 'data-action': action, onclick: () => act(d.id, action, note.value, error, action === 'void' ? reason.value : undefined) }, term(action)))
      : el('span', { class: 'hint' }, text('detail.no_actions')),
    d.actions.length ? note : null, reason);
  const whistle = d.may_whistle && d.responsible.length ? whistleForm(d, error) : null;
  const ownership = ownershipForm(d, error);
  pane.replaceChildren(...[
    el('h2', { 'data-case': d.id }, `#${d.id} ${d.code} ${term(d.category)} `, el('span', { class: `badge ${d.status}`, id: 'detail-status', 'data-status': d.status }, term(d.status)),
      d.supervised ? el('span', { class: 'badge supervised' }, text('supervised')) : null,
      d.extension_requested ? el('span', { class: 'badge' }, text('extension')) : null),
    el('dl', { class: 'fields' },
      field('col.grid', d.grid), field('col.source', `${term(d.source)} ${d.camera || d.device} ${d.zone}`),
      field('col.urgency', term(d.urgency)), field('detail.objects', d.object_count),
      field('detail.first_seen', when(d.first_seen_at)), field('detail.confirmed', when(d.confirmed_at)),
      field('detail.deadline', when(d.deadline_at)), field('detail.responsible', d.responsible.join(', ') || '—'),
      field('detail.owner', d.owner ? `${d.owner}${d.acknowledged_at ? ` · ${when(d.acknowledged_at)}` : ` (${text('detail.unacknowledged')})`}` : text('detail.unowned')),
      d.escalation_level ? field('detail.escalation', d.escalation_level) : [],
      d.duplicate_of ? field('detail.duplicate_of', `#${d.duplicate_of}`) : [],
      d.plate ? field('detail.plate', el('span', { class: 'plate', id: 'detail-plate' }, `${d.plate} (${d.plate_score.toFixed(2)})`)) : [],
      d.same_plate?.length ? field('detail.same_plate', d.same_plate.map((c) => el('a', { href: '#', 'data-case': c.id,
        onclick: (event) => { event.preventDefault(); selectCase(c.id); } }, `#${c.id} ${term(c.status)} ${when(c.opened_at)} `))) : []),
    actions, ownership, error, whistle,
    el('h3', {}, text('detail.evidence')), evidence,
    d.whistles.length ? [el('h3', {}, text('detail.whistles')), el('ul', {}, d.whistles.map((w) => el('li', {},
      `${term(w.level)} · ${w.called_by} · ${when(w.called_at)}: `,
      w.calls.map((c) => `${c.department} (${c.reported_at ? text('whistle.reported') : `${text('whistle.waiting')}, ${text('whistle.due')} ${when(c.due_at)}`}) `))))] : [],
    el('h3', {}, text('detail.timeline')),
    el('ol', { class: 'timeline' }, d.events.map((e) => el('li', {}, el('time', {}, when(e.at)),
      `${term(e.action)} · ${e.actor} (${term(e.role)}) ${e.from_status ? `${term(e.from_status)} → ` : ''}${term(e.to_status)}${e.note ? ` — ${e.note}` : ''}`))),
  ].flat().filter(Boolean));
}

function ownershipForm(d, error) {
  if (!d.may_acknowledge && !d.may_hand_over) return null;
  const post = (what, body) => async () => {
    error.textContent = '';
    try {
      await api(`/api/v1/cases/${d.id}/${what}`, { method: 'POST', body: JSON.stringify(body()) });
      await selectCase(d.id);
    } catch (e) { error.textContent = e.message; }
  };
  const to = el('input', { id: 'hand-over-to', placeholder: text('hand_over.to') });
  return el('div', { class: 'actions' },
    d.may_acknowledge ? el('button', { 'data-ownership': 'acknowledge', onclick: post('acknowledge', () => ({})) }, text('ack')) : null,
    d.may_hand_over ? [to, el('button', { 'data-ownership': 'hand_over', onclick: post('hand_over', () => ({ to: to.value.trim() })) }, text('hand_over'))] : null);
}

function whistleForm(d, error) {
  const level = el('select', { id: 'whistle-level' }, ['ordinary', 'major', 'urgent'].map((l) => el('option', { value: l }, term(l))));
  return el('div', { class: 'actions' }, level,
    el('button', { 'data-whistle': true, onclick: async () => {
      try {
        await api(`/api/v1/cases/${d.id}/whistles`, { method: 'POST', body: JSON.stringify({ level: level.value, departments: d.responsible }) });
        selectCase(d.id);
      } catch (e) { error.textContent = e.message; }
    } }, `${text('whistle.blow')} → ${d.responsible.join(', ')}`));
}

async function act(id, action, note, error, reason) {
  error.textContent = '';
  try {
    await api(`/api/v1/cases/${id}/actions`, { method: 'POST', body: JSON.stringify({ action, note, reason }) });
    await selectCase(id);
  } catch (e) { error.textContent = e.message; }
}

// ---- the live stream ----

// Follows /api/v1/stream (common.js) for as long as this tab is signed in.
function followStream() {
  const controller = new AbortController();
  state.stream = controller;
  followCaseStream({
    token: () => state.token,
    signal: controller.signal,
    onUnauthorized: signOut,
    onLive: setLive,
    // Connected: the stream now holds every change from here on, so the list can be (re)loaded.
    onConnect: () => { if (state.view === 'cases') loadCases(); },
    onEntry: onCaseChange,
  });
}

function setLive(on) {
  const badge = $('#live');
  badge.className = `live ${on ? 'on' : 'off'}`;
  badge.dataset.i18n = on ? 'live.on' : 'live.off';
  badge.textContent = text(badge.dataset.i18n);
}

async function onCaseChange(entry) {
  if (state.view !== 'cases' && state.view !== 'map') return;
  const item = await getJson(`/api/v1/cases/${entry.case_id}`).catch(() => null);
  if (!item) return;
  if (state.view === 'map') { state.gridMap.upsertCase(item, true); reloadMapGrids(); return; }
  upsertRow(item);
  if (state.selected === entry.case_id) renderDetail(item);
}

// ---- grids ----

const LEVEL_DEPTH = { district: 0, street: 1, community: 2, cell: 3 };

async function loadGrids() {
  const nodes = await getJson('/api/v1/grids');
  $('#grid-tree tbody').replaceChildren(...nodes.map((n) => el('tr', { class: `grid-level-${LEVEL_DEPTH[n.level] ?? 0}`, 'data-grid': n.code,
    onclick: () => { $('#filter-grid').value = n.code; showView('cases'); } },
  el('td', {}, `${n.code} ${n.name}`), el('td', {}, text(`level.${n.level}`)), el('td', {}, n.open),
  el('td', { class: n.supervised ? 'overdue' : '' }, n.supervised), el('td', {}, n.total))));
}

// ---- map ----

function newGridMap() {
  return new GridMap($('#grid-map'), {
    term,
    words: { none: text('map.none'), unplaced: text('map.unplaced') },
    onGrid: (code) => { $('#filter-grid').value = code; showView('cases'); },
    onCase: (id) => { showView('cases'); selectCase(id); },
    onCamera: (id) => {
      $('#map-camera').hidden = false;
      $('#map-camera figcaption').textContent = `${id} · ${text('map.frame')}`;
      showImage($('#map-camera img'), `/api/v1/cameras/${encodeURIComponent(id)}/frame`);
    },
  });
}

// The grids' counts after a burst of case changes.
const reloadMapGrids = debounce(() => getJson('/api/v1/grids').then((grids) => state.gridMap?.setGrids(grids)).catch(() => {}), 1000);

// Grids with their counts, cameras and sensors with their health, and the open cases (the newest
// thousand); changes in between arrive on the stream.
async function loadMap() {
  const [grids, places, cases] = await Promise.all([getJson('/api/v1/grids'), getJson('/api/v1/map'),
    getJson('/api/v1/cases?open=true&limit=1000')]);
  state.gridMap.setGrids(grids);
  state.gridMap.setPlaces(places);
  state.gridMap.setCases(cases);
}

// ---- cameras ----

async function loadCameras() {
  const cameras = await getJson('/api/v1/cameras');
  const wall = $('#camera-wall');
  const cards = cameras.map((c) => {
    const card = el('article', { class: `camera ${c.state}`, 'data-camera': c.id },
      el('h3', {}, `${c.id} `, el('span', { class: 'badge' }, term(c.state))),
      el('img', { alt: c.id }),
      c.node ? el('div', { class: 'hint node' }, `${text('camera.node')} ${c.node}`) : null,
      c.url ? el('div', { class: 'hint' }, c.url) : null,
      c.frames == null ? null : el('div', {}, `${text('camera.frames')} ${c.frames} · ${text('camera.dropped')} ${c.frames_dropped} · ${text('camera.restarts')} ${c.restarts}`),
      c.frames == null ? null : el('div', {}, `${text('camera.last_frame')} ${when(c.last_frame_at)}`),
      c.analysis_interval_s == null ? null : el('div', { class: 'pace' },
        `${text('camera.interval')} ${c.analysis_interval_s.toFixed(1)} s · ${text('camera.asked')} ${(c.target_interval_s ?? 0).toFixed(1)} s · ${Math.round((c.keep_up ?? 1) * 100)}%`),
      c.last_error ? el('div', { class: 'error' }, c.last_error) : null);
    const img = card.querySelector('img');
    if (c.last_frame_at) showImage(img, `/api/v1/cameras/${encodeURIComponent(c.id)}/frame`);
    return card;
  });
  wall.replaceChildren(...cards);
}

// ---- statistics ----

// The window the statistics view shows: the chosen number of days up to now.
function statsWindow() {
  const until = new Date();
  return { since: new Date(until.getTime() - Number($('#stats-days').value) * 86400000), until };
}

function statsQuery(groupBy, format) {
  const { since, until } = statsWindow();
  const query = new URLSearchParams({ since: since.toISOString(), until: until.toISOString(), group_by: groupBy });
  const grid = $('#stats-grid').value.trim();
  if (grid) query.set('grid', grid);
  if (format) query.set('format', format);
  return `/api/v1/stats?${query}`;
}

const percent = (share) => (share === null || share === undefined ? '—' : `${Math.round(share * 100)}%`);
const hours = (seconds) => (seconds === null || seconds === undefined ? '—' : `${(seconds / 3600).toFixed(1)} h`);

async function loadStats() {
  $('#stats-error').textContent = '';
  try {
    if (!state.gridNames) state.gridNames = (await getJson('/api/v1/grids')).map((g) => [g.code, g.name]);
    const [trend, grids, departments] = await Promise.all(['day,category', 'grid', 'department']
      .map((groupBy) => getJson(statsQuery(groupBy))));
    drawTrendChart($('#stats-trend'), trend.rows, { term, none: text('stats.none') });
    drawOverdueChart($('#stats-overdue'), grids.rows, new Map(state.gridNames), text('stats.none'));
    const worst = (r) => (r.on_time_rate ?? 2);
    $('#stats-departments tbody').replaceChildren(...departments.rows.sort((a, b) => worst(a) - worst(b)).map((r) =>
      el('tr', { 'data-department': r.key[0] }, el('td', {}, r.key[0]), el('td', {}, r.closed),
        el('td', { class: r.on_time_rate !== null && r.on_time_rate < 0.9 ? 'overdue' : '' }, percent(r.on_time_rate)),
        el('td', {}, percent(r.reopened_rate)), el('td', {}, hours(r.to_close_p50_s)), el('td', {}, r.open_at_end),
        el('td', { class: r.overdue_at_end ? 'overdue' : '' }, r.overdue_at_end))));
  } catch (e) { $('#stats-error').textContent = e.message; }
  // Camera zones' precision: roles that see cameras only.
  const { since, until } = statsWindow();
  const quality = await getJson(`/api/v1/quality?since=${since.toISOString()}&until=${until.toISOString()}`).catch(() => null);
  $('#stats-quality').hidden = !quality;
  if (!quality) return;
  $('#stats-quality tbody').replaceChildren(...quality.zones.map((z) => el('tr', { 'data-camera': z.camera, 'data-zone': z.zone,
    onclick: async () => { showView('tuning'); await loadTuningCameras(); $('#tuning-camera').value = z.camera; drawTuning(); } },
  el('td', {}, z.camera), el('td', {}, z.zone), el('td', {}, term(z.category)), el('td', {}, z.cases), el('td', {}, z.verified),
  el('td', {}, z.voided?.false_detection ?? 0), el('td', { class: z.precision !== null && z.precision < 0.8 ? 'overdue' : '' }, percent(z.precision)))));
}

// Fetches `path` with the token and hands it to the browser as the file `name`.
async function download(path, name) {
  const blob = await (await api(path)).blob();
  const link = el('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

const today = () => new Date().toISOString().slice(0, 10);
const downloadStats = () => download(statsQuery('day,category', 'csv'), `sharpeyes-stats-${today()}.csv`);

// The case list's filters, every matching case, as a CSV or XLSX file.
function downloadCases(format) {
  const query = caseQuery();
  query.delete('limit');
  query.set('format', format);
  return download(`/api/v1/cases/export?${query}`, `sharpeyes-cases-${today()}.${format}`);
}

// ---- wiring ----

document.addEventListener('DOMContentLoaded', () => {
  for (const status of ['reported', 'filed', 'dispatched', 'handling', 'feedback', 'returned', 'suspended', 'closed', 'evaluated', 'voided']) {
    $('#filter-status').append(el('option', { value: status }, term(status)));
  }
  applyLanguage();
  $('#lang').addEventListener('click', () => {
    state.lang = state.lang === 'zh' ? 'en' : 'zh';
    localStorage.setItem('sharpeyes.lang', state.lang);
    applyLanguage();
    if (state.me) showView(state.view);
    if (state.selected) selectCase(state.selected);
  });
  $('#signin').addEventListener('submit', (event) => {
    event.preventDefault();
    $('#signin-error').textContent = '';
    signIn($('#token').value.trim()).catch((e) => { $('#signin-error').textContent = e.message; });
  });
  $('#signout').addEventListener('click', signOut);
  for (const button of document.querySelectorAll('#tabs button')) button.addEventListener('click', () => showView(button.dataset.view));
  $('#filter-status').addEventListener('change', () => loadCases());
  $('#filter-grid').addEventListener('change', () => loadCases());
  $('#filter-plate').addEventListener('change', () => loadCases());
  $('#filter-clear').addEventListener('click', () => {
    $('#filter-status').value = ''; $('#filter-grid').value = ''; $('#filter-plate').value = ''; loadCases();
  });
  $('#more').addEventListener('click', () => loadCases(true));
  for (const format of ['csv', 'xlsx']) $(`#export-${format}`).addEventListener('click', () => downloadCases(format).catch(() => {}));
  wireTuning();
  $('#stats-days').addEventListener('change', loadStats);
  $('#stats-grid').addEventListener('change', loadStats);
  $('#stats-csv').addEventListener('click', () => downloadStats().catch((e) => { $('#stats-error').textContent = e.message; }));
  // A token kept in this tab signs in again; the form stays hidden while it is checked.
  if (state.token) {
    $('#signin-view').hidden = true;
    signIn(state.token).catch(() => signOut());
  }
});
