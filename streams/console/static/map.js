"use strict";
// The alert's map (issue 18, item 2): the read's camera, and the trail of captures numbered in
// capture order with arrows in the direction of travel, the latest one marked "last seen".
//
// With the agency's tiles (ALPR_MAP_TILES, /api/map-config): Web Mercator at the zoom that fits
// every point, the tiles laid out as <img> in a positioned div, the markers on an SVG overlay.
// Without tiles (none configured, or none of them loaded): the same markers on a plain background,
// north up and to scale (a north arrow and a scale bar in metres), saying that no tiles are shown.
// Without any position: a "position unknown" note. The points are listed as text as well.
// No library, nothing from another origin but the configured tile server (the page's CSP), and
// every text set as text. The headings come computed from the server (streams/console/maps.py).

const AlprMap = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const TILE = 256;
  const EARTH_M = 2 * Math.PI * 6371008.8; // the equator, in metres
  const PAD = 36; // px kept free around the points, for the markers and their labels
  const MAX_ZOOM = 17; // closer than street level shows nothing more about where a vehicle was
  const MIN_SPAN_M = 300; // a single point (or points a few metres apart): show this much around it

  function node(tag, attrs = {}, text) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function svg(tag, attrs = {}, title) {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (title) {
      const t = document.createElementNS(SVG, "title");
      t.textContent = title;
      n.append(t);
    }
    return n;
  }

  // Web Mercator at zoom 0: the world is one 256 px tile, x east, y south.
  function world(lat, lon) {
    const s = Math.min(0.9999, Math.max(-0.9999, Math.sin((lat * Math.PI) / 180)));
    return {x: ((lon + 180) / 360) * TILE, y: (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * TILE};
  }

  function compassText(deg) {
    return ["N", "NE", "E", "SE", "S", "SW", "W", "NW"][Math.round(deg / 45) % 8];
  }

  function distanceText(m) {
    return m >= 1000 ? (m / 1000).toFixed(m >= 10000 ? 0 : 1) + " km" : Math.round(m) + " m";
  }

  // The largest scale (px per zoom-0 px) that fits the points' box; with tiles, a whole zoom level.
  function fit(box, width, height, latMid, tiled, maxZoom) {
    const minSpan = (MIN_SPAN_M / (EARTH_M * Math.cos((latMid * Math.PI) / 180))) * TILE;
    const dx = Math.max(box.dx, minSpan), dy = Math.max(box.dy, minSpan);
    const k = Math.min((width - 2 * PAD) / dx, (height - 2 * PAD) / dy);
    if (!tiled) return {k, zoom: null};
    const zoom = Math.max(0, Math.min(maxZoom, Math.floor(Math.log2(k))));
    return {k: 2 ** zoom, zoom};
  }

  // A round length (1, 2 or 5 times a power of ten metres) about a quarter of the map wide.
  function scaleBar(metresPerPx, width) {
    const target = metresPerPx * width * 0.25;
    const power = 10 ** Math.floor(Math.log10(target));
    const metres = [5, 2, 1].map((f) => f * power).find((m) => m <= target) || power;
    return {metres, px: metres / metresPerPx};
  }

  function tileUrl(template, z, x, y) {
    return template.replaceAll("{z}", String(z)).replaceAll("{x}", String(x)).replaceAll("{y}", String(y));
  }

  function cameraTitle(camera) {
    return "Camera: " + camera.label + " (" + camera.kind + ")" +
      (camera.facing_deg === null ? "" : ", facing " + Math.round(camera.facing_deg) + "° " + compassText(camera.facing_deg));
  }

  function pointTitle(p, dateText) {
    return p.n + ". " + p.camera + ", " + dateText(p.captured_at) + (p.kind === "read" ? " (the alert's read)" : "") +
      (p.last ? ", last seen" : "");
  }

  // The points as text: the accessible version of the map, and the one a reader can copy.
  function listing(map, dateText, drawnCamera) {
    const out = node("div", {class: "map-text"});
    if (drawnCamera) out.append(node("p", {class: "map-camera-text"}, cameraTitle(map.camera)));
    else if (map.camera.kind === "mobile") {
      out.append(node("p", {class: "map-camera-text"},
        "Mobile camera " + map.camera.label + ": the points are where it read the plate"));
    }
    const list = node("ol", {class: "map-list"});
    for (const p of map.trail) {
      const moved = p.heading ? ", heading " + Math.round(p.heading_deg) + "° " + p.heading + ", " +
        distanceText(p.distance_m) + " from " + (p.n - 1) : (p.n > 1 ? ", at the same place as " + (p.n - 1) : "");
      list.append(node("li", {class: p.last ? "map-last-text" : ""},
        p.camera + " · " + dateText(p.captured_at) + moved + (p.last ? " · last seen" : "")));
    }
    if (map.trail.length) out.append(list);
    if (map.skipped_text) out.append(node("p", {class: "map-skipped"}, map.skipped_text));
    if (map.last_unplaced) {
      out.append(node("p", {class: "map-last-unplaced"}, "Last seen at " + map.last_unplaced.camera + ", " +
        dateText(map.last_unplaced.captured_at) + ": position unknown, not on the map"));
    }
    return out;
  }

  function draw(container, map, config, dateText, tilesFailed) {
    const camera = map.camera;
    const drawnCamera = camera.kind === "fixed" && camera.lat !== null && camera.lon !== null;
    const places = map.trail.map((p) => ({lat: p.lat, lon: p.lon}));
    if (drawnCamera) places.push({lat: camera.lat, lon: camera.lon});
    container.replaceChildren();
    if (!places.length) {
      container.dataset.mode = "unknown";
      container.append(node("p", {class: "map-unknown"},
        "Position unknown: no capture of this alert has a position, so there is no map."),
      listing(map, dateText, false));
      return;
    }
    const template = config && config.tiles && !tilesFailed ? config.tiles : null;
    const width = Math.max(240, container.clientWidth || 600);
    const height = Math.round(Math.min(420, Math.max(240, width * 0.6)));
    const pts = places.map((p) => world(p.lat, p.lon));
    const xs = pts.map((p) => p.x), ys = pts.map((p) => p.y);
    const box = {x0: Math.min(...xs), y0: Math.min(...ys), dx: Math.max(...xs) - Math.min(...xs), dy: Math.max(...ys) - Math.min(...ys)};
    const latMid = places.reduce((s, p) => s + p.lat, 0) / places.length;
    const {k, zoom} = fit(box, width, height, latMid, Boolean(template), Math.min(MAX_ZOOM, (config && config.max_zoom) || MAX_ZOOM));
    const origin = {x: (box.x0 + box.dx / 2) * k - width / 2, y: (box.y0 + box.dy / 2) * k - height / 2};
    const at = (lat, lon) => {
      const w = world(lat, lon);
      return {x: w.x * k - origin.x, y: w.y * k - origin.y};
    };
    const metresPerPx = (EARTH_M * Math.cos((latMid * Math.PI) / 180)) / (TILE * k);

    container.dataset.mode = template ? "tiles" : "plain";
    const frame = node("div", {class: "map-frame" + (template ? " tiled" : " plain")});
    frame.style.height = height + "px";
    if (template) {
      const tiles = node("div", {class: "map-tiles"});
      const n = 2 ** zoom;
      const images = [];
      for (let ty = Math.floor(origin.y / TILE); ty <= Math.floor((origin.y + height) / TILE); ty++) {
        if (ty < 0 || ty >= n) continue;
        for (let tx = Math.floor(origin.x / TILE); tx <= Math.floor((origin.x + width) / TILE); tx++) {
          const image = node("img", {class: "map-tile", alt: "", draggable: "false"});
          image.style.left = Math.round(tx * TILE - origin.x) + "px";
          image.style.top = Math.round(ty * TILE - origin.y) + "px";
          image.dataset.tile = zoom + "/" + (((tx % n) + n) % n) + "/" + ty;
          images.push(image);
          tiles.append(image);
        }
      }
      let failed = 0;
      for (const image of images) {
        image.addEventListener("load", () => image.classList.add("loaded"));
        image.addEventListener("error", () => {
          failed += 1;
          // none of them loaded: the markers are shown on the plain background instead
          if (failed === images.length && container.contains(image)) draw(container, map, config, dateText, true);
        });
        const [z, x, y] = image.dataset.tile.split("/");
        image.src = tileUrl(template, z, x, y);
      }
      frame.append(tiles);
    }

    const overlay = svg("svg", {class: "map-overlay", width, height, viewBox: "0 0 " + width + " " + height,
      "aria-label": "Map: the camera and " + map.trail.length + " capture(s), numbered in capture order"});
    const defs = svg("defs");
    const head = svg("marker", {id: "map-arrowhead", viewBox: "0 0 10 10", refX: 9, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"});
    head.append(svg("path", {d: "M0,0 L10,5 L0,10 z", class: "map-arrowhead"}));
    defs.append(head);
    overlay.append(defs);

    if (drawnCamera) {
      const c = at(camera.lat, camera.lon);
      const group = svg("g", {class: "map-camera", "data-x": c.x.toFixed(1), "data-y": c.y.toFixed(1)}, cameraTitle(camera));
      if (camera.facing_deg !== null) {
        const r = 54, spread = 30;
        const end = (deg) => {
          const a = (deg * Math.PI) / 180;
          return (c.x + r * Math.sin(a)).toFixed(1) + "," + (c.y - r * Math.cos(a)).toFixed(1);
        };
        group.append(svg("path", {class: "map-facing", "data-facing": camera.facing_deg,
          d: "M" + c.x.toFixed(1) + "," + c.y.toFixed(1) + " L" + end(camera.facing_deg - spread) +
            " A" + r + "," + r + " 0 0 1 " + end(camera.facing_deg + spread) + " Z"}));
      }
      group.append(svg("rect", {x: c.x - 8, y: c.y - 8, width: 16, height: 16, class: "map-camera-mark"}));
      overlay.append(group);
    }

    const spots = map.trail.map((p) => ({p, ...at(p.lat, p.lon)}));
    spots.forEach((s, i) => {
      if (i === 0 || s.p.heading_deg === null) return;
      const from = spots[i - 1];
      const len = Math.hypot(s.x - from.x, s.y - from.y);
      if (len < 30) return; // too close to draw an arrow between the two markers
      const ux = (s.x - from.x) / len, uy = (s.y - from.y) / len;
      overlay.append(svg("line", {class: "map-leg", "data-from": from.p.n, "data-to": s.p.n,
        "data-heading": s.p.heading_deg, "marker-end": "url(#map-arrowhead)",
        x1: (from.x + ux * 14).toFixed(1), y1: (from.y + uy * 14).toFixed(1),
        x2: (s.x - ux * 15).toFixed(1), y2: (s.y - uy * 15).toFixed(1)},
      "from " + from.p.n + " to " + s.p.n + ": heading " + Math.round(s.p.heading_deg) + "° " + s.p.heading));
    });
    for (const s of spots) {
      const group = svg("g", {class: "map-point" + (s.p.last ? " map-last" : ""), "data-n": s.p.n,
        "data-x": s.x.toFixed(1), "data-y": s.y.toFixed(1)}, pointTitle(s.p, dateText));
      if (s.p.last) group.append(svg("circle", {cx: s.x, cy: s.y, r: 17, class: "map-last-ring"}));
      group.append(svg("circle", {cx: s.x, cy: s.y, r: 11, class: "map-dot"}));
      const number = svg("text", {x: s.x, y: s.y + 4, "text-anchor": "middle", class: "map-number"});
      number.textContent = String(s.p.n);
      group.append(number);
      if (s.p.last) {
        const label = svg("text", {x: s.x + 20, y: s.y - 14, class: "map-last-label"});
        label.textContent = "last seen";
        group.append(label);
      }
      overlay.append(group);
    }

    // north up, always: the arrow says so; the scale bar gives metres on the ground
    const north = svg("g", {class: "map-north", transform: "translate(" + (width - 26) + ",34)"}, "North is up");
    north.append(svg("path", {d: "M0,-18 L8,6 L0,0 L-8,6 Z"}));
    const nText = svg("text", {x: 0, y: 20, "text-anchor": "middle"});
    nText.textContent = "N";
    north.append(nText);
    overlay.append(north);
    const bar = scaleBar(metresPerPx, width);
    const scale = svg("g", {class: "map-scale", "data-metres": bar.metres, "data-px": bar.px.toFixed(2),
      transform: "translate(12," + (height - 14) + ")"}, "Scale: " + distanceText(bar.metres));
    scale.append(svg("path", {d: "M0,-6 L0,0 L" + bar.px.toFixed(1) + ",0 L" + bar.px.toFixed(1) + ",-6"}));
    const sText = svg("text", {x: bar.px / 2, y: -9, "text-anchor": "middle"});
    sText.textContent = distanceText(bar.metres);
    scale.append(sText);
    overlay.append(scale);
    frame.append(overlay);
    container.append(frame);

    if (template) {
      container.append(node("p", {class: "map-attribution"}, config.attribution || ""));
    } else {
      container.append(node("p", {class: "map-note"}, tilesFailed
        ? "The map tiles did not load: markers on a plain background, north up, to scale."
        : "No map tiles are configured: markers on a plain background, north up, to scale."));
    }
    container.append(listing(map, dateText, drawnCamera));
  }

  // Draw `map` (the alert detail's map field) into `container`. `config` is /api/map-config (tiles
  // null: none configured); `dateText` formats a capture time. The same map at the same width is
  // not drawn again, so a live update of the alert does not reload the tiles.
  function render(container, map, config, dateText) {
    const key = JSON.stringify([map, config && config.tiles, container.clientWidth]);
    if (container.dataset.drawn === key) return;
    container.dataset.drawn = key;
    draw(container, map, config, dateText, false);
  }

  return {render};
})();
