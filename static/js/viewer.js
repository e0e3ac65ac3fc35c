/* The review viewer: the image with each annotator's masks, the consensus and the
 * disagreement map drawn from the stored COCO RLE; zoom and pan; the instance table linked
 * both ways with the canvas; keyboard shortcuts. Everything is decoded once, when the page
 * loads (layers on first show), so toggling a layer draws from memory and asks the server
 * nothing. The data comes from the page (json_script "viewer-data"); decisions are the
 * page's own forms, which work without this script. */
(function () {
  "use strict";

  // ---------------------------------------------------------------- COCO RLE

  /* The run lengths of a COCO compressed counts string: pycocotools' rleFrString. Each
   * number is 5-bit groups (+48 as ASCII), least significant first, 0x20 = more follow,
   * 0x10 in the last group = negative; from the third number on, each is a difference to
   * the one two places before. Arithmetic instead of bit shifts: no 32-bit overflow. */
  function rleCounts(text) {
    const counts = [];
    let p = 0;
    while (p < text.length) {
      let x = 0;
      let scale = 1;
      let more = true;
      while (more) {
        const c = text.charCodeAt(p) - 48;
        x += (c & 0x1f) * scale;
        more = (c & 0x20) !== 0;
        p += 1;
        scale *= 32;
        if (!more && (c & 0x10) !== 0) x -= scale;
      }
      if (counts.length > 2) x += counts[counts.length - 2];
      counts.push(x);
    }
    return counts;
  }

  /* A mask of a height-h frame from its run lengths (column-major, background first), as
   * its tight crop: {x, y, w, h, area, data} with data row-major over the crop (1 = in). */
  function decodeCrop(counts, height) {
    let x0 = Infinity, x1 = -1, y0 = Infinity, y1 = -1, area = 0, at = 0;
    for (let k = 0; k < counts.length; k += 1) {
      const start = at;
      at += counts[k];
      if (k % 2 === 0 || counts[k] === 0) continue;
      const c0 = Math.floor(start / height), c1 = Math.floor((at - 1) / height);
      const r0 = start - c0 * height, r1 = at - 1 - c1 * height;
      x0 = Math.min(x0, c0);
      x1 = Math.max(x1, c1);
      y0 = Math.min(y0, c0 === c1 ? r0 : 0);
      y1 = Math.max(y1, c0 === c1 ? r1 : height - 1);
      area += counts[k];
    }
    if (x1 < 0) return { x: 0, y: 0, w: 0, h: 0, area: 0, data: new Uint8Array(0) };
    const w = x1 - x0 + 1, h = y1 - y0 + 1;
    const data = new Uint8Array(w * h);
    at = 0;
    for (let k = 0; k < counts.length; k += 1) {
      let i = at;
      at += counts[k];
      if (k % 2 === 0) continue;
      while (i < at) {
        const col = Math.floor(i / height);
        const row = i - col * height;
        const end = Math.min(at, (col + 1) * height);
        const base = col - x0;
        for (let r = row; r < row + (end - i); r += 1) data[(r - y0) * w + base] = 1;
        i = end;
      }
    }
    return { x: x0, y: y0, w: w, h: h, area: area, data: data };
  }

  /* The whole frame, row-major (for tests against pycocotools' decode). */
  function decodeFrame(text, height, width) {
    const crop = decodeCrop(rleCounts(text), height);
    const frame = new Uint8Array(height * width);
    for (let r = 0; r < crop.h; r += 1) {
      for (let c = 0; c < crop.w; c += 1) {
        if (crop.data[r * crop.w + c]) frame[(crop.y + r) * width + crop.x + c] = 1;
      }
    }
    return frame;
  }

  window.MaskQC = window.MaskQC || {};
  window.MaskQC.rle = { counts: rleCounts, decodeCrop: decodeCrop, decodeFrame: decodeFrame };

  const source = document.getElementById("viewer-data");
  if (!source) return;
  const data = JSON.parse(source.textContent);
  const W = data.width, H = data.height;

  // ---------------------------------------------------------------- the masks

  function masksOf(rows, owner) {
    return rows.map(function (row) {
      const crop = decodeCrop(rleCounts(row[1]), H);
      crop.id = row[0];
      crop.owner = owner;
      return crop;
    });
  }

  const annotators = data.layers.map(function (layer) {
    return { key: layer.key, number: layer.number, colour: layer.colour,
      submission: layer.submission, masks: masksOf(layer.instances, layer.key) };
  });
  const byId = new Map();
  annotators.forEach(function (a) { a.masks.forEach(function (m) { byId.set(m.id, m); }); });
  let consensusMasks = null;

  function rgb(hex) {
    const n = parseInt(hex.slice(1), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }

  function inMask(m, c, r) {
    return c >= 0 && r >= 0 && c < m.w && r < m.h && m.data[r * m.w + c] === 1;
  }

  function isEdge(m, c, r) {
    return !inMask(m, c - 1, r) || !inMask(m, c + 1, r) || !inMask(m, c, r - 1) ||
      !inMask(m, c, r + 1);
  }

  function frameCanvas(width, height) {
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    return canvas;
  }

  /* paint(m, c, r, edge, out, offset) sets the RGBA of one in-mask pixel. */
  function layerCanvas(masks, paint) {
    const canvas = frameCanvas(W, H);
    const context = canvas.getContext("2d");
    const image = context.createImageData(W, H);
    const out = image.data;
    masks.forEach(function (m) {
      for (let r = 0; r < m.h; r += 1) {
        for (let c = 0; c < m.w; c += 1) {
          if (m.data[r * m.w + c] !== 1) continue;
          paint(m, c, r, isEdge(m, c, r), out, ((m.y + r) * W + m.x + c) * 4);
        }
      }
    });
    context.putImageData(image, 0, 0);
    return canvas;
  }

  /* An annotator's layer is two canvases: the fills, light so that several annotators'
   * fills mix, and the outlines, drawn over every fill so none hides another's edge. */
  function annotatorCanvases(a) {
    const [red, green, blue] = rgb(a.colour);
    return {
      fill: layerCanvas(a.masks, function (m, c, r, edge, out, o) {
        out[o] = red; out[o + 1] = green; out[o + 2] = blue;
        out[o + 3] = 46;
      }),
      edge: layerCanvas(a.masks, function (m, c, r, edge, out, o) {
        if (!edge) return;
        out[o] = red; out[o + 1] = green; out[o + 2] = blue;
        out[o + 3] = 255;
      }),
    };
  }

  // The consensus: its outline only, in 3-pixel blocks of black and white (a pattern, so
  // it reads without colour, on dark and light images alike).
  function consensusCanvas() {
    consensusMasks = consensusMasks || masksOf(data.consensus, "consensus");
    return layerCanvas(consensusMasks, function (m, c, r, edge, out, o) {
      if (!edge) return;
      const white = (Math.floor((m.x + c) / 3) + Math.floor((m.y + r) / 3)) % 2 === 0;
      out[o] = out[o + 1] = out[o + 2] = white ? 255 : 0;
      out[o + 3] = 255;
    });
  }

  // Shades of the disagreement map: the same five as viewer.css (.dl1 … .dl5).
  const DISAGREEMENT_RGB = [213, 94, 0];
  const DISAGREEMENT_ALPHA = [56, 92, 128, 163, 204];

  /* Pixels drawn by k of the n annotators, 0 < k < n, shaded by k (the levels are the
   * selector's, data.disagreement: [k, level]). */
  function disagreementCanvas() {
    const n = annotators.length;
    const count = new Uint8Array(W * H);
    const seen = new Uint8Array(W * H);
    annotators.forEach(function (a, index) {
      const stamp = index + 1;
      a.masks.forEach(function (m) {
        for (let r = 0; r < m.h; r += 1) {
          for (let c = 0; c < m.w; c += 1) {
            if (m.data[r * m.w + c] !== 1) continue;
            const i = (m.y + r) * W + m.x + c;
            if (seen[i] !== stamp) { seen[i] = stamp; count[i] += 1; }
          }
        }
      });
    });
    const level = new Uint8Array(n + 1);
    (data.disagreement || []).forEach(function (pair) { level[pair[0]] = pair[1]; });
    const canvas = frameCanvas(W, H);
    const context = canvas.getContext("2d");
    const image = context.createImageData(W, H);
    const out = image.data;
    for (let i = 0; i < count.length; i += 1) {
      const k = count[i];
      if (k === 0 || k >= n) continue;
      const o = i * 4;
      out[o] = DISAGREEMENT_RGB[0]; out[o + 1] = DISAGREEMENT_RGB[1];
      out[o + 2] = DISAGREEMENT_RGB[2];
      out[o + 3] = DISAGREEMENT_ALPHA[(level[k] || 5) - 1];
    }
    context.putImageData(image, 0, 0);
    return canvas;
  }

  const layers = new Map();
  /* A layer's canvases ({fill, edge} of an annotator, {over} otherwise), drawn once. */
  function layerFor(key) {
    if (!layers.has(key)) {
      const a = annotators.find(function (x) { return x.key === key; });
      if (a) layers.set(key, annotatorCanvases(a));
      else if (key === "consensus") layers.set(key, { over: consensusCanvas() });
      else if (key === "disagreement") layers.set(key, { over: disagreementCanvas() });
    }
    return layers.get(key);
  }
  // Annotators' layers are visible from the start: draw them now.
  annotators.forEach(function (a) { layerFor(a.key); });

  // ---------------------------------------------------------------- the stage

  const stage = document.getElementById("stage");
  const canvas = document.getElementById("viewer-canvas");
  const context = canvas.getContext("2d");
  const zoomLevel = document.getElementById("zoom-level");
  const status = document.getElementById("viewer-status");
  const view = { scale: 1, x: 0, y: 0, fitted: true };
  let pixels = null;
  let selected = null;
  let selectedCanvas = null;
  let pending = false;

  if (data.pixels) {
    const picture = new Image();
    picture.addEventListener("load", function () { pixels = picture; draw(); });
    picture.addEventListener("error", function () {
      say("The image's pixels could not be loaded; the masks are drawn on a neutral canvas.");
    });
    picture.src = data.pixels;
  }

  function say(text) {
    if (status) status.textContent = text;
  }

  function draw() {
    zoomLevel.textContent = Math.round(view.scale * 100) + " %";
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(paint);
  }

  function paint() {
    pending = false;
    const ratio = window.devicePixelRatio || 1;
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.fillStyle = "#2a2f38";
    context.fillRect(0, 0, canvas.width, canvas.height);
    const s = view.scale * ratio;
    context.setTransform(s, 0, 0, s, view.x * ratio, view.y * ratio);
    context.imageSmoothingEnabled = view.scale < 1;
    if (pixels) context.drawImage(pixels, 0, 0, W, H);
    else {
      context.fillStyle = "#9aa1ad";
      context.fillRect(0, 0, W, H);
    }
    // Fills, then outlines, then the disagreement map and the consensus on top.
    const shown = visibleLayers().map(layerFor);
    ["fill", "edge"].forEach(function (part) {
      shown.forEach(function (layer) { if (layer[part]) context.drawImage(layer[part], 0, 0); });
    });
    const order = ["disagreement", "consensus"];
    order.forEach(function (key) {
      if (shown.indexOf(layers.get(key)) >= 0) context.drawImage(layers.get(key).over, 0, 0);
    });
    if (selected) {
      context.drawImage(selectedCanvas, selected.x, selected.y);
      context.setTransform(ratio, 0, 0, ratio, 0, 0);
      const x = view.x + selected.x * view.scale - 4, y = view.y + selected.y * view.scale - 4;
      const w = selected.w * view.scale + 8, h = selected.h * view.scale + 8;
      context.lineWidth = 2;
      context.setLineDash([6, 4]);
      context.strokeStyle = "#000";
      context.strokeRect(x, y, w, h);
      context.lineDashOffset = 5;
      context.strokeStyle = "#fff";
      context.strokeRect(x, y, w, h);
      context.setLineDash([]);
      context.lineDashOffset = 0;
    }
  }

  function resize() {
    const ratio = window.devicePixelRatio || 1;
    const box = stage.getBoundingClientRect();
    canvas.width = Math.max(1, Math.round(box.width * ratio));
    canvas.height = Math.max(1, Math.round(box.height * ratio));
    canvas.style.width = box.width + "px";
    canvas.style.height = box.height + "px";
    if (view.fitted) fit();
    else draw();
  }

  function size() {
    const box = stage.getBoundingClientRect();
    return { w: box.width, h: box.height };
  }

  function fit() {
    const box = size();
    view.scale = Math.min(box.w / W, box.h / H);
    view.x = (box.w - W * view.scale) / 2;
    view.y = (box.h - H * view.scale) / 2;
    view.fitted = true;
    draw();
  }

  function zoomAt(factor, px, py) {
    const box = size();
    const least = Math.min(box.w / W, box.h / H) / 4;
    const scale = Math.min(40, Math.max(least, view.scale * factor));
    view.x = px - (px - view.x) * (scale / view.scale);
    view.y = py - (py - view.y) * (scale / view.scale);
    view.scale = scale;
    view.fitted = false;
    draw();
  }

  function zoomCentre(factor) {
    const box = size();
    zoomAt(factor, box.w / 2, box.h / 2);
  }

  canvas.addEventListener("wheel", function (event) {
    event.preventDefault();
    const box = canvas.getBoundingClientRect();
    zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX - box.left, event.clientY - box.top);
  }, { passive: false });

  let drag = null;
  canvas.addEventListener("pointerdown", function (event) {
    if (event.button !== 0) return;
    drag = { x: event.clientX, y: event.clientY, vx: view.x, vy: view.y, moved: false };
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", function (event) {
    if (!drag) return;
    const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    drag.moved = true;
    stage.classList.add("dragging");
    view.x = drag.vx + dx;
    view.y = drag.vy + dy;
    view.fitted = false;
    draw();
  });
  canvas.addEventListener("pointerup", function (event) {
    if (!drag) return;
    const clicked = !drag.moved;
    drag = null;
    stage.classList.remove("dragging");
    if (clicked) {
      const box = canvas.getBoundingClientRect();
      pick(event.clientX - box.left, event.clientY - box.top);
    }
  });
  canvas.addEventListener("pointercancel", function () {
    drag = null;
    stage.classList.remove("dragging");
  });

  document.querySelectorAll("[data-zoom]").forEach(function (button) {
    button.addEventListener("click", function () {
      const how = button.getAttribute("data-zoom");
      if (how === "fit") fit();
      else zoomCentre(how === "in" ? 1.5 : 1 / 1.5);
    });
  });

  // The stage takes the image's shape, up to the height the page leaves it (viewer.css).
  stage.style.aspectRatio = W + " / " + H;
  if (window.ResizeObserver) new ResizeObserver(resize).observe(stage);
  else window.addEventListener("resize", resize);
  resize();

  // ---------------------------------------------------------------- layers

  const toggles = Array.from(document.querySelectorAll("input[data-layer]"));
  // The consensus and disagreement switches follow the reviewer from image to image.
  const REMEMBERED = ["consensus", "disagreement"];

  function visibleLayers() {
    return toggles.filter(function (t) { return t.checked && !t.disabled; })
      .map(function (t) { return t.getAttribute("data-layer"); });
  }

  function layersChanged() {
    stage.setAttribute("data-visible-layers", visibleLayers().join(" "));
    const kept = {};
    toggles.forEach(function (t) {
      const key = t.getAttribute("data-layer");
      if (REMEMBERED.indexOf(key) >= 0) kept[key] = t.checked;
    });
    try { window.sessionStorage.setItem("maskqc.viewer.layers", JSON.stringify(kept)); }
    catch (error) { /* storage refused (private mode): the switches just reset */ }
    draw();
  }

  try {
    const kept = JSON.parse(window.sessionStorage.getItem("maskqc.viewer.layers") || "{}");
    toggles.forEach(function (t) {
      const key = t.getAttribute("data-layer");
      if (REMEMBERED.indexOf(key) >= 0 && typeof kept[key] === "boolean" && !t.disabled) {
        t.checked = kept[key];
      }
    });
  } catch (error) { /* nothing remembered */ }
  toggles.forEach(function (t) { t.addEventListener("change", layersChanged); });
  layersChanged();

  function toggle(key) {
    const t = toggles.find(function (x) { return x.getAttribute("data-layer") === key; });
    if (!t || t.disabled) return;
    t.checked = !t.checked;
    layersChanged();
  }

  // ---------------------------------------------------------------- selection

  const rows = new Map();
  document.querySelectorAll("tr[data-instance]").forEach(function (row) {
    rows.set(Number(row.getAttribute("data-instance")), row);
    row.addEventListener("click", function (event) {
      if (event.target.closest("input, select, label, a, button")) return;
      select(Number(row.getAttribute("data-instance")), { reveal: true });
    });
  });

  function selectedCanvasOf(m) {
    const small = frameCanvas(m.w, m.h);
    const ctx = small.getContext("2d");
    const image = ctx.createImageData(m.w, m.h);
    const out = image.data;
    for (let r = 0; r < m.h; r += 1) {
      for (let c = 0; c < m.w; c += 1) {
        if (m.data[r * m.w + c] !== 1) continue;
        const o = (r * m.w + c) * 4;
        const edge = isEdge(m, c, r);
        out[o] = out[o + 1] = out[o + 2] = edge ? 0 : 255;
        out[o + 3] = edge ? 255 : 110;
      }
    }
    ctx.putImageData(image, 0, 0);
    return small;
  }

  function select(id, options) {
    const m = byId.get(id) || null;
    rows.forEach(function (row) { row.setAttribute("aria-selected", "false"); });
    selected = m;
    selectedCanvas = m ? selectedCanvasOf(m) : null;
    stage.setAttribute("data-selected", m ? String(id) : "");
    if (m) {
      const row = rows.get(id);
      if (row) {
        row.setAttribute("aria-selected", "true");
        if (options && options.scroll) row.scrollIntoView({ block: "nearest" });
      }
      if (options && options.reveal) reveal(m);
    }
    draw();
  }

  /* Pan so the selected instance is in view when it is not. */
  function reveal(m) {
    const box = size();
    const x0 = view.x + m.x * view.scale, y0 = view.y + m.y * view.scale;
    const x1 = x0 + m.w * view.scale, y1 = y0 + m.h * view.scale;
    if (x0 >= 0 && y0 >= 0 && x1 <= box.w && y1 <= box.h) return;
    view.x = box.w / 2 - (m.x + m.w / 2) * view.scale;
    view.y = box.h / 2 - (m.y + m.h / 2) * view.scale;
    view.fitted = false;
  }

  let lastPick = { x: -1, y: -1, index: 0 };
  /* The instances of the visible annotators under the point, smallest first; clicking the
   * same pixel again steps to the next one. */
  function pick(px, py) {
    const ix = Math.floor((px - view.x) / view.scale), iy = Math.floor((py - view.y) / view.scale);
    const shown = new Set(visibleLayers());
    const hits = [];
    annotators.forEach(function (a) {
      if (!shown.has(a.key)) return;
      a.masks.forEach(function (m) { if (inMask(m, ix - m.x, iy - m.y)) hits.push(m); });
    });
    if (!hits.length) { select(null); return; }
    hits.sort(function (p, q) { return p.area - q.area || p.id - q.id; });
    const again = lastPick.x === ix && lastPick.y === iy;
    const index = again ? (lastPick.index + 1) % hits.length : 0;
    lastPick = { x: ix, y: iy, index: index };
    select(hits[index].id, { scroll: true });
  }

  // ---------------------------------------------------------------- decisions

  function submissionForm(submission) {
    return document.getElementById("decide-" + submission);
  }

  /* The submission the keys act on: the selected instance's, else the first undecided. */
  function targetForm() {
    if (selected) {
      const owner = annotators.find(function (a) { return a.key === selected.owner; });
      const form = owner && submissionForm(owner.submission);
      if (!form) say("That instance's submission is already decided.");
      return form;
    }
    const first = document.querySelector("form.decide");
    if (!first) say("Every submission of this image is decided.");
    return first;
  }

  function accept() {
    const form = targetForm();
    if (form) form.requestSubmit(form.querySelector("[data-accept]"));
  }

  function openReject() {
    const form = targetForm();
    if (!form) return;
    const details = form.querySelector("[data-reject]");
    details.open = true;
    details.scrollIntoView({ block: "nearest" });
    const first = details.querySelector("input, textarea");
    if (first) first.focus();
  }

  function countFlags(form) {
    const flagged = Array.from(form.elements).filter(function (e) {
      return e.name === "flag" && e.checked;
    }).length;
    const out = form.querySelector("[data-flag-count]");
    if (out) {
      out.textContent = flagged === 0 ? "No instance flagged"
        : flagged + (flagged === 1 ? " instance flagged" : " instances flagged");
    }
  }
  // A decision or label being put together is not thrown away by a key that leaves the
  // page, and a form is sent once (a held or doubled key would send it again).
  // Flag boxes sit in the instance table and belong to their form by its form attribute,
  // so changes are heard on the document, by the form each control belongs to.
  let unsent = false;
  function decisionForm(control) {
    const form = control && control.form;
    return form && (form.classList.contains("decide") || form.id === "label-form");
  }
  ["change", "input"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      if (decisionForm(event.target)) unsent = true;
    });
  });
  document.querySelectorAll("form.decide, #label-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent) event.preventDefault();
      form.dataset.sent = "true";
    });
  });
  document.querySelectorAll("form.decide").forEach(function (form) {
    Array.from(form.elements).forEach(function (e) {
      if (e.name === "flag") e.addEventListener("change", function () { countFlags(form); });
    });
    countFlags(form);
  });

  // ---------------------------------------------------------------- keys

  function typing(target) {
    if (!target || !target.tagName) return false;
    if (target.isContentEditable) return true;
    const tag = target.tagName.toLowerCase();
    if (tag === "textarea" || tag === "select") return true;
    if (tag !== "input") return false;
    const kind = (target.getAttribute("type") || "text").toLowerCase();
    return ["checkbox", "radio", "button", "submit", "reset", "range", "color"].indexOf(kind) < 0;
  }

  function follow(id) {
    const link = document.getElementById(id);
    if (!link || !link.href) return;
    if (unsent && !window.confirm("Leave this image? The decision you started is not sent.")) {
      return;
    }
    window.location.assign(link.href);
  }

  function toggleShortcuts() {
    const list = document.getElementById("shortcuts");
    if (!list) return;
    list.open = !list.open;
    if (list.open) {
      list.scrollIntoView({ block: "nearest" });
      list.querySelector("summary").focus();
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const key = event.key;
    // Arrows move between a form's radio buttons and boxes: they leave the image only
    // when no form control has the focus.
    const inForm = Boolean(event.target.form);
    if (event.repeat && /^(ArrowLeft|ArrowRight|j|k|a|r)$/.test(key)) return;
    let handled = true;
    if ((key === "ArrowLeft" && !inForm) || key === "k") follow("previous-image");
    else if ((key === "ArrowRight" && !inForm) || key === "j") follow("next-image");
    else if (/^[1-9]$/.test(key)) toggle("annotator-" + key);
    else if (key === "c") toggle("consensus");
    else if (key === "d") toggle("disagreement");
    else if (key === "a") accept();
    else if (key === "r") openReject();
    else if (key === "+" || key === "=") zoomCentre(1.5);
    else if (key === "-" || key === "_") zoomCentre(1 / 1.5);
    else if (key === "0") fit();
    else if (key === "?") toggleShortcuts();
    else if (key === "Escape") select(null);
    else handled = false;
    if (handled) event.preventDefault();
  });

  window.MaskQC.viewer = {
    visibleLayers: visibleLayers,
    select: select,
    view: view,
    decoded: function () { return byId.size; },
  };
})();
