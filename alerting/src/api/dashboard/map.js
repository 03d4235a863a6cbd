// The map of grids and cases, for the dashboard and the wall screen. It needs no tile server: the grid
// polygons of /api/v1/grids are the base map, drawn as SVG in Web Mercator, the projection of web
// tiles, so that a site's own tile server (`[map] tiles`) lines up underneath when it has one. Open
// cases are markers coloured by category and ringed by status (new ones pulse), cameras squares and
// sensors triangles coloured by health. The wheel and the buttons zoom, dragging pans.
'use strict';

const TILE_PX = 256;
/// The map's own coordinates: the grids' bounds fitted into this box, whatever the screen.
const FRAME = { w: 1000, h: 640 };
/// A sensor not heard from for this long is drawn as stale.
const SENSOR_STALE_MS = 3600 * 1000;

// The `n`th offset of a sunflower spiral starting `inner` screen units out.
function spread(n, inner) {
  const angle = n * 2.39996;
  const r = inner + 8 * Math.sqrt(n % 24);
  return [r * Math.cos(angle), r * Math.sin(angle)];
}

// A marker's transform: at `[x, y]` of the map, `dx, dy` screen units off, `scale` for the zoom.
function place([x, y, dx, dy], scale) {
  return `translate(${x.toFixed(2)},${y.toFixed(2)}) scale(${scale}) translate(${dx.toFixed(1)},${dy.toFixed(1)})`;
}

// Web Mercator pixels at zoom 0 of `[longitude, latitude]`.
function mercator([longitude, latitude]) {
  const sin = Math.sin((latitude * Math.PI) / 180);
  return [((longitude + 180) / 360) * TILE_PX, (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)) * TILE_PX];
}

// The outer rings of a GeoJSON Polygon or MultiPolygon, holes included (drawn even-odd).
function rings(geometry) {
  if (geometry?.type === 'Polygon') return geometry.coordinates;
  if (geometry?.type === 'MultiPolygon') return geometry.coordinates.flat();
  return [];
}

class GridMap {
  // `host` is an element the map fills; `term` names categories and states; `words` says `none` (no
  // grid has an area) and `unplaced` (cases with no place); `size` scales markers and labels (a wall
  // screen is read from across the room); `onGrid(code)`, `onCase(id)` and `onCamera(id)` are called
  // when one is clicked.
  constructor(host, { term, words, size = 1, onGrid = () => {}, onCase = () => {}, onCamera = () => {} }) {
    this.term = term;
    this.words = words;
    this.size = size;
    this.handlers = { onGrid, onCase, onCamera };
    this.grids = [];
    this.places = { tiles: null, cameras: [], sensors: [] };
    this.cases = new Map();
    this.fresh = new Map();
    this.fit = null;
    this.view = { x: 0, y: 0, w: FRAME.w, h: FRAME.h };
    this.root = svg('svg', { class: 'grid-map', viewBox: `0 0 ${FRAME.w} ${FRAME.h}`, preserveAspectRatio: 'xMidYMid meet' });
    this.layers = {};
    for (const name of ['tiles', 'grids', 'outlines', 'labels', 'places', 'cases']) {
      this.layers[name] = svg('g', { class: `layer-${name}` });
      this.root.append(this.layers[name]);
    }
    const zoom = (factor) => el('button', { type: 'button', onclick: () => this.zoomAt(factor, this.view.x + this.view.w / 2, this.view.y + this.view.h / 2) },
      factor > 1 ? '−' : '+');
    this.controls = el('div', { class: 'map-controls' }, zoom(0.8), zoom(1.25),
      el('button', { type: 'button', 'data-map': 'reset', onclick: () => this.reset() }, '⟲'));
    this.legend = el('div', { class: 'map-legend' });
    this.note = el('div', { class: 'map-note hint' });
    this.root.style.setProperty('--label-size', `${13 * size}px`);
    host.replaceChildren(this.root, this.controls, this.legend, this.note);
    this.listen();
  }

  // ---- data ----

  // The grid tree of /api/v1/grids (nodes with `geometry` are drawn).
  setGrids(nodes) {
    this.grids = nodes;
    this.centers = new Map(nodes.filter((n) => n.geometry).map((n) => [n.code, this.centerOf(n.geometry)]));
    this.render();
  }

  // /api/v1/map: the tile template, cameras and sensors.
  setPlaces(places) {
    this.places = places;
    this.render();
  }

  // Every open case to show (the newest first, as the list gives them).
  setCases(cases) {
    this.cases = new Map(cases.map((c) => [c.id, c]));
    this.renderCases();
  }

  // A case that changed: shown while open, removed once finished; `fresh` makes a new one pulse.
  upsertCase(item, fresh) {
    if (['closed', 'evaluated', 'voided'].includes(item.status)) this.cases.delete(item.id);
    else {
      if (fresh && !this.cases.has(item.id)) this.fresh.set(item.id, Date.now());
      this.cases.set(item.id, item);
    }
    this.renderCases();
  }

  // ---- coordinates ----

  // Fits the map's own frame around the grids (or, without grid polygons, around what has a place).
  ensureFit() {
    if (this.fit) return this.fit;
    const points = this.grids.flatMap((n) => rings(n.geometry).flat().map(mercator));
    if (!points.length) {
      for (const c of [...this.cases.values(), ...this.places.cameras, ...this.places.sensors]) {
        const at = c.location ?? (c.longitude != null ? [c.longitude, c.latitude] : null);
        if (at) points.push(mercator(at));
      }
    }
    if (!points.length) return null;
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    // A single point gets a few hundred metres around it.
    const span = Math.max(x1 - x0, ((y1 - y0) * FRAME.w) / FRAME.h, 2e-3);
    const k = (0.92 * FRAME.w) / span;
    this.fit = { k, cx: (x0 + x1) / 2, cy: (y0 + y1) / 2 };
    return this.fit;
  }

  // `[longitude, latitude]` in the map's frame.
  project(lonlat) {
    const { k, cx, cy } = this.fit;
    const [x, y] = mercator(lonlat);
    return [(x - cx) * k + FRAME.w / 2, (y - cy) * k + FRAME.h / 2];
  }

  centerOf(geometry) {
    const points = rings(geometry).flat();
    const lon = points.map((p) => p[0]);
    const lat = points.map((p) => p[1]);
    return [(Math.min(...lon) + Math.max(...lon)) / 2, (Math.min(...lat) + Math.max(...lat)) / 2];
  }

  // Where a case is drawn, `[x, y, dx, dy]`: its own coordinates, else its camera's, else its grid's
  // centre; null when none is known. Cases at their camera's place are ringed around its icon and
  // cases of a grid around its centre, `dx, dy` apart in screen units (spread by id, so that they
  // do not hide each other or the camera at any zoom).
  caseAt(item) {
    const camera = this.places.cameras.find((c) => c.id === item.camera && c.location);
    const own = item.longitude != null && item.latitude != null ? [item.longitude, item.latitude] : null;
    const atCamera = camera && (!own || (own[0] === camera.location[0] && own[1] === camera.location[1]));
    if (atCamera) return [...this.project(camera.location), ...spread(item.id, 14)];
    if (own) return [...this.project(own), 0, 0];
    const center = this.centers?.get(item.grid);
    return center ? [...this.project(center), ...spread(item.id, 0)] : null;
  }

  // Cameras and sensors without a place of their own stand around their grid's centre.
  placeOf(location, grid, n) {
    if (location) return [...this.project(location), 0, 0];
    const center = this.centers?.get(grid);
    return center ? [...this.project(center), ...spread(n, 0)] : null;
  }

  // Markers keep their size on screen whatever the zoom.
  markerScale() {
    return (this.size * this.view.w) / FRAME.w;
  }

  // ---- drawing ----

  render() {
    if (!this.ensureFit()) {
      this.note.textContent = this.words.none;
      return;
    }
    const path = (geometry) => rings(geometry).map((ring) => `M${ring.map((p) => this.project(p).map((v) => v.toFixed(2)).join(',')).join('L')}Z`).join('');
    const cells = this.grids.filter((n) => n.geometry && n.level === 'cell');
    const most = Math.max(1, ...cells.map((n) => n.open));
    this.layers.grids.replaceChildren(...cells.map((n) => {
      const share = n.open / most;
      const fill = n.open ? `rgba(230, 90, 79, ${(0.12 + 0.40 * share).toFixed(2)})` : 'rgba(58, 142, 230, 0.10)';
      return svg('path', { d: path(n.geometry), class: `grid${n.supervised ? ' overdue' : ''}`, fill, 'fill-rule': 'evenodd',
        'data-grid': n.code, 'data-open': n.open, 'data-supervised': n.supervised },
      svg('title', {}, `${n.code} ${n.name}: ${n.open} / ${n.supervised}`));
    }));
    this.layers.outlines.replaceChildren(...this.grids.filter((n) => n.geometry && n.level !== 'cell')
      .map((n) => svg('path', { d: path(n.geometry), class: `outline level-${n.level}`, fill: 'none' })));
    this.layers.labels.replaceChildren(...cells.map((n) => {
      const [x, y] = this.project(this.centers.get(n.code));
      return svg('text', { x, y, class: 'grid-label', 'text-anchor': 'middle' }, `${n.name.split(' ').pop() || n.code} · ${n.open}`);
    }));
    this.renderPlaces();
    this.renderCases();
    this.renderTiles();
  }

  renderPlaces() {
    const s = this.markerScale();
    const cameras = this.places.cameras.map((c, i) => {
      const at = this.placeOf(c.location, c.grid, 1000 + i);
      if (!at) return null;
      return svg('g', { class: `camera-mark state-${c.state}`, 'data-camera': c.id, transform: place(at, s) },
        svg('rect', { x: -6, y: -6, width: 12, height: 12, rx: 2 }), svg('title', {}, `${c.id} · ${this.term(c.state)}`));
    });
    const now = Date.now();
    const sensors = this.places.sensors.map((d, i) => {
      const at = this.placeOf(d.location, d.grid, 2000 + i);
      if (!at) return null;
      const stale = !d.last_seen_at || now - new Date(d.last_seen_at) > SENSOR_STALE_MS;
      return svg('g', { class: `sensor-mark${stale ? ' stale' : ''}`, 'data-sensor': d.device, transform: place(at, s) },
        svg('path', { d: 'M0,-7L6.5,5H-6.5Z' }), svg('title', {}, d.device));
    });
    this.layers.places.replaceChildren(...[...cameras, ...sensors].filter(Boolean));
  }

  renderCases() {
    if (!this.fit && !this.ensureFit()) return;
    const s = this.markerScale();
    const now = Date.now();
    for (const [id, since] of this.fresh) if (now - since > 30000) this.fresh.delete(id);
    let unplaced = 0;
    const categories = new Set();
    // The oldest first, so that the newest are drawn on top.
    const markers = [...this.cases.values()].sort((a, b) => a.id - b.id).map((c) => {
      const at = this.caseAt(c);
      if (!at) { unplaced += 1; return null; }
      categories.add(c.category);
      const fresh = this.fresh.has(c.id);
      return svg('g', { class: `case-mark status-${c.status}${c.supervised ? ' supervised' : ''}${fresh ? ' fresh' : ''}`,
        'data-case': c.id, 'data-grid': c.grid, 'data-category': c.category, 'data-status': c.status,
        transform: place(at, s) },
      fresh ? svg('circle', { class: 'pulse', r: 8, fill: 'none', stroke: categoryColor(c.category) }) : null,
      svg('circle', { class: 'dot', r: 7, fill: categoryColor(c.category) }),
      svg('title', {}, `#${c.id} ${this.term(c.category)} · ${this.term(c.status)}`));
    });
    this.layers.cases.replaceChildren(...markers.filter(Boolean));
    this.legend.replaceChildren(...[...categories].sort().map((c) => {
      // Set through the style object: the page's content security policy refuses inline style text.
      const swatch = el('i');
      swatch.style.background = categoryColor(c);
      return el('span', { 'data-category': c }, swatch, this.term(c));
    }));
    this.note.textContent = unplaced ? `${this.words.unplaced}: ${unplaced}` : '';
  }

  // The site's tiles for what is in view, at the zoom that matches the screen.
  renderTiles() {
    const template = this.places.tiles;
    if (!template || !this.fit) { this.layers.tiles.replaceChildren(); return; }
    const { k, cx, cy } = this.fit;
    const screen = this.root.clientWidth || FRAME.w;
    const z = Math.max(0, Math.min(19, Math.round(Math.log2((k * screen) / this.view.w))));
    const n = 2 ** z;
    const world = (x, y) => [((x - FRAME.w / 2) / k + cx) * (n / TILE_PX), ((y - FRAME.h / 2) / k + cy) * (n / TILE_PX)];
    const [tx0, ty0] = world(this.view.x, this.view.y).map(Math.floor);
    const [tx1, ty1] = world(this.view.x + this.view.w, this.view.y + this.view.h).map(Math.floor);
    const size = (TILE_PX / n) * k;
    const images = [];
    // One tile more on each side: a screen wider or taller than the frame shows some of them.
    for (let tx = Math.max(0, tx0 - 1); tx <= Math.min(n - 1, tx1 + 1) && images.length < 120; tx++) {
      for (let ty = Math.max(0, ty0 - 1); ty <= Math.min(n - 1, ty1 + 1) && images.length < 120; ty++) {
        const href = template.replace('{z}', z).replace('{x}', tx).replace('{y}', ty);
        images.push(svg('image', { href, x: (tx * TILE_PX / n - cx) * k + FRAME.w / 2, y: (ty * TILE_PX / n - cy) * k + FRAME.h / 2,
          width: size, height: size, preserveAspectRatio: 'none' }));
      }
    }
    this.layers.tiles.replaceChildren(...images);
  }

  // ---- zoom and pan ----

  setView(view) {
    this.view = view;
    this.root.setAttribute('viewBox', `${view.x} ${view.y} ${view.w} ${view.h}`);
    const s = this.markerScale();
    for (const mark of this.root.querySelectorAll('.case-mark, .camera-mark, .sensor-mark')) {
      mark.setAttribute('transform', mark.getAttribute('transform').replace(/scale\([^)]*\)/, `scale(${s})`));
    }
    this.root.style.setProperty('--label-size', `${(13 * s).toFixed(3)}px`);
    this.renderTiles();
  }

  reset() {
    this.setView({ x: 0, y: 0, w: FRAME.w, h: FRAME.h });
  }

  // Zooms by `factor` (< 1 in) keeping the map point (x, y) where it is on screen.
  zoomAt(factor, x, y) {
    const v = this.view;
    const w = Math.min(FRAME.w * 4, Math.max(FRAME.w / 400, v.w * factor));
    const f = w / v.w;
    this.setView({ x: x - (x - v.x) * f, y: y - (y - v.y) * f, w, h: v.h * f });
  }

  // A screen point in the map's coordinates.
  toMap(event) {
    const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(this.root.getScreenCTM().inverse());
    return [point.x, point.y];
  }

  listen() {
    this.root.addEventListener('wheel', (event) => {
      event.preventDefault();
      const [x, y] = this.toMap(event);
      this.zoomAt(event.deltaY > 0 ? 1.2 : 1 / 1.2, x, y);
    }, { passive: false });
    let drag = null;
    this.root.addEventListener('pointerdown', (event) => {
      drag = { start: this.toMap(event), view: { ...this.view }, moved: 0, x: event.clientX, y: event.clientY };
    });
    this.root.addEventListener('pointermove', (event) => {
      if (!drag || !event.buttons) return;
      drag.moved = Math.max(drag.moved, Math.hypot(event.clientX - drag.x, event.clientY - drag.y));
      if (drag.moved < 4) return;
      this.root.setPointerCapture?.(event.pointerId);
      const scale = drag.view.w / (this.root.getBoundingClientRect().width || FRAME.w);
      this.setView({ ...drag.view, x: drag.view.x - (event.clientX - drag.x) * scale, y: drag.view.y - (event.clientY - drag.y) * scale });
    });
    this.root.addEventListener('pointerup', () => { setTimeout(() => { drag = null; }, 0); });
    // A click that ended a drag opens nothing.
    this.root.addEventListener('click', (event) => {
      if (drag?.moved >= 4) return;
      const target = event.target.closest('[data-case], [data-camera], [data-grid]');
      if (!target) return;
      if (target.dataset.case) this.handlers.onCase(Number(target.dataset.case));
      else if (target.dataset.camera) this.handlers.onCamera(target.dataset.camera);
      else this.handlers.onGrid(target.dataset.grid);
    });
  }
}
