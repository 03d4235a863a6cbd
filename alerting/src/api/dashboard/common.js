// What the dashboard (app.js) and the wall screen (wall.js) share: the words of the workflow, DOM and
// SVG builders, the live case stream and the statistics charts. No external assets, no build step.
'use strict';

const TERMS = {
  zh: {
    reported: '上报', filed: '立案', voided: '作废', dispatched: '已派遣', handling: '处置中', feedback: '已反馈',
    closed: '结案', evaluated: '已评价', returned: '回退', suspended: '挂账',
    verify: '核实立案', void: '作废', dispatch: '派遣', accept: '受理', return: '回退', request_extension: '申请延期',
    grant_extension: '批准延期', refuse_extension: '驳回延期', suspend: '挂账', resume: '恢复', report_handled: '处置反馈',
    close: '核查结案', reopen: '退回重办', evaluate: '评价', supervise: '督办', report: '上报', whistle: '吹哨', report_in: '报到',
    acknowledge: '认领', escalate: '升级', whistle_missed: '未报到', system: '系统', reporter: '上报渠道',
    plate_read: '读取车牌', plate_erased: '车牌已删除', cleared_seen: '已见清除',
    false_detection: '误报', not_a_violation: '非违规', duplicate: '重复上报', other: '其他原因',
    illegal_parking: '机动车乱停放', litter: '暴露垃圾', illegal_construction: '私搭乱建', manhole_cover: '井盖', stacking: '乱堆物料',
    normal: '一般', urgent: '紧急', critical: '特急', camera: '视频', sensor: '感知设备', citizen: '市民',
    ordinary: '一般', major: '重大', viewer: '查看', operator: '值班员', dispatcher: '派遣员', handler: '处置部门',
    inspector: '核查员', admin: '管理员', no_parking: '禁停区', no_dumping: '禁倒区', construction_watch: '违建监控区',
    streaming: '在线', degraded: '过载降级', stalled: '卡顿', offline: '离线', connecting: '连接中', backoff: '重连等待', failed: '故障', stopped: '已停止', unreachable: '边缘节点不可达',
  },
  en: {},
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// `fn` run once, `ms` after the last of a burst of calls.
function debounce(fn, ms) {
  let timer = null;
  return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const SVG = 'http://www.w3.org/2000/svg';
const CATEGORY_COLORS = ['#3a8ee6', '#e6a23a', '#4fbf7a', '#e65a4f', '#b45ae6', '#5ac8e6'];

// A stable colour per category, the same on the map, its legend and the charts.
function categoryColor(category) {
  let sum = 0;
  for (const ch of category ?? '') sum = (sum * 31 + ch.charCodeAt(0)) % 1009;
  return CATEGORY_COLORS[sum % CATEGORY_COLORS.length];
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

// Follows /api/v1/stream until `signal` aborts, reconnecting every 2 s with Last-Event-ID so that no
// change is missed. The stream is read with fetch so that the token travels in a header, never in a
// URL. `onLive(true|false)` tells whether it is connected, `onConnect()` runs on each connection,
// `onEntry(entry)` gets each case change, `onUnauthorized()` ends it on a 401.
async function followCaseStream({ token, signal, onLive, onConnect, onEntry, onUnauthorized }) {
  let last = null;
  while (!signal.aborted) {
    try {
      const headers = { Authorization: `Bearer ${token()}` };
      if (last) headers['Last-Event-ID'] = last;
      const response = await fetch('/api/v1/stream', { headers, signal });
      if (response.status === 401) { onUnauthorized(); return; }
      if (!response.ok) throw new Error(response.statusText);
      onLive(true);
      onConnect();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replaceAll('\r\n', '\n');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let id = null;
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('id:')) id = line.slice(3).trim();
            else if (line.startsWith('data:')) data += line.slice(5).trimStart();
          }
          if (id) last = id;
          if (data) onEntry(JSON.parse(data));
        }
      }
    } catch (e) {
      if (signal.aborted) return;
    }
    onLive(false);
    await sleep(2000);
  }
}

// A line per category of the cases reported each day (rows of `group_by=day,category`), on one time
// axis; `term` names a category.
function drawTrendChart(chart, rows, { term, none }) {
  const days = [...new Set(rows.map((r) => r.key[0]))].sort();
  const categories = [...new Set(rows.map((r) => r.key[1]))].sort();
  if (!days.length) { chart.replaceChildren(svg('text', { x: 20, y: 40, class: 'hint' }, none)); return; }
  const count = (day, category) => rows.find((r) => r.key[0] === day && r.key[1] === category)?.opened ?? 0;
  const top = Math.max(1, ...rows.map((r) => r.opened));
  const [left, right, y0, y1] = [40, 600, 190, 20];
  const x = (i) => left + (days.length === 1 ? 0 : (i * (right - left)) / (days.length - 1));
  const y = (v) => y0 - (v * (y0 - y1)) / top;
  const parts = [svg('line', { x1: left, y1: y0, x2: right, y2: y0, class: 'axis' }),
    svg('text', { x: 4, y: y1 + 4, class: 'tick' }, top), svg('text', { x: 4, y: y0, class: 'tick' }, 0),
    svg('text', { x: left, y: 212, class: 'tick' }, days[0]),
    svg('text', { x: right, y: 212, class: 'tick', 'text-anchor': 'end' }, days[days.length - 1])];
  categories.forEach((category, n) => {
    const color = categoryColor(category);
    const points = days.map((day, i) => `${x(i)},${y(count(day, category))}`).join(' ');
    parts.push(svg('polyline', { points, fill: 'none', stroke: color, 'stroke-width': 2, 'data-category': category }));
    // A dot per day, so that a single day shows too.
    days.forEach((day, i) => parts.push(svg('circle', { cx: x(i), cy: y(count(day, category)), r: 3, fill: color },
      svg('title', {}, `${day} ${term(category)}: ${count(day, category)}`))));
    parts.push(svg('text', { x: 610, y: 30 + n * 18, fill: color, class: 'legend' }, term(category)));
  });
  chart.replaceChildren(...parts);
}

// Bars of the open cases past their deadline at the end of the window (rows of `group_by=grid`), per
// street (9-digit prefix), named by `names` (code → name).
function drawOverdueChart(chart, rows, names, none) {
  const streets = new Map();
  for (const r of rows) streets.set(r.key[0].slice(0, 9), (streets.get(r.key[0].slice(0, 9)) ?? 0) + r.overdue_at_end);
  const bars = [...streets].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).slice(0, 12);
  if (!bars.length) { chart.replaceChildren(svg('text', { x: 20, y: 40, class: 'hint' }, none)); return; }
  const top = Math.max(...bars.map(([, n]) => n));
  chart.replaceChildren(...bars.flatMap(([street, n], i) => {
    const width = (n * 480) / top;
    const yy = 10 + i * 15;
    return [svg('text', { x: 4, y: yy + 10, class: 'tick' }, names.get(street) ?? street),
      svg('rect', { x: 200, y: yy, width, height: 11, class: 'bar', 'data-street': street }),
      svg('text', { x: 206 + width, y: yy + 10, class: 'tick' }, n)];
  }));
}
