/// The viewer's one page: HTML, CSS and script, all ours, no third-party code, nothing fetched
/// from elsewhere (the page works offline). It talks to ``ViewerRoutes``' JSON API.
enum ViewerPage {
    /// Scripts and styles from this page only; images from the server or data: URLs.
    static let policy = "default-src 'self'; img-src 'self' data: blob:; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'"

    static let html = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fovea viewer</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
:root { --ink:#1d2330; --muted:#667085; --line:#d9dde5; --accent:#c2410c; --bg:#f6f7f9; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui, "DejaVu Sans", sans-serif; color:var(--ink); background:var(--bg); }
header { display:flex; gap:16px; align-items:center; padding:8px 16px; background:#fff; border-bottom:1px solid var(--line); }
header h1 { font-size:18px; margin:0; letter-spacing:.5px; }
header h1 span { color:var(--accent); }
select, input, button { font:inherit; }
button { padding:4px 12px; border:1px solid var(--line); background:#fff; border-radius:4px; cursor:pointer; }
button.primary { background:var(--accent); color:#fff; border-color:var(--accent); }
button:disabled { opacity:.5; cursor:default; }
#status { color:var(--muted); margin-left:auto; font-size:12px; }
#status.error { color:#b91c1c; }
main { display:grid; grid-template-columns: 250px 1fr; height: calc(100vh - 45px); }
aside { border-right:1px solid var(--line); background:#fff; overflow:auto; padding:8px; }
#drop { border:2px dashed var(--line); border-radius:6px; padding:10px; text-align:center; color:var(--muted); margin-bottom:8px; }
#drop.over { border-color:var(--accent); color:var(--accent); }
#gallery { display:grid; grid-template-columns: repeat(3, 1fr); gap:4px; }
#gallery img { width:100%; aspect-ratio:1; object-fit:cover; border:2px solid transparent; border-radius:3px; cursor:pointer; background:#eee; }
#gallery img.selected { border-color:var(--accent); }
#content { overflow:auto; padding:12px 16px; }
nav.tabs { display:flex; gap:4px; margin-bottom:12px; }
nav.tabs button.active { background:var(--ink); color:#fff; border-color:var(--ink); }
.panel { display:none; } .panel.active { display:block; }
.row { display:flex; gap:20px; flex-wrap:wrap; align-items:flex-start; }
.card { background:#fff; border:1px solid var(--line); border-radius:6px; padding:10px; }
.stack { position:relative; display:inline-block; line-height:0; }
.stack img { display:block; image-rendering:auto; }
.stack img.heat { position:absolute; left:0; top:0; }
table { border-collapse:collapse; } td, th { padding:2px 8px; text-align:left; }
td.p { text-align:right; font-variant-numeric: tabular-nums; }
.bar { height:8px; background:var(--accent); border-radius:2px; }
.controls { display:flex; gap:10px; flex-wrap:wrap; align-items:center; margin-bottom:10px; }
#layer-tree { max-height:70vh; overflow:auto; font-family:"DejaVu Sans Mono", monospace; font-size:12px; min-width:360px; }
#layer-tree div { cursor:pointer; padding:1px 4px; white-space:nowrap; }
#layer-tree div:hover { background:#f1f3f7; } #layer-tree div.selected { background:#fde7db; }
#layer-tree .shape { color:var(--muted); margin-left:8px; }
#projector-wrap { position:relative; }
#projector-canvas { background:#fff; border:1px solid var(--line); border-radius:6px; cursor:grab; touch-action:none; }
#tooltip { position:absolute; pointer-events:none; background:#fff; border:1px solid var(--line); padding:4px; display:none; font-size:12px; border-radius:4px; }
#legend span { display:inline-flex; align-items:center; gap:4px; margin-right:10px; font-size:12px; cursor:pointer; }
#legend i { width:10px; height:10px; display:inline-block; border-radius:2px; }
#neighbours { display:flex; gap:6px; flex-wrap:wrap; }
#neighbours figure { margin:0; text-align:center; font-size:11px; }
#neighbours img { width:72px; height:72px; image-rendering:pixelated; border:1px solid var(--line); }
progress { width:260px; }
canvas.curve { border:1px solid var(--line); background:#fff; }
.muted { color:var(--muted); }
</style></head>
<body>
<header><h1>F<span>o</span>vea</h1>
<label>Model <select id="model"></select></label>
<span id="model-info" class="muted"></span>
<span id="status">loading…</span></header>
<main>
<aside>
  <div id="drop">Drop an image here<br>or <label><u style="cursor:pointer">choose a file</u><input id="upload" type="file" accept="image/png,image/jpeg" hidden></label></div>
  <div id="gallery"></div>
</aside>
<section id="content">
  <nav class="tabs">
    <button data-tab="explain" class="active" id="tab-explain">Explain</button>
    <button data-tab="layers" id="tab-layers">Layers</button>
    <button data-tab="projector" id="tab-projector">Projector</button>
    <button data-tab="attack" id="tab-attack">Attack</button>
    <button data-tab="style" id="tab-style">Style</button>
  </nav>
  <div class="panel active" id="panel-explain">
    <div class="row">
      <div class="card"><div class="stack"><img id="crop" alt="the crop the model sees"><img id="heat" class="heat" alt=""></div>
        <div id="colorbar" style="margin-top:6px; display:none"><img id="bar" style="width:100%; height:10px; display:block"><div style="display:flex; justify-content:space-between" class="muted"><span id="bar-lo"></span><span id="bar-hi"></span></div></div>
      </div>
      <div class="card"><b>Top 5</b><table id="top5"></table></div>
      <div class="card" style="min-width:320px">
        <div class="controls">
          <label>Method <select id="method"></select></label>
          <label>Layer <select id="cam-layer"><option value="">default</option></select></label>
        </div>
        <div class="controls">
          <label>Colours <select id="cmap"><option value="">auto</option></select></label>
          <label>Opacity <input id="opacity" type="range" min="0" max="1" step="0.05" value="0.55"></label>
          <button id="run" class="primary">Explain</button>
        </div>
        <div id="scores" class="muted">Pick an image and a method.</div>
        <canvas id="curves" class="curve" width="300" height="120" style="display:none"></canvas>
      </div>
    </div>
    <div class="card" style="margin-top:16px">
      <div class="controls"><b>All photos</b>
        <label><select id="explain-all-methods"><option value="current">the chosen method</option><option value="">every method</option></select></label>
        <button id="explain-all">Explain all photos</button><button id="explain-all-cancel" disabled>Cancel</button>
        <progress id="explain-all-progress" max="1" value="0" style="display:none"></progress><span id="explain-all-status" class="muted">Every photo of the gallery, with each method's mean deletion and insertion AUC (as <code>fovea explain FOLDER</code>).</span></div>
      <div class="row"><table id="explain-all-methods-table"></table><table id="explain-all-images"></table></div>
    </div>
  </div>
  <div class="panel" id="panel-layers">
    <div class="row">
      <div class="card"><b>Layers</b> <span class="muted">(PyTorch module paths, output shapes)</span><div id="layer-tree"></div></div>
      <div class="card" style="max-width:720px"><div id="layer-title"><b>Pick a layer</b></div>
        <p class="muted" id="layer-help">Activation maps of the current image, strongest channels first; for a convolution, its filters.</p>
        <img id="activations" alt="" style="max-width:100%"><br><img id="filters" alt="" style="max-width:100%; margin-top:10px">
        <div class="controls" style="margin-top:10px"><b>Channel</b> <input id="channel" type="number" min="0" value="0" style="width:70px">
          <button id="show-channel">Show channel</button><button id="channel-cancel" disabled>Cancel</button>
          <progress id="channel-progress" max="1" value="0" style="display:none"></progress><span id="channel-status" class="muted"></span></div>
        <div class="row">
          <figure style="margin:0"><figcaption class="muted">feature visualisation</figcaption><img id="channel-vis" alt=""></figure>
          <figure style="margin:0"><figcaption class="muted">filter (one tile per input channel)</figcaption><img id="channel-filter" alt=""></figure>
        </div>
        <figure style="margin:10px 0 0 0"><figcaption class="muted">strongest patches (receptive fields)</figcaption><img id="channel-patches" alt="" style="max-width:100%"></figure>
      </div>
    </div>
  </div>
  <div class="panel" id="panel-attack">
    <div class="controls">
      <label>Method <select id="attack-method"><option value="pgd">PGD</option><option value="fgsm">FGSM</option></select></label>
      <label>&epsilon; <input id="epsilon" value="2/255" size="6"></label>
      <label>Steps <input id="attack-steps" type="number" value="10" min="1" max="200" style="width:60px"></label>
      <label>Target class <input id="attack-target" placeholder="(untargeted)" size="14"></label>
      <button id="attack-run" class="primary">Attack</button>
    </div>
    <div id="attack-status" class="muted">An imperceptible perturbation, within &epsilon; of every pixel, that changes the prediction.</div>
    <div class="row" style="margin-top:10px">
      <div class="card"><b>original</b><br><img id="attack-original" alt=""><table id="attack-before"></table></div>
      <div class="card"><b>perturbation</b> <span class="muted">(&plusmn;&epsilon; as black&hellip;white)</span><br><img id="attack-perturbation" alt=""></div>
      <div class="card"><b>adversarial</b><br><img id="attack-adversarial" alt=""><table id="attack-after"></table></div>
    </div>
  </div>
  <div class="panel" id="panel-projector">
    <div class="controls">
      <label>Map <select id="projection-method"><option value="tsne">t-SNE</option><option value="pca">PCA</option></select></label>
      <button id="projector-compute" class="primary">Compute</button>
      <button id="projector-cancel" disabled>Cancel</button>
      <button id="projector-fit" title="the whole map in view (or double-click the map)">Fit</button>
      <progress id="progress" max="1" value="0" style="display:none"></progress><span id="progress-text" class="muted"></span>
      <label>Find label <input id="label-search" placeholder="e.g. Sneaker" size="12"></label>
    </div>
    <div id="legend"></div>
    <div id="projector-wrap"><canvas id="projector-canvas" width="900" height="600"></canvas><div id="tooltip"></div></div>
    <div class="card" style="margin-top:10px"><b>Nearest neighbours</b> <span class="muted">(click a point; cosine distance in feature space)</span><div id="neighbours"></div></div>
  </div>
  <div class="panel" id="panel-style">
    <div class="controls">
      <label>Method <select id="style-method"><option value="adain">AdaIN (any style)</option><option value="johnson">Johnson network (The Scream)</option></select></label>
      <label>Style <select id="style-image"></select></label>
      <label>&alpha; <input id="style-alpha" type="range" min="0" max="1" step="0.05" value="1"> <span id="style-alpha-value">1</span></label>
      <label>Size <select id="style-size"><option>256</option><option selected>384</option><option>512</option></select></label>
      <button id="style-run" class="primary">Stylise</button>
    </div>
    <div id="style-status" class="muted">The current image in another image's style: AdaIN matches each VGG-16 relu4_1 channel's mean and spread to the style's; the feed-forward network was trained on one painting.</div>
    <div class="row" style="margin-top:10px">
      <div class="card"><b>style</b><br><img id="style-preview" alt="" style="max-width:256px"></div>
      <div class="card"><b>result</b><br><img id="style-result" alt="" style="max-width:640px"></div>
    </div>
  </div>
</section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const state = { model: null, image: null, layers: [], dataset: null };
function status(text, isError) { const s = $("status"); s.textContent = text; s.className = isError ? "error" : ""; }
async function api(path, options) {
  const r = await fetch(path, options);
  if (!r.ok) { let m = r.statusText; try { m = (await r.json()).error; } catch (e) {} throw new Error(m); }
  return r.json();
}
function query(params) { return Object.entries(params).filter(([k, v]) => v !== null && v !== undefined && v !== "")
  .map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v)).join("&"); }

// Tabs
document.querySelectorAll("nav.tabs button").forEach(b => b.onclick = () => {
  document.querySelectorAll("nav.tabs button").forEach(x => x.classList.toggle("active", x === b));
  document.querySelectorAll(".panel").forEach(p => p.classList.toggle("active", p.id === "panel-" + b.dataset.tab));
  if (b.dataset.tab === "projector") projector.show();
});

// Models and layers
async function loadModels() {
  const info = await api("/api/models");
  state.dataset = info.dataset;
  $("model").innerHTML = info.models.map(m => `<option value="${esc(m.name)}">${esc(m.name)}${m.source === "built-in" ? "" : " (file)"}</option>`).join("");
  $("method").innerHTML = info.methods.map(m => `<option>${esc(m)}</option>`).join("");
  $("method").value = "gradcam";
  $("cmap").innerHTML += info.colormaps.map(c => `<option>${esc(c)}</option>`).join("");
  state.model = info.models[0].name;
  $("model").onchange = () => { state.model = $("model").value; loadLayers(); refreshImage(); };
  await loadLayers();
}
async function loadLayers() {
  status("loading " + state.model + "…");
  const info = await api("/api/layers?" + query({ model: state.model }));
  state.layers = info.layers;
  state.hasClassifier = info.hasClassifier;
  $("model-info").textContent = `input ${info.input.slice(1).join("×")} · ${info.layers.length} modules` + (info.hasClassifier ? "" : " · no classifier head");
  const spatial = info.layers.filter(l => l.shape.length === 4);
  $("cam-layer").innerHTML = `<option value="">default${info.camLayer ? " (" + esc(info.camLayer) + ")" : ""}</option>` +
    spatial.map(l => `<option value="${esc(l.layer)}">${esc(l.layer)} ${l.shape.slice(1).join("×")}</option>`).join("");
  $("layer-tree").innerHTML = info.layers.map(l => {
    const depth = l.layer.split(".").length - 1;
    return `<div data-layer="${esc(l.layer)}" style="padding-left:${4 + depth * 14}px">${esc(l.layer.split(".").pop())}` +
      `<span class="shape">${l.shape.slice(1).join("×")} ${esc(l.kind)}</span></div>`; }).join("");
  $("layer-tree").querySelectorAll("div").forEach(d => d.onclick = () => showLayer(d.dataset.layer));
  status("ready");
}
function esc(s) { return String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }

// Gallery and upload
async function loadGallery(select) {
  const items = await api("/api/images");
  $("gallery").innerHTML = items.map(i => `<img loading="lazy" src="/api/images/${encodeURIComponent(i.id)}" data-id="${esc(i.id)}" title="${esc(i.name + (i.label ? " (" + i.label + ")" : ""))}">`).join("");
  $("gallery").querySelectorAll("img").forEach(img => img.onclick = () => selectImage(img.dataset.id));
  const first = select || (items[0] && items[0].id);
  if (first) selectImage(first);
}
function selectImage(id) {
  state.image = id;
  $("gallery").querySelectorAll("img").forEach(img => img.classList.toggle("selected", img.dataset.id === id));
  refreshImage();
}
async function refreshImage() {
  if (!state.image) return;
  $("heat").removeAttribute("src"); $("colorbar").style.display = "none";
  $("crop").src = "/api/crop?" + query({ model: state.model, image: state.image });
  $("top5").innerHTML = ""; $("scores").textContent = "Pick a method and press Explain.";
  $("curves").style.display = "none";
  if (state.hasClassifier) {
    try {
      const p = await api("/api/predict?" + query({ model: state.model, image: state.image }));
      $("top5").innerHTML = p.top.map(t => `<tr><td>${esc(t.label)}</td><td class="p">${(100 * t.probability).toFixed(1)}%</td>` +
        `<td style="width:80px"><div class="bar" style="width:${Math.max(1, 80 * t.probability)}px"></div></td></tr>`).join("");
      status(`top-1: ${p.top[0].label}`);
    } catch (e) { status(e.message, true); }
  }
  if (state.layer) showLayer(state.layer);
}
async function upload(file) {
  if (!file) return;
  status("uploading " + file.name + "…");
  try {
    const r = await api("/api/images?" + query({ name: file.name }), { method: "POST", body: file });
    await loadGallery(r.id);
  } catch (e) { status(e.message, true); }
}
$("upload").onchange = (e) => upload(e.target.files[0]);
const drop = $("drop");
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); upload(e.dataTransfer.files[0]); };

// Attribution
$("opacity").oninput = () => { $("heat").style.opacity = $("opacity").value; };
$("run").onclick = explain;
async function explain() {
  if (!state.image) return;
  $("run").disabled = true;
  status("computing " + $("method").value + "…");
  try {
    const a = await api("/api/attribution?" + query({ model: state.model, image: state.image, method: $("method").value,
      layer: $("cam-layer").value, cmap: $("cmap").value }));
    const heat = $("heat");
    heat.style.opacity = $("opacity").value;
    heat.onload = () => { heat.width = $("crop").width; heat.height = $("crop").height; };
    heat.src = a.heat;
    $("bar").src = a.bar; $("colorbar").style.display = "block";
    $("bar-lo").textContent = a.range[0].toPrecision(3); $("bar-hi").textContent = a.range[1].toPrecision(3);
    $("scores").innerHTML = `<b>${esc(a.method)}</b>${a.layer ? " at " + esc(a.layer) : ""} for <b>${esc(a.label)}</b> (${(100 * a.probability).toFixed(1)}%)<br>` +
      (a.deletionAUC !== null && a.deletionAUC !== undefined ? `deletion AUC <b id="deletion-auc">${a.deletionAUC.toFixed(3)}</b> (lower is better) · insertion AUC <b id="insertion-auc">${a.insertionAUC.toFixed(3)}</b> (higher is better), ${esc(a.baseline)} baseline<br>` : "") +
      `<span class="muted">${a.seconds.toFixed(2)} s</span>`;
    if (a.deletionCurve) drawCurves(a.deletionCurve, a.insertionCurve);
    status("done: " + a.method);
  } catch (e) { status(e.message, true); $("scores").textContent = e.message; }
  $("run").disabled = false;
}
function drawCurves(del, ins) {
  const c = $("curves"); c.style.display = "block";
  const g = c.getContext("2d"); g.clearRect(0, 0, c.width, c.height);
  const plot = (ys, colour) => { g.strokeStyle = colour; g.lineWidth = 2; g.beginPath();
    ys.forEach((y, i) => { const px = 30 + (c.width - 40) * i / (ys.length - 1), py = c.height - 20 - (c.height - 30) * y;
      i ? g.lineTo(px, py) : g.moveTo(px, py); }); g.stroke(); };
  g.strokeStyle = "#999"; g.strokeRect(30, 10, c.width - 40, c.height - 30);
  plot(del, "#2563eb"); plot(ins, "#c2410c");
  g.fillStyle = "#2563eb"; g.fillText("deletion", 36, 22); g.fillStyle = "#c2410c"; g.fillText("insertion", 96, 22);
  g.fillStyle = "#667085"; g.fillText("fraction of pixels →", c.width - 120, c.height - 6); g.fillText("p", 14, 20);
}

// A long job's progress, streamed (server-sent events) into a <progress> and a text; resolves
// when it finishes, rejects when it fails or is cancelled.
function followJob(id, bar, text) {
  return new Promise((resolve, reject) => {
    const events = new EventSource("/api/jobs/" + id + "/events");
    events.onmessage = (m) => { const j = JSON.parse(m.data);
      bar.max = Math.max(1, j.total); bar.value = j.done;
      text.textContent = `${j.phase}: ${j.done.toLocaleString()} / ${j.total.toLocaleString()} (${j.seconds.toFixed(0)} s)`;
      if (["finished", "failed", "cancelled"].includes(j.state)) { events.close();
        j.state === "finished" ? resolve() : reject(new Error(j.state === "failed" ? j.error : "cancelled")); } };
    events.onerror = () => { events.close(); reject(new Error("lost the job's progress stream")); };
  });
}

// Layers
function showLayer(layer) {
  state.layer = layer;
  $("layer-tree").querySelectorAll("div").forEach(d => d.classList.toggle("selected", d.dataset.layer === layer));
  const info = state.layers.find(l => l.layer === layer);
  $("layer-title").innerHTML = `<b>${esc(layer)}</b> <span class="muted">${info ? info.shape.slice(1).join("×") + " " + esc(info.kind) : ""}</span>`;
  const act = $("activations");
  act.onerror = () => { act.removeAttribute("src"); $("layer-help").textContent = "No activation maps: this layer's output is not C×H×W."; };
  if (state.image && info && info.shape.length === 4) {
    $("layer-help").textContent = "Activation maps of the current image, strongest channels first" + (info.isConvolution ? "; below, the layer's filters." : ".");
    act.src = "/api/activations?" + query({ model: state.model, image: state.image, layer: layer, top: 16 });
  } else { act.removeAttribute("src"); }
  const f = $("filters");
  if (info && info.isConvolution) f.src = "/api/filters?" + query({ model: state.model, layer: layer }); else f.removeAttribute("src");
}

// Projector: points drawn straight into an ImageData, so 70k points redraw in a few ms.
const palette = [[31,119,180],[255,127,14],[44,160,44],[214,39,40],[148,103,189],[140,86,75],[227,119,194],[127,127,127],[188,189,34],[23,190,207]];
const projector = {
  data: null, scale: 1, ox: 0, oy: 0, dirty: false, highlight: null, frames: 0,
  show() { if (!this.data && !this.busy) this.load(); },
  key() { return { method: $("projection-method").value }; },
  async load() {
    try { this.set(await api("/api/projection?" + query(this.key()))); }
    catch (e) { $("progress-text").textContent = state.dataset ? "Press Compute to map " + state.dataset + "." : "No dataset: start fovea serve with --dataset."; }
  },
  set(p) {
    const bytes = Uint8Array.from(atob(p.coordinates), c => c.charCodeAt(0));
    const xy = new Float32Array(bytes.buffer);
    const labels = Uint8Array.from(atob(p.labels), c => c.charCodeAt(0));
    let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    for (let i = 0; i < p.count; i++) { const x = xy[2*i], y = xy[2*i+1];
      if (x < minX) minX = x; if (x > maxX) maxX = x; if (y < minY) minY = y; if (y > maxY) maxY = y; }
    this.data = { ...p, xy, labels, minX, maxX, minY, maxY };
    this.fit();
    $("legend").innerHTML = p.classNames.map((n, i) => `<span data-label="${i}"><i style="background:rgb(${palette[i % 10]})"></i>${esc(n)}</span>`).join("");
    $("legend").querySelectorAll("span").forEach(s => s.onclick = () => { const l = +s.dataset.label; this.highlight = this.highlight === l ? null : l; this.request(); });
    $("progress-text").textContent = `${p.count.toLocaleString()} points, ${p.method === "tsne" ? "t-SNE" : "PCA"} of ${p.model}'s features`;
    this.request();
  },
  // The whole map in view.
  fit() {
    const c = $("projector-canvas"), d = this.data; if (!d) return;
    this.scale = Math.min(c.width / (d.maxX - d.minX || 1), c.height / (d.maxY - d.minY || 1)) * 0.95;
    this.ox = c.width / 2 - this.scale * (d.minX + d.maxX) / 2; this.oy = c.height / 2 - this.scale * (d.minY + d.maxY) / 2;
    this.request();
  },
  request() { if (!this.dirty) { this.dirty = true; requestAnimationFrame(() => this.draw()); } },
  draw() {
    this.dirty = false; this.frames++;
    const c = $("projector-canvas"), g = c.getContext("2d"), d = this.data;
    if (!d) return;
    const w = c.width, h = c.height, image = g.createImageData(w, h), px = new Uint32Array(image.data.buffer);
    px.fill(0xffffffff);
    const colours = palette.map(([r, gg, b]) => (255 << 24) | (b << 16) | (gg << 8) | r);
    const dim = (255 << 24) | (225 << 16) | (225 << 8) | 225;
    const xy = d.xy, labels = d.labels, s = this.scale, ox = this.ox, oy = this.oy, hl = this.highlight;
    for (let i = 0; i < d.count; i++) {
      const x = (xy[2*i] * s + ox) | 0, y = (xy[2*i+1] * s + oy) | 0;
      if (x < 0 || y < 0 || x >= w - 1 || y >= h - 1) continue;
      const colour = hl === null || labels[i] === hl ? colours[labels[i] % 10] : dim, k = y * w + x;
      px[k] = colour; px[k + 1] = colour; px[k + w] = colour; px[k + w + 1] = colour;
    }
    g.putImageData(image, 0, 0);
    if (this.selected !== undefined) { const i = this.selected; g.strokeStyle = "#000"; g.lineWidth = 2;
      g.beginPath(); g.arc(xy[2*i] * s + ox, xy[2*i+1] * s + oy, 6, 0, 7); g.stroke(); }
  },
  nearest(mx, my) {
    const d = this.data; if (!d) return -1;
    let best = -1, bestD = 64;
    for (let i = 0; i < d.count; i++) { const dx = d.xy[2*i] * this.scale + this.ox - mx, dy = d.xy[2*i+1] * this.scale + this.oy - my;
      const dd = dx * dx + dy * dy; if (dd < bestD) { bestD = dd; best = i; } }
    return best;
  },
  // Pans by (dx, dy) every frame for `ms` and answers the frames per second drawn.
  benchmark(ms) { return new Promise(resolve => { const start = performance.now(), f0 = this.frames;
    const step = () => { this.ox += 1; this.oy += 0.5; this.draw(); const t = performance.now() - start;
      if (t < ms) requestAnimationFrame(step); else resolve((this.frames - f0) * 1000 / t); }; requestAnimationFrame(step); }); },
  async compute() {
    this.busy = true; $("projector-compute").disabled = true; $("projector-cancel").disabled = false;
    $("progress").style.display = "inline-block";
    try {
      const job = await api("/api/projection?" + query(this.key()), { method: "POST" });
      this.job = job.id;
      await followJob(job.id, $("progress"), $("progress-text"));
      await this.load();
    } catch (e) { $("progress-text").textContent = e.message; }
    this.busy = false; $("projector-compute").disabled = false; $("projector-cancel").disabled = true; $("progress").style.display = "none";
  },
  async select(i) {
    this.selected = i; this.request();
    const r = await api("/api/neighbours?" + query({ ...this.key(), index: i, k: 8 }));
    const name = (j) => this.data.classNames[this.data.labels[j]] || this.data.labels[j];
    $("neighbours").innerHTML = [{ index: i, label: name(i), distance: 0 }, ...r].map((n, k) =>
      `<figure><img src="/api/thumbnail?index=${n.index}" alt=""><figcaption>${k ? "" : "<b>query</b><br>"}${esc(n.label)}<br>${k ? n.distance.toFixed(3) : "#" + n.index}</figcaption></figure>`).join("");
  },
};
(() => {
  const c = $("projector-canvas"), tip = $("tooltip");
  let drag = null, moved = false;
  c.onpointerdown = (e) => { drag = { x: e.offsetX, y: e.offsetY }; moved = false; c.setPointerCapture(e.pointerId); };
  c.onpointermove = (e) => {
    if (drag) { const dx = e.offsetX - drag.x, dy = e.offsetY - drag.y; if (Math.abs(dx) + Math.abs(dy) > 2) moved = true;
      projector.ox += dx; projector.oy += dy; drag = { x: e.offsetX, y: e.offsetY }; projector.request(); return; }
    const i = projector.nearest(e.offsetX, e.offsetY);
    if (i < 0) { tip.style.display = "none"; return; }
    tip.style.display = "block"; tip.style.left = (e.offsetX + 14) + "px"; tip.style.top = (e.offsetY + 14) + "px";
    if (tip.dataset.index !== String(i)) { tip.dataset.index = i;
      tip.innerHTML = `<img src="/api/thumbnail?index=${i}" width="56" height="56" style="image-rendering:pixelated"><br>${esc(projector.data.classNames[projector.data.labels[i]] || "")} #${i}`; }
  };
  c.onpointerup = (e) => { if (drag && !moved) { const i = projector.nearest(e.offsetX, e.offsetY); if (i >= 0) projector.select(i); } drag = null; };
  c.onpointerleave = () => { tip.style.display = "none"; };
  c.onwheel = (e) => { e.preventDefault(); const f = Math.exp(-e.deltaY * 0.0015);
    projector.ox = e.offsetX - (e.offsetX - projector.ox) * f; projector.oy = e.offsetY - (e.offsetY - projector.oy) * f; projector.scale *= f; projector.request(); };
  $("projector-compute").onclick = () => projector.compute();
  $("projector-fit").onclick = () => projector.fit();
  c.ondblclick = () => projector.fit();
  $("projector-cancel").onclick = () => { if (projector.job) fetch("/api/jobs/" + projector.job + "/cancel", { method: "POST" }); };
  $("projection-method").onchange = () => { projector.data = null; projector.load(); };
  $("label-search").oninput = (e) => { const q = e.target.value.trim().toLowerCase(), d = projector.data; if (!d) return;
    const i = q ? d.classNames.findIndex(n => n.toLowerCase().includes(q)) : -1; projector.highlight = i >= 0 ? i : null; projector.request(); };
})();
// One channel: its filter now; its visualisation and top patches from the disk cache, or
// computed as jobs (one at a time, cancellable).
async function loadCached(path, params, img) {
  const r = await fetch(path + "?" + query(params));
  if (r.status === 409) return false;
  if (!r.ok) throw new Error((await r.json()).error);
  img.src = URL.createObjectURL(await r.blob());
  return true;
}
async function showChannel() {
  const layer = state.layer, channel = $("channel").value;
  if (!layer) { $("channel-status").textContent = "Pick a layer first."; return; }
  const params = { model: state.model, layer: layer, channel: channel };
  const info = state.layers.find(l => l.layer === layer);
  ["channel-vis", "channel-filter", "channel-patches"].forEach(id => $(id).removeAttribute("src"));
  $("show-channel").disabled = true; $("channel-cancel").disabled = false;
  const bar = $("channel-progress"), text = $("channel-status");
  try {
    if (info && info.isConvolution) await loadCached("/api/channel/filter", params, $("channel-filter"));
    for (const [path, img] of [["/api/channel/visualization", $("channel-vis")], ["/api/channel/patches", $("channel-patches")]]) {
      if (await loadCached(path, params, img)) continue;
      const job = await api(path + "?" + query(params), { method: "POST" });
      state.channelJob = job.id; bar.style.display = "inline-block";
      await followJob(job.id, bar, text);
      await loadCached(path, params, img);
    }
    text.textContent = `channel ${channel} of ${layer}`;
  } catch (e) { text.textContent = e.message; }
  bar.style.display = "none"; $("show-channel").disabled = false; $("channel-cancel").disabled = true;
}
$("show-channel").onclick = showChannel;
$("channel-cancel").onclick = () => { if (state.channelJob) fetch("/api/jobs/" + state.channelJob + "/cancel", { method: "POST" }); };

// Attack
function topTable(rows) { return rows.map(t => `<tr><td>${esc(t.label)}</td><td class="p">${(100 * t.probability).toFixed(1)}%</td></tr>`).join(""); }
$("attack-run").onclick = async () => {
  if (!state.image) return;
  $("attack-run").disabled = true; $("attack-status").textContent = "attacking…";
  try {
    const a = await api("/api/attack?" + query({ model: state.model, image: state.image, method: $("attack-method").value,
      epsilon: $("epsilon").value, steps: $("attack-steps").value, target: $("attack-target").value }));
    $("attack-original").src = "/api/crop?" + query({ model: state.model, image: state.image });
    $("attack-perturbation").src = a.perturbation; $("attack-adversarial").src = a.adversarial;
    $("attack-before").innerHTML = topTable(a.before); $("attack-after").innerHTML = topTable(a.after);
    $("attack-status").innerHTML = `${a.succeeded ? "<b>fooled</b>" : "not fooled"}: ${esc(a.before[0].label)} &rarr; ${esc(a.after[0].label)}; ` +
      `max |&delta;| = ${(255 * a.linf).toFixed(2)}/255, ${a.method.toUpperCase()} ${a.steps} step(s), ${a.seconds.toFixed(2)} s`;
  } catch (e) { $("attack-status").textContent = e.message; }
  $("attack-run").disabled = false;
};
// Style
async function loadStyles() {
  const styles = await api("/api/style/styles");
  $("style-image").innerHTML = styles.map(t => `<option value="${esc(t.id)}">${esc(t.name)}</option>`).join("");
  const preview = () => { const v = $("style-image").value; if (v) $("style-preview").src = "/api/images/" + encodeURIComponent(v); };
  $("style-image").onchange = preview; preview();
}
$("style-alpha").oninput = () => { $("style-alpha-value").textContent = $("style-alpha").value; };
$("style-method").onchange = () => { const adain = $("style-method").value === "adain";
  $("style-image").disabled = !adain; $("style-alpha").disabled = !adain; };
$("style-run").onclick = async () => {
  if (!state.image) return;
  $("style-run").disabled = true; $("style-status").textContent = "stylising…";
  try {
    const r = await api("/api/style?" + query({ image: state.image, method: $("style-method").value, style: $("style-image").value,
      alpha: $("style-alpha").value, size: $("style-size").value }));
    $("style-result").src = r.image;
    $("style-status").textContent = `${r.method === "adain" ? "AdaIN, alpha " + r.alpha : "Johnson network"}: ${r.width}×${r.height}, ${r.seconds.toFixed(2)} s`;
  } catch (e) { $("style-status").textContent = e.message; }
  $("style-run").disabled = false;
};
// Explain all photos: a job; then each method's means and each photo's scores (click a row to open it).
$("explain-all").onclick = async () => {
  const methods = $("explain-all-methods").value === "current" ? $("method").value : "";
  const params = { model: state.model, methods: methods };
  $("explain-all").disabled = true; $("explain-all-cancel").disabled = false;
  const bar = $("explain-all-progress"), text = $("explain-all-status");
  try {
    let r = await fetch("/api/explain-all?" + query(params));
    if (r.status === 409) {
      const job = await api("/api/explain-all?" + query(params), { method: "POST" });
      state.explainJob = job.id; bar.style.display = "inline-block";
      await followJob(job.id, bar, text);
      r = await fetch("/api/explain-all?" + query(params));
    }
    if (!r.ok) throw new Error((await r.json()).error);
    const index = await r.json();
    $("explain-all-methods-table").innerHTML = "<tr><th>method</th><th>mean deletion AUC ↓</th><th>mean insertion AUC ↑</th></tr>" +
      index.methods.map(m => `<tr><td>${esc(m.method)}</td><td class="p">${m.meanDeletionAUC.toFixed(3)}</td><td class="p">${m.meanInsertionAUC.toFixed(3)}</td></tr>`).join("");
    $("explain-all-images").innerHTML = "<tr><th>photo</th><th>label</th>" + index.methods.map(m => `<th>${esc(m.method)}<br>del / ins</th>`).join("") + "</tr>" +
      index.images.map(i => `<tr data-id="${esc(i.name)}" style="cursor:pointer"><td>${esc(i.file.split("/").pop())}</td><td>${esc(i.label)}</td>` +
        i.scores.map(s => `<td class="p">${s.deletionAUC.toFixed(2)} / ${s.insertionAUC.toFixed(2)}</td>`).join("") + "</tr>").join("");
    $("explain-all-images").querySelectorAll("tr[data-id]").forEach(row => row.onclick = () => selectImage(row.dataset.id));
    text.textContent = `${index.images.length} photos, ${index.methods.length} method(s), ${esc(index.baseline)} baseline`;
  } catch (e) { text.textContent = e.message; }
  bar.style.display = "none"; $("explain-all").disabled = false; $("explain-all-cancel").disabled = true;
};
$("explain-all-cancel").onclick = () => { if (state.explainJob) fetch("/api/jobs/" + state.explainJob + "/cancel", { method: "POST" }); };
window.projector = projector;

loadModels().then(() => loadGallery()).then(loadStyles).catch(e => status(e.message, true));
</script>
</body></html>
"""#
}
