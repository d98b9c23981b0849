// shipline dashboard: vanilla JS, inline SVG, no dependencies. Data from /dashboard/api.
(() => {
  "use strict";

  const KEY_STORAGE = "shipline.apiKey";
  const POLL_MS = 2000;
  const METRICS_POLL_MS = 5000;
  const PERFORMANCE_POLL_MS = 30000; // KPIs read every shipment: seconds on a big store
  const SVG_NS = "http://www.w3.org/2000/svg";
  const STATUSES = ["pre_transit", "in_transit", "exception", "out_for_delivery",
    "ready_for_pickup", "delivered", "returned", "cancelled"];

  const $ = (selector) => document.querySelector(selector);
  const state = { tab: "pipeline", timer: null, shipment: null, explainRows: [], busy: false,
    searchToken: 0, detailToken: 0, pollGeneration: 0 };

  // Formatting -------------------------------------------------------------------

  const nf = new Intl.NumberFormat("en-US");
  const int = (v) => (v === null || v === undefined ? "–" : nf.format(Math.round(Number(v))));
  const num = (v, digits = 1) => (v === null || v === undefined ? "–"
    : Number(v).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }));
  const pct = (v) => (v === null || v === undefined ? "–" : `${num(100 * v, 1)} %`);
  function seconds(v) {
    if (v === null || v === undefined) return "–";
    const s = Number(v);
    if (Math.abs(s) < 1) return `${num(s * 1000, 0)} ms`;
    if (Math.abs(s) < 120) return `${num(s, 1)} s`;
    if (Math.abs(s) < 7200) return `${num(s / 60, 1)} min`;
    if (Math.abs(s) < 172800) return `${num(s / 3600, 1)} h`;
    return `${num(s / 86400, 1)} d`;
  }
  const ms = (v) => (v === null || v === undefined ? "–" : (v < 1000 ? `${num(v, 1)} ms` : seconds(v / 1000)));
  function when(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return d.toISOString().replace("T", " ").slice(0, 19);
  }
  const shortWhen = (iso) => (iso ? when(iso).slice(5, 16) : "–");

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v; else if (k === "text") node.textContent = v;
      // Through the CSSOM: the policy refuses style attributes it has no hash for.
      else if (k === "style") node.style.cssText = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  const badge = (text, cls) => el("span", { class: `badge ${cls || text}` }, text);
  function setStat(id, value, shown) {
    const node = document.getElementById(id);
    node.dataset.value = value === null || value === undefined ? "" : String(value);
    node.textContent = shown === undefined ? int(value) : shown;
  }
  function fillTable(table, rows, emptyText, columns) {
    const body = table.tBodies[0];
    body.replaceChildren();
    if (!rows.length) {
      body.append(el("tr", {}, el("td", { colspan: String(table.tHead.rows[0].cells.length), class: "empty" }, emptyText)));
      return;
    }
    for (const row of rows) body.append(columns(row));
  }
  const td = (value, cls) => el("td", { class: cls }, value);
  /** An identifier's cell: never broken mid-id. */
  const idCell = (value) => el("td", { class: "id" }, value);
  /** A path's cell: one line, cut with an ellipsis, the whole path in its tooltip. */
  const pathCell = (value) => el("td", { class: "path", title: value }, value);
  /** An identifier that may be long: one line, cut with an ellipsis past 14rem. */
  const longIdCell = (value) => el("td", { class: "id cut", title: value }, value);

  // API --------------------------------------------------------------------------

  class ApiFailure extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  async function api(path, options = {}) {
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (!key) { askForKey(); throw new ApiFailure(401, "an API key is needed"); }
    const headers = { Authorization: `Bearer ${key}` };
    if (options.body) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, { method: options.method || "GET", headers, body: options.body });
    } catch (error) {
      throw new ApiFailure(0, `the server did not answer (${error.message})`);
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_e) { data = null; }
    if (!response.ok) {
      const message = (data && data.error && data.error.message) || (data && data.detail && JSON.stringify(data.detail))
        || `HTTP ${response.status}`;
      if (response.status === 401) askForKey(message);
      throw new ApiFailure(response.status, message);
    }
    return data;
  }
  function showError(message) {
    const box = $("#error");
    if (!message) { box.hidden = true; box.textContent = ""; return; }
    box.hidden = false;
    box.textContent = message;
  }
  function live(ok) {
    const node = $("#live");
    node.classList.toggle("ok", ok);
    node.textContent = ok ? `live · ${new Date().toLocaleTimeString("en-GB")}` : "not connected";
  }

  function askForKey(message) {
    const dialog = $("#key-dialog");
    $("#key-error").hidden = !message;
    $("#key-error").textContent = message || "";
    if (!dialog.open) dialog.showModal();
  }

  // Tabs and polling ---------------------------------------------------------------

  function selectTab(name) {
    state.tab = name;
    for (const button of document.querySelectorAll("#tabs button")) {
      button.setAttribute("aria-selected", String(button.dataset.tab === name));
    }
    for (const section of document.querySelectorAll("section.tab")) section.hidden = section.id !== `tab-${name}`;
    if (name === "shipments" && !$("#ship-status").dataset.loaded) searchShipments();
    schedule(true);
  }
  function schedule(now) {
    clearTimeout(state.timer);
    const generation = ++state.pollGeneration; // one polling loop at a time
    const refresh = { pipeline: refreshPipeline, metrics: refreshMetrics, performance: refreshPerformance }[state.tab];
    if (!refresh) return;
    const every = { metrics: METRICS_POLL_MS, performance: PERFORMANCE_POLL_MS }[state.tab] || POLL_MS;
    const tick = async () => {
      if (!document.hidden && sessionStorage.getItem(KEY_STORAGE)) {
        try { await refresh(); showError(null); live(true); } catch (error) {
          live(false);
          if (error.status !== 401) showError(`Refresh failed: ${error.message}`);
        }
      }
      if (generation === state.pollGeneration) state.timer = setTimeout(tick, every);
    };
    state.timer = setTimeout(tick, now ? 0 : every);
  }

  // Pipeline -----------------------------------------------------------------------

  const STAGES = [
    { id: "sources", title: "sources", x: 10 },
    { id: "ingest", title: "ingest", x: 232 },
    { id: "store", title: "store", x: 454 },
    { id: "engine", title: "timeline engine", x: 676 },
    { id: "serve", title: "serve", x: 898 },
  ];
  const STAGE_W = 172;
  function buildDiagram() {
    const root = $("#diagram");
    const defs = svg("defs");
    const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5",
      markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
    marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#8c959f" }));
    defs.append(marker);
    root.append(defs);
    const box = (id, title, x, y, w, h, lines, cls = "stage") => {
      const g = svg("g", { class: cls, id: `stage-${id}` });
      g.append(svg("rect", { x, y, width: w, height: h, rx: 8 }));
      g.append(svg("text", { x: x + 12, y: y + 22, class: "title" }, title));
      lines.forEach((line, i) => {
        g.append(svg("text", { x: x + 12, y: y + 46 + i * 19, id: `d-${id}-${i}`, "data-room": w - 24,
          class: i === 0 && cls === "stage" ? "big" : "" }, line));
      });
      root.append(g);
    };
    for (const stage of STAGES) box(stage.id, stage.title, stage.x, 10, STAGE_W, 150, ["…", "", "", "", "", ""]);
    const flows = [["sources", "ingest"], ["ingest", "store"], ["store", "engine"], ["engine", "serve"]];
    flows.forEach(([from], i) => {
      const x = STAGES[i].x + STAGE_W;
      root.append(svg("path", { d: `M${x + 3},85 L${x + 45},85`, class: "flow", id: `flow-${from}` }));
      root.append(svg("text", { x: x + 24, y: 76, class: "flow-label", id: `flow-label-${from}` }, ""));
    });
    box("loader", "loader: landing zone files", 10, 185, 394, 80, ["…", ""]);
    root.append(svg("path", { d: "M406,225 L450,225", class: "flow" }));
    box("warehouse", "warehouse tables", 454, 185, STAGE_W, 80, ["…", ""]);
    box("monitor", "monitor: metrics, data quality, alert rules → notifications (observes every stage)",
      10, 280, 1060, 55, [""], "stage monitor");
    box("dlq", "dead letters", 898, 185, STAGE_W, 80, ["…", ""]);
    root.append(svg("path", { d: "M318,162 L318,172 L984,172 L984,183", class: "flow", id: "flow-dlq" }));
  }
  function setLine(id, i, text) {
    const node = document.getElementById(`d-${id}-${i}`);
    if (!node) return;
    node.textContent = text;
    // A long count is squeezed to its box rather than spilling out of it.
    const room = Number(node.dataset.room);
    node.removeAttribute("textLength");
    if (text && node.getComputedTextLength() > room) {
      node.setAttribute("textLength", room);
      node.setAttribute("lengthAdjust", "spacingAndGlyphs");
    }
  }
  function setFlow(id, rate, unit = "ev/s") {
    const path = document.getElementById(`flow-${id}`);
    if (path) path.classList.toggle("active", rate > 0);
    const label = document.getElementById(`flow-label-${id}`);
    if (label) label.textContent = rate > 0 ? `${num(rate, 1)} ${unit}` : "";
  }

  async function refreshPipeline() {
    const data = await api("/dashboard/api/pipeline");
    const s = data.status;
    const st = data.stages;
    const cp = s.checkpoint;
    const srcTotal = st.sources.reduce((sum, row) => sum + row.events, 0);
    setLine("sources", 0, `${int(srcTotal)} events`);
    for (let i = 0; i < 5; i++) {
      const row = st.sources[i];
      setLine("sources", i + 1, row ? `${row.source}: ${int(row.events)}` : (i === 0 ? "no events yet" : ""));
    }
    setLine("ingest", 0, `${num(st.ingest.accepted_per_second, 2)} ev/s`);
    setLine("ingest", 1, "validate · dedupe");
    setLine("ingest", 2, `rejected ${num(st.ingest.rejected_per_second, 2)} /s`);
    setLine("ingest", 3, `dead letters: ${int(s.open_dead_letters)} open`);
    setLine("ingest", 4, `of ${int(st.ingest.dead_letters_total)} ever`);
    setLine("store", 0, `${int(s.events)} events`);
    setLine("store", 1, "append-only");
    setLine("store", 2, `newest seq ${int(s.newest_ingest_seq)}`);
    setLine("store", 3, `${int(s.shipments)} shipments`);
    setLine("engine", 0, `seq ${int(cp.last_ingest_seq)}`);
    setLine("engine", 1, "= checkpoint");
    setLine("engine", 2, `pending ${int(s.pending_events)} · lag ${seconds(s.lag_seconds)}`);
    setLine("engine", 3, `${num(st.timeline.processed_per_second, 2)} ev/s processed`);
    setLine("engine", 4, `${int(st.timeline.runs_total)} runs, ${int(st.timeline.runs_last_window)} last min`
      + (s.held_shipments ? ` · ${int(s.held_shipments)} held` : ""));
    setLine("serve", 0, `${int(cp.view_rows)} rows`);
    setLine("serve", 1, "in the real-time view:");
    setLine("serve", 2, `base ${int(s.base_rows)}`);
    setLine("serve", 3, `+ incremental ${int(s.incremental_rows)}`);
    setLine("serve", 4, "API · CLI · dashboard");
    const loads = st.loader.by_status;
    const files = loads.reduce((sum, r) => sum + r.files, 0);
    setLine("loader", 0, files ? `${int(files)} file${files === 1 ? "" : "s"}` : "no files loaded yet");
    const loaded = loads.find((r) => r.status === "loaded");
    setLine("warehouse", 0, `${int(loaded ? loaded.rows : 0)} rows`);
    setLine("warehouse", 1, "upserted by key");
    setLine("loader", 1, loads.length ? loads.map((r) => `${r.status}: ${int(r.files)}`).join(" · ") : "schema · staging · COPY · upsert");
    setLine("dlq", 0, `${int(s.open_dead_letters)} open`);
    setLine("dlq", 1, "list · fix · redrive");
    setLine("monitor", 0, `lag ${seconds(s.lag_seconds)} · pending ${int(s.pending_events)} · `
      + `processor runs ${int(s.processor.runs)}, failures ${int(s.processor.failures)}`
      + (s.processor.last_error ? ` · last error: ${s.processor.last_error}` : ""));
    setFlow("sources", st.ingest.accepted_per_second);
    setFlow("ingest", st.ingest.accepted_per_second);
    setFlow("store", st.timeline.processed_per_second);
    setFlow("engine", st.timeline.processed_per_second);
    setFlow("dlq", st.ingest.rejected_per_second);

    setStat("stat-checkpoint-seq", cp.last_ingest_seq);
    setStat("stat-newest-seq", s.newest_ingest_seq);
    setStat("stat-pending", s.pending_events);
    setStat("stat-lag", s.lag_seconds, seconds(s.lag_seconds));
    setStat("stat-last-run", cp.last_update_time, cp.last_update_time
      ? `${cp.process_type} at ${when(cp.last_update_time)}` : "none yet");
    setStat("stat-base-date", cp.base_date, cp.base_date || "no base run yet");
    setStat("stat-events", s.events);
    setStat("stat-shipments", s.shipments);
    setStat("stat-base-rows", s.base_rows);
    setStat("stat-incremental-rows", s.incremental_rows);
    setStat("stat-dead-letters", s.open_dead_letters);
    setStat("stat-held", s.held_shipments, s.held_shipments
      ? `${int(s.held_shipments)}: shipline holds list` : "0");
    setStat("stat-processor", s.processor.waiting_events,
      `${int(s.processor.waiting_events)} waiting · ${int(s.processor.failures)} failures`);
    const share = s.newest_ingest_seq ? cp.last_ingest_seq / s.newest_ingest_seq : 1;
    $("#checkpoint-bar").style.width = `${Math.min(100, 100 * share)}%`;

    fillTable($("#runs-table"), data.runs, "No runs yet: ingest events, or run `shipline base`.", (r) => {
      const saved = r.full_recompute_rows ? 1 - r.rows_written / r.full_recompute_rows : null;
      return el("tr", {}, td(when(r.started_at)), el("td", {}, badge(r.process_type)),
        td(int(r.events), "num"), td(int(r.shipments_affected), "num"), td(int(r.late_shipments), "num"),
        td(int(r.rows_written), "num"), td(int(r.full_recompute_rows), "num"),
        td(r.process_type === "incremental" && saved !== null ? `${pct(saved)} saved` : "full"),
        td(ms(r.duration_ms), "num"));
    });
    fillTable($("#dead-table"), data.dead_letters, "No open dead letters.", (d) => el("tr", {},
      td(d.dead_letter_id), idCell(shortWhen(d.received_at)), idCell(d.source),
      el("td", { class: "text", title: d.reason }, el("div", { class: "clamp" }, d.reason))));
    fillTable($("#loads-table"), data.loads, "No files loaded (shipline load).", (l) => el("tr", {},
      pathCell(l.file_key), idCell(l.table_name || "–"), el("td", {}, badge(l.status)), td(int(l.rows), "num"),
      td(ms(l.duration_ms), "num")));
  }

  // Shipments ----------------------------------------------------------------------

  async function searchShipments(event) {
    if (event) event.preventDefault();
    const q = $("#ship-q").value.trim();
    const token = ++state.searchToken;
    const params = new URLSearchParams({ q, limit: "100" });
    if ($("#ship-status").value) params.set("status", $("#ship-status").value);
    if ($("#ship-region").value) params.set("region", $("#ship-region").value);
    if ($("#ship-late").checked) params.set("late", "true");
    if ($("#ship-exceptions").checked) params.set("exceptions", "true");
    let data;
    try { data = await api(`/dashboard/api/shipments?${params}`); } catch (error) {
      if (token === state.searchToken) showError(`Search failed: ${error.message}`);
      return;
    }
    if (token !== state.searchToken) return; // a newer search is under way
    showError(null);
    fillOptions($("#ship-status"), data.statuses);
    fillOptions($("#ship-region"), data.regions);
    $("#ship-status").dataset.loaded = "1";
    $("#ship-count").textContent = `${data.shipments.length}${data.shipments.length === 100 ? "+" : ""} found`;
    fillTable($("#ship-table"), data.shipments, "No shipment matches these filters.", (r) => {
      const row = el("tr", { "data-id": r.shipment_id }, longIdCell(r.shipment_id), el("td", {}, badge(r.current_status, r.current_status)),
        td(r.region || "–"), td(int(r.event_count), "num"), td(num(r.total_transit_hours, 1), "num"),
        td(r.on_time === null ? "–" : (r.on_time ? "yes" : `no (+${num(r.delay_hours, 1)} h)`)));
      row.addEventListener("click", () => showShipment(r.shipment_id));
      return row;
    });
    const exact = data.shipments.find((r) => r.shipment_id.toLowerCase() === q.toLowerCase());
    if (exact) showShipment(exact.shipment_id);
  }
  function fillOptions(select, values) {
    if (select.dataset.loaded) return;
    for (const value of values) select.append(el("option", { value }, value));
    select.dataset.loaded = "1";
  }

  async function showShipment(id) {
    state.shipment = id;
    const token = ++state.detailToken;
    for (const row of document.querySelectorAll("#ship-table tbody tr")) row.classList.toggle("selected", row.dataset.id === id);
    const detail = $("#ship-detail");
    detail.replaceChildren(el("p", { class: "empty" }, `Loading ${id}…`));
    let data;
    try { data = await api(`/dashboard/api/shipments/${encodeURIComponent(id)}`); } catch (error) {
      if (token === state.detailToken) detail.replaceChildren(el("p", { class: "error" }, error.message));
      return;
    }
    if (token !== state.detailToken) return; // another shipment was picked meanwhile
    const s = data.summary;
    const fact = (label, value) => el("div", {}, el("span", {}, label), el("b", {}, value));
    const chart = svg("svg", { id: "timeline-chart", viewBox: "0 0 900 300", role: "img", "aria-label": `timeline of ${id}` });
    detail.replaceChildren(
      el("h3", {}, `Shipment ${id} `, badge(s.current_status, s.current_status)),
      el("div", { class: "summary" },
        fact("events", int(s.event_count)), fact("first event", when(s.first_event_timestamp)),
        fact("last event", when(s.last_event_timestamp)), fact("transit (h)", num(s.total_transit_hours, 2)),
        fact("current location", s.current_location_id || "–"),
        fact("promised", when(s.promised_delivery_at)),
        fact("predicted", s.prediction ? `${when(s.prediction.point)} (${when(s.prediction.p10)} – ${when(s.prediction.p90)})` : "–"),
        fact("on time", s.on_time === null ? "not delivered / unknown" : (s.on_time ? "yes" : `no, ${num(s.delay_hours, 1)} h late`)),
        fact("exceptions", int(s.exception_count)), fact("locations visited", int(s.locations_visited))),
      legend(), chart, dwellTable(data.dwell), el("h3", {}, "Timeline rows ", el("small", {}, "shipment_timeline_realtime")),
      el("div", { class: "rows" }, rowsTable(data.timeline)));
    drawTimeline(chart, data.timeline, s.prediction);
    const explainId = $("#explain-id");
    if (!explainId.value) explainId.value = id;
  }
  function legend() {
    return el("div", { class: "legend" }, ...STATUSES.map((status) =>
      el("span", {}, el("i", { style: `background: var(--${status})` }), status)));
  }
  function dwellTable(rows) {
    if (!rows.length) return el("p", { class: "empty" }, "No dwell time yet (one event, or no locations).");
    const table = el("table", { class: "data" }, el("thead", {}, el("tr", {}, el("th", {}, "Location"),
      el("th", {}, "Name"), el("th", { class: "num" }, "Events"), el("th", { class: "num" }, "Dwell (h)"))), el("tbody"));
    for (const r of rows) table.tBodies[0].append(el("tr", {}, td(r.location_id), td(r.location_name || "–"),
      td(int(r.events), "num"), td(num(r.dwell_hours, 2), "num")));
    return el("details", {}, el("summary", {}, `Dwell per location (${rows.length})`), table);
  }
  function rowsTable(rows, verdicts) {
    const heads = ["#", "Time (UTC)", "Type", "Status", "Location", "Since prev", "Duration", "Cum. h", "Moves"];
    if (verdicts) heads.push("Run", "Why");
    const table = el("table", { class: "data", id: verdicts ? "explain-rows" : "timeline-rows" },
      el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", {}, h)))), el("tbody"));
    rows.forEach((r, i) => {
      const cells = [td(r.event_sequence, "num"), idCell(when(r.event_timestamp)), idCell(r.event_type),
        el("td", {}, badge(r.status, r.status)), el("td", {}, el("span", { class: "nowrap" }, r.location_id || "–"), r.location_name ? ` (${r.location_name})` : null),
        td(seconds(r.time_since_prev_event), "num"), td(seconds(r.status_duration), "num"),
        td(num(r.cumulative_transit_hours, 2), "num"), td(int(r.location_transition_count), "num")];
      if (verdicts) {
        const v = verdicts[i];
        cells.push(el("td", {}, badge(v.verdict)), td(v.reason, "text"));
      }
      table.tBodies[0].append(el("tr", { "data-event": r.event_id, "data-verdict": verdicts ? verdicts[i].verdict : null }, ...cells));
    });
    return table;
  }

  function drawTimeline(root, rows, prediction) {
    const W = 900, left = 50, right = 20, laneY = 28, laneH = 46, plotTop = 110, plotH = 150;
    if (!rows.length) { root.append(svg("text", { x: 450, y: 150, class: "chart-empty" }, "no rows")); return; }
    const times = rows.map((r) => Date.parse(r.event_timestamp));
    const t0 = times[0];
    let t1 = times[times.length - 1];
    if (prediction) t1 = Math.max(t1, Date.parse(prediction.p90), Date.parse(prediction.point));
    if (t1 === t0) t1 = t0 + 3600e3;
    const x = (t) => left + ((t - t0) / (t1 - t0)) * (W - left - right);
    const maxH = Math.max(1, ...rows.map((r) => Number(r.cumulative_transit_hours)));
    const y = (h) => plotTop + plotH - (h / maxH) * plotH;
    root.append(svg("text", { x: left, y: 16, class: "axis" }, "status spans (width = status duration), labelled by location"));
    rows.forEach((r, i) => {
      const start = x(times[i]);
      const end = r.next_event_timestamp ? x(Date.parse(r.next_event_timestamp)) : Math.min(W - right, start + 6);
      const rect = svg("rect", { x: start, y: laneY, width: Math.max(2, end - start), height: laneH,
        fill: `var(--${r.status})`, stroke: "#fff", "stroke-width": 1, class: "span", "data-seq": r.event_sequence });
      rect.append(svg("title", {}, `#${r.event_sequence} ${r.event_type} (${r.status}) at ${r.location_id || "?"}\n`
        + `${when(r.event_timestamp)} · duration ${seconds(r.status_duration)}`));
      root.append(rect);
      if (end - start > 46 && r.location_id) {
        root.append(svg("text", { x: start + 4, y: laneY + 18, class: "span-label" }, r.location_id));
        root.append(svg("text", { x: start + 4, y: laneY + 34, class: "span-label" }, seconds(r.status_duration)));
      }
    });
    if (prediction) drawPrediction(root, prediction, x, laneY, plotTop + plotH);
    // cumulative hours
    for (let k = 0; k <= 4; k++) {
      const h = (maxH * k) / 4;
      root.append(svg("line", { x1: left, x2: W - right, y1: y(h), y2: y(h), class: "gridline" }));
      root.append(svg("text", { x: left - 6, y: y(h) + 4, class: "axis", "text-anchor": "end" }, num(h, 0)));
    }
    root.append(svg("text", { x: left, y: plotTop - 8, class: "axis" }, "cumulative transit hours"));
    const points = rows.map((r, i) => `${x(times[i])},${y(Number(r.cumulative_transit_hours))}`).join(" ");
    root.append(svg("polyline", { points, class: "line" }));
    rows.forEach((r, i) => {
      const dot = svg("circle", { cx: x(times[i]), cy: y(Number(r.cumulative_transit_hours)), r: 3.5, class: "dot" });
      dot.append(svg("title", {}, `#${r.event_sequence}: ${num(r.cumulative_transit_hours, 2)} h`));
      root.append(dot);
    });
    for (let k = 0; k <= 4; k++) {
      const t = t0 + ((t1 - t0) * k) / 4;
      root.append(svg("text", { x: x(t), y: plotTop + plotH + 18, class: "axis", "text-anchor": k === 0 ? "start" : (k === 4 ? "end" : "middle") },
        `${shortWhen(new Date(t).toISOString())} UTC`));
    }
  }

  // The predicted delivery ahead of the last event: its p10..p90 band and its point.
  function drawPrediction(root, p, x, top, bottom) {
    const lo = x(Date.parse(p.p10)), hi = x(Date.parse(p.p90)), at = x(Date.parse(p.point));
    const band = svg("rect", { x: lo, y: top, width: Math.max(2, hi - lo), height: bottom - top, class: "predicted" });
    band.append(svg("title", {}, `predicted delivery ${when(p.point)}; 80% between ${when(p.p10)} and ${when(p.p90)}`
      + `\nfrom ${p.samples} deliveries like it (${p.segment}, model ${p.model_version})`));
    root.append(band);
    root.append(svg("line", { x1: at, x2: at, y1: top, y2: bottom, class: "predicted-point" }));
    root.append(svg("text", { x: Math.max(lo, 60), y: bottom + 32, class: "axis" }, "predicted delivery (p10–p90)"));
  }

  // Metrics and alerts -------------------------------------------------------------

  /** The top of a chart's scale: its peak, unless a burst (a bulk load) dwarfs the rest,
   * when the scale fits the ordinary values and the burst is drawn at the top, marked. */
  function scaleTop(values) {
    const sorted = values.slice().sort((a, b) => a - b);
    const peak = sorted[sorted.length - 1] || 0;
    const usual = sorted[Math.floor(0.9 * (sorted.length - 1))] || 0;
    if (sorted.length >= 5 && usual > 0 && peak > 5 * usual) return usual * 1.5;
    return Math.max(peak, 1e-9) * 1.1;
  }
  function lineChart(root, points, unit, second) {
    root.replaceChildren();
    const W = 480, H = 180, left = 48, right = 12, top = 12, bottom = 28;
    const extra = second && second.points.length ? second : null;
    if (!points.length && !extra) {
      root.append(svg("text", { x: W / 2, y: H / 2, class: "chart-empty" }, "no data in this window"));
      return;
    }
    const all = extra ? points.concat(extra.points) : points;
    const xs = all.map((p) => p.x);
    const x0 = Math.min(...xs), x1 = Math.max(...xs) === x0 ? x0 + 60e3 : Math.max(...xs);
    const yMax = scaleTop(all.map((p) => p.y));
    const x = (v) => left + ((v - x0) / (x1 - x0)) * (W - left - right);
    const y = (v) => top + (H - top - bottom) * (1 - v / yMax);
    for (let k = 0; k <= 3; k++) {
      const v = (yMax * k) / 3;
      root.append(svg("line", { x1: left, x2: W - right, y1: y(v), y2: y(v), class: "gridline" }));
      root.append(svg("text", { x: left - 4, y: y(v) + 4, class: "axis", "text-anchor": "end" }, num(v, yMax < 1 ? 2 : (yMax < 10 ? 1 : 0))));
    }
    root.append(svg("text", { x: left, y: H - 6, class: "axis" }, when(new Date(x0).toISOString()).slice(11, 16)));
    root.append(svg("text", { x: W - right, y: H - 6, class: "axis", "text-anchor": "end" }, `${when(new Date(x1).toISOString()).slice(11, 16)} UTC`));
    const line = (ps) => ps.map((p) => `${x(p.x)},${y(Math.min(p.y, yMax))}`).join(" ");
    root.append(svg("polyline", { class: "line", points: line(points) }));
    if (extra) {
      root.append(svg("polyline", { class: "line second", points: line(extra.points) }));
    }
    const peak = Math.max(...all.map((p) => p.y));
    if (peak > yMax) {
      root.append(svg("text", { x: W - right, y: top + 8, class: "axis clipped", "text-anchor": "end" },
        `peak ${num(peak, 0)} ${unit}, off the scale`));
    }
    for (const p of points) {
      const dot = svg("circle", { cx: x(p.x), cy: y(Math.min(p.y, yMax)), r: 2.5, class: p.y > yMax ? "dot clipped" : "dot" });
      dot.append(svg("title", {}, `${when(new Date(p.x).toISOString())}: ${num(p.y, 2)} ${unit}`));
      root.append(dot);
    }
  }

  async function refreshMetrics() {
    const minutes = $("#metrics-window").value;
    const data = await api(`/dashboard/api/metrics?minutes=${minutes}`);
    const pm = data.series.per_minute;
    lineChart($("#chart-throughput"), pm.map((r) => ({ x: Date.parse(r.minute), y: r.accepted })), "events/min");
    lineChart($("#chart-errors"), pm.map((r) => ({ x: Date.parse(r.minute),
      y: r.accepted + r.rejected ? (100 * r.rejected) / (r.accepted + r.rejected) : 0 })), "%");
    const runs = data.series.runs;
    lineChart($("#chart-duration"), runs.map((r) => ({ x: Date.parse(r.started_at), y: r.duration_ms })), "ms");
    const monitorLag = (data.series.monitor.processing_lag || []).map((r) => ({ x: Date.parse(r.recorded_at), y: r.value }));
    lineChart($("#chart-lag"), runs.filter((r) => r.lag_seconds !== null)
      .map((r) => ({ x: Date.parse(r.started_at), y: r.lag_seconds })), "s",
    { points: monitorLag });
    fillTable($("#alerts-table"), data.alerts, "No alert rules.", (a) => {
      const stateText = a.state || (a.holds_now ? "would fire" : "not evaluated yet");
      return el("tr", {}, idCell(a.rule), el("td", { class: "text" }, el("code", {}, a.condition)), td(a.severity),
        td(formatMetric(a.metric, a.value), "num"), el("td", {}, badge(stateText, a.state || (a.holds_now ? "firing" : ""))),
        td(a.since ? when(a.since) : "–"));
    });
    fillTable($("#now-table"), Object.entries(data.now), "No metrics.", ([name, value]) =>
      el("tr", {}, td(name), td(formatMetric(name, value), "num")));
  }
  function formatMetric(name, value) {
    if (value === null || value === undefined) return "–";
    if (/lag|freshness|duration|latency/.test(name)) return seconds(value);
    if (/rate$|ratio/.test(name) && name !== "error_rate_per_min") return name.includes("throughput") ? `${num(value, 1)} /min` : pct(value);
    if (/throughput/.test(name)) return `${num(value, 1)} /min`;
    if (/cost/.test(name)) return `$${num(value, 4)}`;
    return int(value);
  }

  // Performance --------------------------------------------------------------------

  const GROUP_TITLES = { carrier: "Carrier", lane: "Lane (origin>destination)", location: "Location" };
  const hours = (v) => (v === null || v === undefined ? "–" : num(v, 1));
  async function refreshPerformance() {
    const by = $("#kpi-by").value;
    const data = await api(`/dashboard/api/performance?by=${encodeURIComponent(by)}`);
    const all = data.overall[0];
    const figure = (label, value, id) => el("div", {}, el("span", {}, label), el("b", { id, "data-value": value === null ? "" : value }, value));
    $("#kpi-overall").replaceChildren(...(all ? [
      figure("shipments", int(all.shipments), "kpi-shipments"), figure("delivered", int(all.delivered), "kpi-delivered"),
      figure("on time", pct(all.on_time_rate), "kpi-on-time"), figure("transit p50 / p90 h", `${hours(all.transit_hours_p50)} / ${hours(all.transit_hours_p90)}`),
      figure("exceptions", pct(all.exception_rate)), figure("first attempt", pct(all.first_attempt_rate)),
      figure("stuck now", `${int(data.stuck.length)}${data.stuck.length === data.stuck_shown ? "+" : ""}`, "kpi-stuck")] : []));
    $("#kpi-group").textContent = GROUP_TITLES[by];
    $("#kpi-note").textContent = `${data.kpis.groups.length} groups · ${ms(data.duration_ms)}`;
    fillTable($("#kpi-table"), data.kpis.groups, "No shipments yet.", (k) => el("tr", { "data-group": k.group ?? "" },
      longIdCell(k.group === null ? "(none)" : k.group), td(int(k.shipments), "num"), td(int(k.delivered), "num"),
      td(pct(k.on_time_rate), "num"), td(hours(k.transit_hours_p50), "num"), td(hours(k.transit_hours_p90), "num"),
      td(pct(k.exception_rate), "num"), td(hours(k.dwell_hours_p50), "num"), td(hours(k.dwell_hours_p90), "num"),
      td(pct(k.first_attempt_rate), "num")));
    fillTable($("#stuck-table"), data.stuck, "No shipment is stuck: every one has been heard from within its usual gap.", (r) => {
      const row = el("tr", { "data-id": r.shipment_id }, longIdCell(r.shipment_id), el("td", {}, badge(r.status, r.status)),
        longIdCell(r.carrier || "–"), longIdCell(r.lane || "–"), td(num(r.gap_hours, 1), "num"), td(num(r.usual_gap_p95_hours, 1), "num"),
        td(r.reason, "text"));
      row.addEventListener("click", () => { selectTab("shipments"); $("#ship-q").value = r.shipment_id; searchShipments(); });
      return row;
    });
  }

  // How it works -----------------------------------------------------------------

  async function loadExplain() {
    const id = $("#explain-id").value.trim();
    if (!id) { $("#explain-result").replaceChildren(el("p", { class: "error" }, "Enter a shipment id (search one in Shipments).")); return; }
    let data;
    try { data = await api(`/dashboard/api/shipments/${encodeURIComponent(id)}`); } catch (error) {
      $("#explain-result").replaceChildren(el("p", { class: "error", id: "explain-error" }, error.message));
      for (const b of ["#explain-inject", "#explain-replay", "#explain-rebuild"]) $(b).disabled = true;
      return;
    }
    state.explainRows = data.timeline;
    const select = $("#explain-position");
    select.replaceChildren(...data.timeline.map((r) => el("option", { value: r.event_sequence },
      `#${r.event_sequence} ${r.event_type} (${shortWhen(r.event_timestamp)})`)));
    if (data.timeline.length > 2) select.value = String(Math.ceil(data.timeline.length / 2));
    for (const b of ["#explain-inject", "#explain-replay", "#explain-rebuild"]) $(b).disabled = false;
    $("#explain-result").replaceChildren(el("h3", {}, `${id}: ${data.timeline.length} rows now`),
      el("p", { class: "muted" }, "Choose where the late event goes; it is timestamped halfway between the chosen event and the one before it (an hour earlier for #1), and ingested after later events: that is what makes it late. Each simulation starts again from this shipment as it is stored."),
      el("div", { class: "rows" }, rowsTable(data.timeline)));
  }

  async function runExplain(path, body, title) {
    if (state.busy) return;
    state.busy = true;
    const result = $("#explain-result");
    result.replaceChildren(el("p", { class: "empty" }, `${title}: simulating on a copy of the shipment…`));
    let data;
    try { data = await api(path, { method: "POST", body: JSON.stringify(body) }); } catch (error) {
      result.replaceChildren(el("p", { class: "error", id: "explain-error" }, `${title} failed: ${error.message}`
        + (error.status === 403 ? " (this key's scope does not allow it)" : "")));
      state.busy = false;
      return;
    }
    state.busy = false;
    renderExplain(data, title);
  }

  function renderExplain(data, title) {
    const run = data.run;
    const counts = {};
    for (const r of data.rows) counts[r.verdict] = (counts[r.verdict] || 0) + 1;
    const strip = (label, cells) => el("div", { class: "strip" }, el("span", { class: "muted", style: "width:4rem" }, label), ...cells);
    const beforeCells = data.before.map((r) => el("span", { class: "cell before", title: r.event_type }, `#${r.event_sequence}`));
    const afterCells = data.rows.map((r) => el("span", { class: `cell ${r.verdict}`, title: r.reason },
      r.previous_sequence && r.previous_sequence !== r.event_sequence ? `#${r.previous_sequence}→${r.event_sequence}` : `#${r.event_sequence}`));
    const parts = [el("h3", {}, title, " ", run ? badge(run.process_type) : null)];
    parts.push(el("p", { class: "simulated", id: "explain-simulated" }, "Simulated on a copy of this shipment's stored events, with the engine's own code: your store is unchanged."));
    if (data.event) {
      parts.push(el("p", {}, `A late ${data.event.event_type} at ${when(data.event.event_timestamp)}, `
        + `location ${data.event.location_id || "none"}, was ingested after the shipment's later events; the incremental run took ${ms(data.run_ms)}.`));
    }
    if (data.replay_from) parts.push(el("p", {}, `Replay from ${when(data.replay_from)}: every event ingested or timestamped at or after it is processed again, and each shipment it touches is recomputed whole.`));
    if (data.mode === "rebuild") parts.push(el("p", {}, "Rebuild: the base recomputed from raw events, every shipment's state too, the checkpoint moved and incremental rows folded in."));
    const cost = data.cost;
    const bar = (label, rows, full, id) => [el("span", {}, label), el("div", {}, el("div", { class: id === "full" ? "bar full" : "bar", style: `width:${Math.max(0.3, (100 * rows) / Math.max(1, full))}%` })),
      el("b", { "data-value": rows }, int(rows))];
    parts.push(el("div", { class: "cost", id: "explain-cost" },
      ...bar("rows written", run.rows_written, cost.store_full_recompute_rows, "written"),
      ...bar("full recompute of your store", cost.store_full_recompute_rows, cost.store_full_recompute_rows, "full")));
    parts.push(el("p", {}, `The run: ${int(run.events)} event${run.events === 1 ? "" : "s"}, ${int(run.rows_written)} rows written of the shipment's ${int(run.full_recompute_rows)}`
      + (run.process_type === "incremental" && cost.store_saved_ratio !== null ? `; in your store a full recompute writes ${int(cost.store_full_recompute_rows)} rows, so the same run saves ${pct(cost.store_saved_ratio)} of the work` : "")
      + `; ${ms(run.duration_ms)}.`));
    parts.push(el("p", { id: "explain-counts" }, `This shipment: ${counts.new || 0} new, ${counts.rewritten || 0} rewritten with changes, `
      + `${counts.recomputed || 0} recomputed unchanged, ${counts.kept || 0} kept as they were.`));
    parts.push(strip("before", beforeCells), strip("after", afterCells));
    parts.push(el("div", { class: "legend" }, ...["kept", "new", "rewritten", "recomputed"].map((v) => el("span", {}, badge(v), ` ${{
      kept: "untouched", new: "the late event", rewritten: "rewritten, values changed", recomputed: "rewritten, same values" }[v]}`))));
    parts.push(el("div", { class: "rows" }, rowsTable(data.after, data.rows)));
    const changed = data.rows.filter((r) => Object.keys(r.changes).length);
    if (changed.length) {
      const table = el("table", { class: "data" }, el("thead", {}, el("tr", {}, el("th", {}, "Event"), el("th", {}, "Column"),
        el("th", {}, "Before"), el("th", {}, "After"))), el("tbody"));
      for (const r of changed) {
        for (const [column, change] of Object.entries(r.changes)) {
          const show = (v) => (v === null ? "NULL" : (typeof v === "number" && /duration|since/.test(column) ? seconds(v) : String(v)));
          table.tBodies[0].append(el("tr", {}, td(`#${r.event_sequence}`), td(column), td(show(change.before)), td(show(change.after))));
        }
      }
      parts.push(el("details", {}, el("summary", {}, `Changed values (${changed.length} rows)`), table));
    }
    $("#explain-result").replaceChildren(...parts);
  }

  // Start ------------------------------------------------------------------------

  function start() {
    buildDiagram();
    for (const button of document.querySelectorAll("#tabs button")) button.addEventListener("click", () => selectTab(button.dataset.tab));
    $("#change-key").addEventListener("click", () => askForKey());
    $("#key-form").addEventListener("submit", () => {
      sessionStorage.setItem(KEY_STORAGE, $("#api-key").value.trim());
      $("#api-key").value = "";
      showError(null);
      selectTab(state.tab);
    });
    $("#ship-form").addEventListener("submit", searchShipments);
    $("#metrics-window").addEventListener("change", () => schedule(true));
    $("#kpi-by").addEventListener("change", () => schedule(true));
    $("#explain-load").addEventListener("click", loadExplain);
    $("#explain-form").addEventListener("submit", (event) => {
      event.preventDefault();
      runExplain("/dashboard/api/explain/late-event", { shipment_id: $("#explain-id").value.trim(),
        position: Number($("#explain-position").value), event_type: $("#explain-type").value }, "Late event");
    });
    $("#explain-replay").addEventListener("click", () => runExplain("/dashboard/api/explain/recovery",
      { shipment_id: $("#explain-id").value.trim(), mode: "replay", position: Number($("#explain-position").value) }, "Replay"));
    $("#explain-rebuild").addEventListener("click", () => runExplain("/dashboard/api/explain/recovery",
      { shipment_id: $("#explain-id").value.trim(), mode: "rebuild" }, "Rebuild"));
    document.addEventListener("visibilitychange", () => { if (!document.hidden) schedule(true); });
    if (!sessionStorage.getItem(KEY_STORAGE)) askForKey(); else selectTab("pipeline");
  }
  start();
})();
