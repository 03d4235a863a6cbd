// The tuning view: a camera's zones drawn over its latest analysed frame with the detector's boxes,
// edited in place (drag a corner or a whole zone, add and remove corners, add, move and delete the
// zone's masks — parts of it where nothing counts —, set kind, classes, score, area bounds, dwell time
// and hours), previewed on the camera's recent frames, and saved through the API (admins).
'use strict';

const ZONE_COLORS = { no_parking: '#e65a4f', no_dumping: '#e6a23a', construction_watch: '#b45ae6' };
const KINDS = ['no_parking', 'no_dumping', 'construction_watch'];
// How near (in canvas pixels) a pointer must be to grab a corner or an edge.
const GRAB_PX = 12;

const tuning = {
  camera: null, // the camera whose zones the draft holds
  draft: [], // the zones as edited, with the keys of [[cameras.zones]]
  dirty: false, // the draft differs from what the camera runs with
  saved: false, // the draft was just saved: the status says so until the next edit
  selected: -1, // index of the zone being edited
  selectedMask: -1, // index of its mask being edited, or -1: the zone's own outline
  drag: null, // { zone, mask (or -1: the zone's outline), corner (or -1: the whole shape), from: [x, y] }
  view: null, // the latest GET .../view
  image: null, // its frame, decoded
  preview: null, // the latest POST .../zones/preview
};

// The outline a drag or a double-click edits: one of the zone's masks, or its own polygon.
const shapeOf = (zone, mask) => (mask >= 0 ? zone.masks[mask] : zone.polygon);
function setShape(zone, mask, points) {
  if (mask >= 0) zone.masks[mask] = points;
  else zone.polygon = points;
}

const cameraPath = (suffix = '') => `/api/v1/cameras/${encodeURIComponent(tuning.camera)}${suffix}`;

async function loadTuningCameras() {
  const cameras = await getJson('/api/v1/cameras');
  const select = $('#tuning-camera');
  const chosen = select.value;
  select.replaceChildren(...cameras.map((c) => el('option', { value: c.id }, c.id)));
  if (chosen) select.value = chosen;
}

// Loads the camera's zones as it runs them, unless the draft holds unsaved changes.
async function loadZones() {
  const zones = await getJson(cameraPath('/zones'));
  tuning.draft = zones.zones;
  tuning.dirty = false;
  tuning.preview = null;
  tuning.selected = Math.min(tuning.selected, tuning.draft.length - 1);
  tuning.selectedMask = -1;
  const source = text(`tuning.source.${zones.source}`);
  if (!tuning.saved) showTuningStatus(zones.source === 'api' ? `${source} · ${zones.changed_by} · ${when(zones.changed_at)}` : source);
  drawZoneTable();
}

function showTuningStatus(message, error = false) {
  $('#tuning-status').textContent = message;
  $('#tuning-status').classList.toggle('error', error);
}

function changed() {
  tuning.dirty = true;
  tuning.saved = false;
  tuning.preview = null;
  showTuningStatus(text('tuning.draft'));
  paintTuning();
}

// Called every 2 s while the view is open: the latest frame and boxes; the zones when the camera
// changed or nothing is being edited.
async function drawTuning() {
  const id = $('#tuning-camera').value;
  if (!id) return;
  if (id !== tuning.camera) {
    tuning.camera = id;
    tuning.selected = -1;
    tuning.dirty = false;
    tuning.saved = false;
  }
  if (!tuning.dirty && !tuning.drag) await loadZones().catch((e) => showTuningStatus(e.message, true));
  const view = await getJson(cameraPath('/view'));
  tuning.view = view;
  if (!view.frame) { $('#tuning-info').textContent = text('tuning.none'); return; }
  $('#tuning-info').textContent = `${view.frame.width}×${view.frame.height} · ${when(view.frame.captured_at)}`;
  $('#tuning-detections tbody').replaceChildren(...view.detections.map((d) => el('tr', {},
    el('td', {}, d.class), el('td', {}, d.score.toFixed(2)), el('td', {}, d.box.map(Math.round).join(', ')))));
  const img = new Image();
  img.src = await imageUrl(cameraPath('/frame'));
  await img.decode();
  URL.revokeObjectURL(img.src);
  tuning.image = img;
  paintTuning();
}

function paintTuning() {
  const canvas = $('#tuning-canvas');
  const view = tuning.view;
  if (!view?.frame || !tuning.image) return;
  canvas.width = view.frame.width;
  canvas.height = view.frame.height;
  const g = canvas.getContext('2d');
  g.drawImage(tuning.image, 0, 0);
  g.lineWidth = Math.max(2, canvas.width / 400);
  g.font = `${Math.max(12, canvas.width / 60)}px sans-serif`;
  tuning.draft.forEach((zone, i) => {
    g.strokeStyle = g.fillStyle = ZONE_COLORS[zone.kind] ?? '#fff';
    g.setLineDash(i === tuning.selected ? [] : [8, 4]);
    g.beginPath();
    zone.polygon.forEach(([x, y], k) => g[k ? 'lineTo' : 'moveTo'](x * canvas.width, y * canvas.height));
    g.closePath();
    g.stroke();
    g.fillText(zone.id, zone.polygon[0][0] * canvas.width + 4, zone.polygon[0][1] * canvas.height + 16);
    // Masks: shaded, dotted, in the zone's colour.
    (zone.masks ?? []).forEach((mask) => {
      g.beginPath();
      mask.forEach(([x, y], k) => g[k ? 'lineTo' : 'moveTo'](x * canvas.width, y * canvas.height));
      g.closePath();
      g.save();
      g.fillStyle = 'rgba(0, 0, 0, 0.45)';
      g.fill();
      g.restore();
      g.setLineDash([3, 3]);
      g.stroke();
    });
    if (i === tuning.selected) {
      for (const [x, y] of shapeOf(zone, tuning.selectedMask) ?? zone.polygon) {
        g.fillRect(x * canvas.width - 5, y * canvas.height - 5, 10, 10);
      }
    }
  });
  g.setLineDash([]);
  g.strokeStyle = g.fillStyle = '#3ae67a';
  for (const d of view.detections) {
    const [x1, y1, x2, y2] = d.box;
    g.strokeRect(x1, y1, x2 - x1, y2 - y1);
    g.fillText(`${d.class} ${d.score.toFixed(2)}`, x1 + 2, Math.max(14, y1 - 4));
  }
  // What the previewed draft counts in the latest frame: thick yellow boxes.
  g.strokeStyle = '#ffe14d';
  g.lineWidth *= 2.5;
  for (const counted of tuning.preview?.latest ?? []) {
    const [x1, y1, x2, y2] = counted.box;
    g.strokeRect(x1, y1, x2 - x1, y2 - y1);
  }
}

// ---- the zone table ----

const listOrNull = (value) => {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  return items.length ? items : null;
};
const numberOr = (value, fallback) => (value.trim() === '' ? fallback : Number(value));

function zoneInput(i, key, value, parse, attrs = {}) {
  return el('input', { name: key, value: value ?? '', size: 6, ...attrs, onchange: (event) => {
    tuning.draft[i][key] = parse(event.target.value);
    changed();
  } });
}

function drawZoneTable() {
  const rows = tuning.draft.map((zone, i) => el('tr', { 'data-zone': i, class: i === tuning.selected ? 'selected' : '',
    onclick: () => { tuning.selected = i; tuning.selectedMask = -1; paintTuning(); } },
  el('td', { class: `zone-${zone.kind}` }, zoneInput(i, 'id', zone.id, (v) => v.trim())),
  el('td', {}, el('select', { name: 'kind', onchange: (event) => { zone.kind = event.target.value; changed(); } },
    ...KINDS.map((kind) => el('option', { value: kind, selected: kind === zone.kind }, term(kind))))),
  el('td', {}, zoneInput(i, 'classes', (zone.classes ?? []).join(', '), listOrNull, { placeholder: '—' })),
  el('td', {}, zoneInput(i, 'min_score', zone.min_score, (v) => numberOr(v, null), { placeholder: '—' })),
  el('td', {}, zoneInput(i, 'min_area', zone.min_area, (v) => numberOr(v, 0)), '–', zoneInput(i, 'max_area', zone.max_area, (v) => numberOr(v, 1))),
  el('td', {}, zoneInput(i, 'min_dwell_s', zone.min_dwell_s, (v) => numberOr(v, null), { placeholder: '—' })),
  el('td', {}, zoneInput(i, 'active', zone.active?.join('-'), (v) => (v.trim() ? v.split('-').map((t) => t.trim()) : null), { placeholder: '24h' })),
  el('td', {}, el('button', { type: 'button', name: 'delete', onclick: (event) => {
    event.stopPropagation();
    tuning.draft.splice(i, 1);
    tuning.selected = -1;
    tuning.selectedMask = -1;
    drawZoneTable();
    changed();
  } }, '✕'))));
  $('#tuning-zones tbody').replaceChildren(...rows);
  const admin = state.me?.role === 'admin';
  for (const id of ['#tuning-save', '#tuning-reset']) $(id).hidden = !admin;
}

function addZone() {
  let n = tuning.draft.length + 1;
  while (tuning.draft.some((z) => z.id === `zone-${n}`)) n += 1;
  tuning.draft.push({ id: `zone-${n}`, kind: 'no_parking', polygon: [[0.3, 0.6], [0.7, 0.6], [0.7, 0.9], [0.3, 0.9]],
    classes: null, min_score: null, min_area: 0, max_area: 1, min_dwell_s: null, masks: [], active: null });
  tuning.selected = tuning.draft.length - 1;
  tuning.selectedMask = -1;
  drawZoneTable();
  changed();
}

// A mask on the selected zone: a square a third of the zone's bounds across, in their middle.
function addMask() {
  const zone = tuning.draft[tuning.selected];
  if (!zone) { showTuningStatus(text('tuning.pick_zone'), true); return; }
  const xs = zone.polygon.map(([x]) => x);
  const ys = zone.polygon.map(([, y]) => y);
  const [cx, cy] = [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2];
  const [hw, hh] = [(Math.max(...xs) - Math.min(...xs)) / 6, (Math.max(...ys) - Math.min(...ys)) / 6];
  zone.masks = [...(zone.masks ?? []), [[cx - hw, cy - hh], [cx + hw, cy - hh], [cx + hw, cy + hh], [cx - hw, cy + hh]]];
  tuning.selectedMask = zone.masks.length - 1;
  changed();
}

function deleteMask() {
  const zone = tuning.draft[tuning.selected];
  if (!zone || tuning.selectedMask < 0) { showTuningStatus(text('tuning.pick_mask'), true); return; }
  zone.masks.splice(tuning.selectedMask, 1);
  tuning.selectedMask = -1;
  changed();
}

// ---- dragging on the frame ----

// The pointer's place in normalised frame coordinates, and the canvas pixels per frame unit.
function pointer(event) {
  const canvas = $('#tuning-canvas');
  const rect = canvas.getBoundingClientRect();
  const x = (event.clientX - rect.left) / rect.width;
  const y = (event.clientY - rect.top) / rect.height;
  return { at: [Math.min(1, Math.max(0, x)), Math.min(1, Math.max(0, y))], scale: [rect.width, rect.height] };
}

const distancePx = ([ax, ay], [bx, by], [sx, sy]) => Math.hypot((ax - bx) * sx, (ay - by) * sy);

function inside([x, y], polygon) {
  let hit = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i];
    const [xj, yj] = polygon[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}

// The corner near the pointer of a mask or a zone (the selected zone's first, masks before outlines),
// else the mask or zone it is inside.
function grab({ at, scale }) {
  const order = [tuning.selected, ...tuning.draft.keys()].filter((i) => i >= 0);
  const shapes = (i) => [...(tuning.draft[i].masks ?? []).keys(), -1];
  for (const i of order) {
    for (const mask of shapes(i)) {
      const corner = shapeOf(tuning.draft[i], mask).findIndex((p) => distancePx(p, at, scale) <= GRAB_PX);
      if (corner >= 0) return { zone: i, mask, corner };
    }
  }
  for (const i of order) {
    for (const mask of shapes(i)) if (inside(at, shapeOf(tuning.draft[i], mask))) return { zone: i, mask, corner: -1 };
  }
  return null;
}

function onPointerDown(event) {
  const where = pointer(event);
  const grabbed = grab(where);
  if (!grabbed) return;
  tuning.selected = grabbed.zone;
  tuning.selectedMask = grabbed.mask;
  tuning.drag = { ...grabbed, from: where.at };
  drawZoneTable();
  paintTuning();
}

function onPointerMove(event) {
  if (!tuning.drag) return;
  const { at } = pointer(event);
  const zone = tuning.draft[tuning.drag.zone];
  const points = shapeOf(zone, tuning.drag.mask);
  if (tuning.drag.corner >= 0) {
    points[tuning.drag.corner] = at;
  } else {
    const [dx, dy] = [at[0] - tuning.drag.from[0], at[1] - tuning.drag.from[1]];
    // The whole shape moves only as far as the frame lets every corner go.
    const xs = points.map(([x]) => x + dx);
    const ys = points.map(([, y]) => y + dy);
    if (Math.min(...xs) >= 0 && Math.max(...xs) <= 1 && Math.min(...ys) >= 0 && Math.max(...ys) <= 1) {
      setShape(zone, tuning.drag.mask, points.map(([x, y]) => [x + dx, y + dy]));
      tuning.drag.from = at;
    }
  }
  changed();
}

function onPointerUp() {
  tuning.drag = null;
}

// Double-click: on a corner of the selected zone or mask removes it (three stay at least); on an edge
// adds one.
function onDoubleClick(event) {
  const zone = tuning.draft[tuning.selected];
  if (!zone) return;
  const points = shapeOf(zone, tuning.selectedMask);
  const { at, scale } = pointer(event);
  const corner = points.findIndex((p) => distancePx(p, at, scale) <= GRAB_PX);
  if (corner >= 0) {
    if (points.length > 3) points.splice(corner, 1);
  } else {
    let best = { edge: -1, px: GRAB_PX };
    points.forEach((a, i) => {
      const b = points[(i + 1) % points.length];
      const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
      const px = Math.min(distancePx(mid, at, scale), distancePx(a, at, scale) + distancePx(at, b, scale) - distancePx(a, b, scale));
      if (px < best.px) best = { edge: i, px };
    });
    if (best.edge < 0) return;
    points.splice(best.edge + 1, 0, at);
  }
  changed();
}

// ---- preview, save, reset ----

async function previewZones() {
  const response = await api(cameraPath('/zones/preview'), { method: 'POST', body: JSON.stringify(tuning.draft) });
  tuning.preview = await response.json();
  $('#tuning-preview').replaceChildren(
    el('p', {}, text('tuning.previewed')(tuning.preview)),
    ...tuning.preview.cases.map((c) => el('p', { class: 'preview-case', 'data-zone': c.zone },
      `${c.zone} · ${term(c.category)} · ${c.class} ${c.score.toFixed(2)} · ${when(c.first_seen)} → ${when(c.confirmed_at)}`)));
  paintTuning();
}

async function saveZones() {
  await api(cameraPath('/zones'), { method: 'PUT', body: JSON.stringify(tuning.draft) });
  tuning.saved = true;
  await loadZones();
  showTuningStatus(text('tuning.saved'));
  paintTuning();
}

async function resetZones() {
  await api(cameraPath('/zones'), { method: 'DELETE' });
  tuning.saved = false;
  await loadZones();
  paintTuning();
}

// Wires the view's controls (called once the page has loaded).
function wireTuning() {
  const report = (e) => showTuningStatus(e.message, true);
  $('#tuning-camera').addEventListener('change', drawTuning);
  $('#tuning-add').addEventListener('click', addZone);
  $('#tuning-add-mask').addEventListener('click', addMask);
  $('#tuning-delete-mask').addEventListener('click', deleteMask);
  $('#tuning-preview-button').addEventListener('click', () => previewZones().catch(report));
  $('#tuning-save').addEventListener('click', () => saveZones().catch(report));
  $('#tuning-reset').addEventListener('click', () => resetZones().catch(report));
  const canvas = $('#tuning-canvas');
  canvas.addEventListener('pointerdown', onPointerDown);
  canvas.addEventListener('pointermove', onPointerMove);
  canvas.addEventListener('pointerup', onPointerUp);
  canvas.addEventListener('pointerleave', onPointerUp);
  canvas.addEventListener('dblclick', onDoubleClick);
}
