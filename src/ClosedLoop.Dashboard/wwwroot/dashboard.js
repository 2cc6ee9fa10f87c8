// ClosedLoop live dashboard: one WebSocket to the run, a canvas per view, no libraries.
// Message formats are documented in docs/dashboard.md.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const ROLE_RGB = { roi: [255, 215, 0], stimulated: [255, 0, 255], detected: [0, 229, 255], selected: [255, 255, 255] };
  const PALETTE = ['#4fc3f7', '#ff8a65', '#aed581', '#ba68c8', '#fff176', '#4db6ac', '#f06292', '#90a4ae',
    '#ffb74d', '#7986cb', '#e57373', '#81c784', '#64b5f6', '#dce775', '#a1887f', '#f8bbd0'];
  const KIND_COLOUR = { Stimulation: '#ff4fd8', StimulationRefused: '#ff6b6b', Detection: '#00e5ff', TrialStarted: '#66bb6a',
    TrialEnded: '#c5e1a5', ProtocolState: '#ffd54f', SafetyOff: '#ff7043', Fault: '#ff1744', Info: '#90a4ae' };
  const RASTER_WINDOW_S = 30;
  const MAX_TRACE_SAMPLES = 4000;
  const MAX_EVENTS = 5000;

  // Everything the page knows, readable from the browser console (and by the tests).
  const state = window.dashboard = {
    connected: false, hello: null, run: null, status: null, parameters: [], selection: [],
    traces: { t: [], frames: [], units: new Map() }, events: [], trials: [],
    framesReceived: 0, frame: null, lastReply: null, replies: [], fps: 0, overlay: null, roles: [],
  };

  let socket = null;
  let nextId = 1;
  const waiting = new Map();
  let frameDirty = false, plotsDirty = true, lastPlotMs = 0, fpsCount = 0, fpsSince = performance.now();
  let imageData = null, pixels32 = null;

  function connect() {
    socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => { state.connected = true; setText('connection', 'connected'); };
    socket.onclose = () => {
      state.connected = false;
      setText('connection', 'disconnected — retrying');
      setTimeout(connect, 1000);
    };
    socket.onmessage = (ev) => {
      if (typeof ev.data === 'string') onText(JSON.parse(ev.data));
      else onFrame(ev.data);
    };
  }

  function send(command, onReply) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    command.id = nextId++;
    if (onReply) waiting.set(command.id, onReply);
    socket.send(JSON.stringify(command));
  }

  function setText(id, text) { const e = $(id); if (e.textContent !== String(text)) e.textContent = text; }

  function onText(m) {
    switch (m.type) {
      case 'hello': state.hello = m; updateButtons(); break;
      case 'run': onRun(m); break;
      case 'units': onUnits(m); break;
      case 'status': onStatus(m); break;
      case 'parameters': onParameters(m.parameters); break;
      case 'events': onEvents(m); break;
      case 'trials': state.trials = m.responseTimesS.slice(); plotsDirty = true; break;
      case 'traces': onTraces(m); break;
      case 'reply': onReply(m); break;
      default: break;
    }
  }

  // ---- run description, ROI outlines, unit list ----
  function onRun(m) {
    state.run = m;
    state.selection = [];
    state.traces = { t: [], frames: [], units: new Map() };
    if (!m.active) {
      $('idle-note').classList.add('show');
      setText('run-id', m.runId || '—');
      buildOverlay();
      renderUnits();
      plotsDirty = true;
      return;
    }
    $('idle-note').classList.remove('show');
    state.events = [];
    state.trials = [];
    $('event-log').replaceChildren();
    setText('run-id', m.runId);
    setText('experiment', m.experiment || '—');
    state.roles = m.units.map(() => 'roi');
    for (const g of m.groups) {
      for (const u of g.units) {
        if (u < 0 || u >= state.roles.length) continue;
        if (g.role === 'stimulated') state.roles[u] = 'stimulated';
        else if (g.role === 'detected' && state.roles[u] !== 'stimulated') state.roles[u] = 'detected';
      }
    }
    state.frame = null;
    buildOverlay();
    renderUnits();
    plotsDirty = true;
  }

  // Online segmentation: ROIs appear, change or go while the run goes; unit indices never change, so selection and
  // traces stay as they are and only the outlines and the unit list are redrawn.
  function onUnits(m) {
    if (!state.run || !state.run.active || state.run.runId !== m.runId) return;
    state.run.units = m.units;
    buildOverlay();
    renderUnits();
  }

  function displaySize() {
    const r = state.run;
    if (!r || !r.active) return null;
    const bin = r.binning || 1;
    return { w: Math.max(1, Math.floor(r.widthPx / bin)), h: Math.max(1, Math.floor(r.heightPx / bin)), bin };
  }

  // Outline pixels as (display index, RGBA as uint32) pairs, painted over every frame.
  function buildOverlay() {
    const size = displaySize();
    if (!size) { state.overlay = null; frameDirty = true; return; }
    const list = [];
    const selected = new Set(state.selection);
    state.run.units.forEach((u, i) => {
      const rgb = ROLE_RGB[selected.has(i) ? 'selected' : state.roles[i]];
      const colour = (255 << 24) | (rgb[2] << 16) | (rgb[1] << 8) | rgb[0];
      const o = u.outline;
      if (o.length === 0 && u.x !== null && u.y !== null) {
        for (let a = 0; a < 24; a++) {
          const x = Math.round((u.x + 4 * Math.cos(a * Math.PI / 12)) / size.bin), y = Math.round((u.y + 4 * Math.sin(a * Math.PI / 12)) / size.bin);
          if (x >= 0 && y >= 0 && x < size.w && y < size.h) list.push(y * size.w + x, colour);
        }
      }
      for (let k = 0; k + 1 < o.length; k += 2) {
        const x = Math.floor(o[k] / size.bin), y = Math.floor(o[k + 1] / size.bin);
        if (x < size.w && y < size.h) list.push(y * size.w + x, colour);
      }
    });
    state.overlay = Int32Array.from(list);
    frameDirty = true;
  }

  function renderUnits() {
    const box = $('unit-list');
    box.replaceChildren();
    if (!state.run || !state.run.active) return;
    const selected = new Set(state.selection);
    state.run.units.slice(0, 1000).forEach((u, i) => {
      const b = document.createElement('button');
      b.textContent = u.name;
      b.dataset.unit = String(i);
      if (selected.has(i)) {
        b.classList.add('selected');
        b.style.color = PALETTE[state.selection.indexOf(i) % PALETTE.length];
      }
      b.title = `${u.name}: ${u.pixels} px, ${state.roles[i]}`;
      b.onclick = () => toggleUnit(i);
      box.appendChild(b);
    });
  }

  function toggleUnit(i) {
    const max = state.hello ? state.hello.maxSelectedUnits : 16;
    const next = state.selection.includes(i) ? state.selection.filter((u) => u !== i) : state.selection.concat([i]).slice(-max);
    send({ type: 'select', units: next }, (reply) => {
      if (!reply.ok) { showResult(reply); return; }
      state.selection = next;
      buildOverlay();
      renderUnits();
      plotsDirty = true;
    });
  }

  $('frame-canvas').addEventListener('click', (ev) => {
    const r = state.run;
    if (!r || !r.active) return;
    const c = ev.currentTarget;
    const x = ev.offsetX / c.clientWidth * r.widthPx, y = ev.offsetY / c.clientHeight * r.heightPx;
    let best = -1, bestD = Infinity;
    r.units.forEach((u, i) => {
      if (u.x === null || u.y === null) return;
      const d = Math.hypot(u.x - x, u.y - y);
      if (d < bestD && d <= u.radiusPx * 1.5 + 3) { best = i; bestD = d; }
    });
    if (best >= 0) toggleUnit(best);
  });

  // ---- frames ----
  function onFrame(buffer) {
    const v = new DataView(buffer);
    if (buffer.byteLength < 32 || v.getUint8(0) !== 1) return;
    const w = v.getUint16(2, true), h = v.getUint16(4, true);
    if (buffer.byteLength < 32 + w * h) return;
    state.frame = {
      w, h, bin: v.getUint16(6, true), index: Number(v.getBigInt64(8, true)), t: Number(v.getBigInt64(16, true)) / 1e9,
      low: v.getUint16(24, true), high: v.getUint16(26, true), pixels: new Uint8Array(buffer, 32, w * h),
    };
    state.framesReceived++;
    fpsCount++;
    frameDirty = true;
  }

  function drawFrame() {
    const f = state.frame;
    const c = $('frame-canvas');
    if (!f) return;
    if (c.width !== f.w || c.height !== f.h || !imageData) {
      c.width = f.w;
      c.height = f.h;
      imageData = c.getContext('2d').createImageData(f.w, f.h);
      pixels32 = new Uint32Array(imageData.data.buffer);
    }
    const p = f.pixels, out = pixels32;
    for (let i = 0; i < p.length; i++) { const g = p[i]; out[i] = 0xff000000 | (g << 16) | (g << 8) | g; }
    const o = state.overlay;
    if (o) for (let k = 0; k + 1 < o.length; k += 2) if (o[k] < out.length) out[o[k]] = o[k + 1];
    c.getContext('2d').putImageData(imageData, 0, 0);
    setText('frame-info', `frame ${f.index} · t ${f.t.toFixed(2)} s · display ${f.low}–${f.high} counts${f.bin > 1 ? ` · binned ${f.bin}×` : ''}`);
  }

  // ---- status, parameters, replies ----
  function onStatus(s) {
    state.status = s;
    const st = $('state');
    setText('state', s.state);
    st.className = 'badge state ' + s.state;
    if (s.runId) setText('run-id', s.runId);
    if (s.experiment) setText('experiment', s.experiment);
    setText('protocol-state', s.protocolState || '—');
    setText('c-frames', s.framesProcessed ?? 0);
    setText('c-dropped', s.framesDropped ?? 0);
    setText('c-latency', s.latencyP50Us == null ? '—' : `${s.latencyP50Us.toFixed(0)} / ${(s.latencyP99Us ?? NaN).toFixed(0)}`);
    setText('c-stimuli', `${s.stimuliDelivered ?? 0} (${s.stimuliRefused ?? 0})`);
    setText('c-trials', s.trialsDone ?? 0);
    const d = s.dashboard || {};
    setText('c-view-dropped', `${(d.framesDroppedAtTap ?? 0) + (d.framesDroppedForYou ?? 0)}`);
    setText('c-bad', d.badMessages ?? 0);
    updateButtons();
  }

  function updateButtons() {
    const control = !!(state.hello && state.hello.control);
    const s = state.status ? state.status.state : 'Idle';
    $('btn-start').disabled = !control || s !== 'Idle';
    $('btn-stop').disabled = !control || s !== 'Running';
  }

  function showResult(reply) {
    const r = $('command-result');
    r.className = 'result ' + (reply.ok ? 'ok' : 'error');
    r.textContent = reply.ok ? `${reply.command}: ok` : `${reply.command}: ${reply.error.code} — ${reply.error.message}`;
  }

  function onReply(m) {
    state.lastReply = m;
    state.replies.push(m);
    if (state.replies.length > 100) state.replies.shift();
    const cb = waiting.get(m.id);
    waiting.delete(m.id);
    if (cb) cb(m); else showResult(m);
  }

  $('btn-start').onclick = () => send({ type: 'start' }, showResult);
  $('btn-stop').onclick = () => send({ type: 'stop', reason: 'stopped from the dashboard' }, showResult);

  function onParameters(list) {
    state.parameters = list;
    const body = $('param-table').tBodies[0];
    const names = list.map((p) => p.name).join('\n');
    if (body.dataset.names !== names) {
      body.replaceChildren();
      body.dataset.names = names;
      for (const p of list) {
        const tr = document.createElement('tr');
        tr.dataset.name = p.name;
        const name = document.createElement('td'); name.textContent = p.name; name.title = p.description;
        const value = document.createElement('td'); value.className = 'value';
        const range = document.createElement('td'); range.textContent = `${p.min} – ${p.max} ${p.unit}`;
        const inputCell = document.createElement('td');
        const input = document.createElement('input'); input.type = 'text'; input.className = 'param-input';
        inputCell.appendChild(input);
        const err = document.createElement('div'); err.className = 'row-error'; inputCell.appendChild(err);
        const buttonCell = document.createElement('td');
        const b = document.createElement('button'); b.textContent = 'Set'; b.className = 'param-set';
        b.onclick = () => setParameter(p.name, input.value, err);
        input.onkeydown = (ev) => { if (ev.key === 'Enter') setParameter(p.name, input.value, err); };
        buttonCell.appendChild(b);
        tr.append(name, value, range, inputCell, buttonCell);
        body.appendChild(tr);
      }
    }
    for (const p of list) {
      const tr = body.querySelector(`tr[data-name="${CSS.escape(p.name)}"]`);
      if (tr) tr.querySelector('.value').textContent = `${p.value} ${p.unit}`;
    }
  }

  function setParameter(name, text, errCell) {
    const n = Number(text);
    const value = text.trim() !== '' && Number.isFinite(n) ? n : text;
    send({ type: 'set', name, value }, (reply) => {
      showResult(reply);
      const message = reply.ok ? '' : `${reply.error.code}: ${reply.error.message}`;
      errCell.textContent = message;
      $('param-error').textContent = reply.ok ? '' : `${name}: ${message}`;
    });
  }

  // ---- events, traces ----
  function onEvents(m) {
    if (m.history) state.events = [];
    const log = $('event-log');
    for (const e of m.events) {
      state.events.push(e);
      if (!m.history && e.kind === 'TrialEnded') state.trials.push(e.value);
      const li = document.createElement('li');
      li.className = e.kind;
      li.textContent = `${e.t.toFixed(3)} s  ${e.kind}  ${e.source}: ${e.message}${e.value == null ? '' : ` (${e.value})`}`;
      log.prepend(li);
    }
    while (log.childElementCount > 300) log.lastElementChild.remove();
    if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
    plotsDirty = true;
  }

  function onTraces(m) {
    const tr = state.traces;
    if (m.reset) { tr.t = []; tr.frames = []; tr.units = new Map(); }
    tr.t.push(...m.t);
    tr.frames.push(...m.frames);
    for (const u of m.units) {
      let s = tr.units.get(u.index);
      if (!s || m.reset) { s = { dff: [], rate: [] }; tr.units.set(u.index, s); }
      s.dff.push(...u.dff);
      s.rate.push(...u.rate);
    }
    const excess = tr.t.length - MAX_TRACE_SAMPLES;
    if (excess > 0) {
      tr.t.splice(0, excess);
      tr.frames.splice(0, excess);
      for (const s of tr.units.values()) { s.dff.splice(0, excess); s.rate.splice(0, excess); }
    }
    plotsDirty = true;
  }

  // ---- plots ----
  function nowS() {
    let t = 0;
    if (state.frame) t = Math.max(t, state.frame.t);
    if (state.traces.t.length) t = Math.max(t, state.traces.t[state.traces.t.length - 1]);
    if (state.events.length) t = Math.max(t, state.events[state.events.length - 1].t);
    return t;
  }

  function axes(ctx, x0, y0, w, h, yMin, yMax, label) {
    ctx.strokeStyle = '#37474f'; ctx.strokeRect(x0, y0, w, h);
    ctx.fillStyle = '#8a96a3'; ctx.font = '10px sans-serif';
    ctx.fillText(fmt(yMax), 2, y0 + 10); ctx.fillText(fmt(yMin), 2, y0 + h - 2);
    ctx.fillText(label, x0 + 4, y0 + 11);
  }

  function fmt(v) { return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(1) : v.toFixed(3); }

  function drawTraces() {
    const c = $('trace-canvas'), ctx = c.getContext('2d');
    ctx.clearRect(0, 0, c.width, c.height);
    const tr = state.traces, x0 = 44, w = c.width - x0 - 6, half = (c.height - 18) / 2;
    const rateScale = state.run && state.run.frameRateHz ? state.run.frameRateHz : 1;
    if (!state.selection.length || tr.t.length < 2) {
      ctx.fillStyle = '#8a96a3'; ctx.font = '12px sans-serif';
      ctx.fillText('select units (click an ROI or a name) to see their traces', x0 + 10, c.height / 2);
      return;
    }
    const t0 = tr.t[0], t1 = tr.t[tr.t.length - 1], span = Math.max(1e-6, t1 - t0);
    const panels = [{ key: 'dff', scale: 1, label: 'ΔF/F', y0: 2 }, { key: 'rate', scale: rateScale, label: 'spikes/s', y0: half + 8 }];
    for (const p of panels) {
      let lo = Infinity, hi = -Infinity;
      for (const u of state.selection) {
        const s = tr.units.get(u); if (!s) continue;
        for (const v of s[p.key]) if (v !== null) { lo = Math.min(lo, v * p.scale); hi = Math.max(hi, v * p.scale); }
      }
      if (!isFinite(lo)) { lo = 0; hi = 1; }
      if (hi - lo < 1e-6) hi = lo + 1;
      axes(ctx, x0, p.y0, w, half, lo, hi, p.label);
      state.selection.forEach((u, k) => {
        const s = tr.units.get(u); if (!s) return;
        ctx.strokeStyle = PALETTE[k % PALETTE.length]; ctx.lineWidth = 1.5; ctx.beginPath();
        let pen = false;
        const series = s[p.key];
        for (let i = 0; i < series.length; i++) {
          if (series[i] === null) { pen = false; continue; }
          const x = x0 + (tr.t[i] - t0) / span * w, y = p.y0 + half - (series[i] * p.scale - lo) / (hi - lo) * half;
          if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
          pen = true;
        }
        ctx.stroke();
      });
    }
    ctx.fillStyle = '#8a96a3';
    ctx.fillText(`${t0.toFixed(1)} s`, x0, c.height - 2);
    ctx.fillText(`${t1.toFixed(1)} s`, x0 + w - 40, c.height - 2);
  }

  function drawRaster() {
    const c = $('raster-canvas'), ctx = c.getContext('2d');
    ctx.clearRect(0, 0, c.width, c.height);
    const x0 = 150, w = c.width - x0 - 6, t1 = nowS(), t0 = t1 - RASTER_WINDOW_S;
    const rows = new Map();
    let marks = 0;
    for (const e of state.events) {
      if (e.kind === 'Info') continue;
      const key = `${e.kind} · ${e.source}`;
      if (!rows.has(key)) rows.set(key, { kind: e.kind, row: rows.size });
    }
    const n = Math.max(1, rows.size), rowH = Math.min(20, (c.height - 14) / n);
    ctx.font = '10px sans-serif';
    if (rows.size === 0) {
      ctx.fillStyle = '#8a96a3'; ctx.font = '12px sans-serif';
      ctx.fillText('no detections, stimulation or trials yet', x0 + 10, c.height / 2);
      state.rasterMarks = 0;
      return;
    }
    for (const [key, r] of rows) {
      ctx.fillStyle = KIND_COLOUR[r.kind] || '#ccc';
      ctx.fillText(key.length > 26 ? key.slice(0, 25) + '…' : key, 2, r.row * rowH + rowH * 0.7);
    }
    ctx.strokeStyle = '#37474f'; ctx.strokeRect(x0, 0, w, n * rowH);
    for (const e of state.events) {
      if (e.kind === 'Info' || e.t < t0) continue;
      const r = rows.get(`${e.kind} · ${e.source}`);
      const x = x0 + (e.t - t0) / RASTER_WINDOW_S * w;
      ctx.fillStyle = KIND_COLOUR[e.kind] || '#ccc';
      ctx.fillRect(Math.round(x) - 1, r.row * rowH + 2, 3, rowH - 4);
      marks++;
    }
    ctx.fillStyle = '#8a96a3';
    ctx.fillText(`${t0.toFixed(1)} s`, x0, c.height - 2);
    ctx.fillText(`${t1.toFixed(1)} s`, x0 + w - 40, c.height - 2);
    state.rasterMarks = marks;
  }

  function drawCurve() {
    const c = $('curve-canvas'), ctx = c.getContext('2d');
    ctx.clearRect(0, 0, c.width, c.height);
    const values = state.trials, x0 = 44, w = c.width - x0 - 10, h = c.height - 24, y0 = 4;
    const finite = values.filter((v) => v !== null && isFinite(v));
    if (!values.length) {
      ctx.fillStyle = '#8a96a3'; ctx.font = '12px sans-serif';
      ctx.fillText('no trial finished yet', x0 + 10, c.height / 2);
      state.curvePoints = 0;
      return;
    }
    const hi = Math.max(1e-3, ...finite) * 1.1;
    axes(ctx, x0, y0, w, h, 0, hi, 'response time (s)');
    const x = (i) => x0 + (values.length === 1 ? w / 2 : i / (values.length - 1) * w);
    const y = (v) => y0 + h - v / hi * h;
    ctx.strokeStyle = '#66bb6a'; ctx.lineWidth = 1.5; ctx.beginPath();
    let pen = false;
    values.forEach((v, i) => {
      if (v === null || !isFinite(v)) { pen = false; return; }
      if (pen) ctx.lineTo(x(i), y(v)); else ctx.moveTo(x(i), y(v));
      pen = true;
    });
    ctx.stroke();
    let points = 0;
    values.forEach((v, i) => {
      if (v === null || !isFinite(v)) { ctx.fillStyle = '#ff7043'; ctx.fillText('×', x(i) - 3, y0 + 10); return; }
      ctx.fillStyle = '#c5e1a5'; ctx.beginPath(); ctx.arc(x(i), y(v), 3, 0, 2 * Math.PI); ctx.fill();
      points++;
    });
    ctx.fillStyle = '#8a96a3'; ctx.font = '10px sans-serif';
    ctx.fillText('trial 1', x0, c.height - 4);
    ctx.fillText(`trial ${values.length}`, x0 + w - 40, c.height - 4);
    state.curvePoints = points;
  }

  function tick(nowMs) {
    if (frameDirty) { frameDirty = false; drawFrame(); }
    if (plotsDirty && nowMs - lastPlotMs > 100) {
      plotsDirty = false;
      lastPlotMs = nowMs;
      drawTraces();
      drawRaster();
      drawCurve();
    }
    if (nowMs - fpsSince >= 1000) {
      state.fps = fpsCount * 1000 / (nowMs - fpsSince);
      fpsCount = 0;
      fpsSince = nowMs;
      setText('c-fps', state.fps.toFixed(1));
      plotsDirty = true; // the raster's time window moves
    }
    requestAnimationFrame(tick);
  }

  connect();
  requestAnimationFrame(tick);
})();
