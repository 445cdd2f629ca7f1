"use strict";
// The replay viewer's page: runs → iterations → trajectories, a turn player, a token view coloured
// by ResRL weights, a group view and per-run charts. Everything comes from the read-only JSON API.
const $ = (id) => document.getElementById(id);
const state = { runs: [], run: null, iteration: null, trajectory: null, turn: 0, timer: null };
let charts = null; // [{key, label}] from /api/metrics: the metrics table the terminal row and reports use

async function api(path) {
  const response = await fetch(path);
  const body = await response.json();
  if (!response.ok) throw new Error(`${body.error || response.status}: ${body.detail || ""}`);
  return body;
}
const runPath = () => `/api/runs/${encodeURIComponent(state.run.name)}`;
function element(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
  if (text) node.textContent = text;
  return node;
}
function showProblems(problems) {
  const box = $("problems");
  box.hidden = problems.length === 0;
  box.textContent = problems.map((p) => `${p.file || ""} line ${p.line}: ${p.problem}`).join("\n");
}

async function loadRuns() {
  state.runs = await api("/api/runs");
  const algos = [...new Set(state.runs.map((r) => r.algorithm))].sort();
  algos.forEach((a) => $("filter-algo").append(element("option", { value: a }, a)));
  renderRuns();
}
function renderRuns() {
  const algo = $("filter-algo").value;
  $("runs").replaceChildren(...state.runs.filter((r) => !algo || r.algorithm === algo).map((run) => {
    const item = element("li", { class: "run", "data-name": run.name }, `${run.name} · ${run.algorithm} · ${run.env_id}`);
    item.onclick = () => selectRun(run);
    return item;
  }));
}
async function selectRun(run) {
  state.run = run;
  document.querySelectorAll("#runs li").forEach((li) => li.classList.toggle("selected", li.dataset.name === run.name));
  $("iteration").replaceChildren(...run.iterations.map((i) => element("option", { value: i }, `iteration ${i}`)));
  state.iteration = run.iterations[run.iterations.length - 1];
  $("iteration").value = state.iteration;
  await Promise.all([loadList(), loadCharts()]);
}
async function loadList() {
  if (state.iteration === undefined) return;
  const params = new URLSearchParams({ env: $("filter-env").value, task_type: $("filter-type").value,
                                       outcome: $("filter-outcome").value, q: $("search").value, limit: 500 });
  const body = await api(`${runPath()}/iterations/${state.iteration}/trajectories?${params}`);
  showProblems(body.problems);
  fillSelect($("filter-env"), body.envs);
  fillSelect($("filter-type"), body.task_types);
  $("count").textContent = `${body.total} trajectories`;
  $("list").replaceChildren(...body.items.map((t) => {
    const item = element("li", { class: "traj", "data-index": t.index });
    item.append(element("span", { class: t.success ? "ok" : "fail" }, t.success ? "✔ " : "✘ "),
                `${t.task_id} · reward ${t.reward.toFixed(2)} · ${t.turns} turns`);
    item.onclick = () => openTrajectory(t.index);
    return item;
  }));
}
function fillSelect(select, values) {
  const current = select.value;
  select.replaceChildren(element("option", { value: "" }, "all"), ...values.map((v) => element("option", { value: v }, v || "(none)")));
  select.value = values.includes(current) ? current : "";
}

async function openTrajectory(index) {
  const t = await api(`${runPath()}/iterations/${state.iteration}/trajectories/${index}`);
  state.trajectory = t;
  state.turn = 0;
  document.querySelectorAll("#list li").forEach((li) => li.classList.toggle("selected", Number(li.dataset.index) === index));
  $("trajectory").hidden = false;
  $("result").replaceChildren(element("h2", {}, `${t.env_id} · ${t.task_id}`),
    element("p", { class: t.success ? "ok" : "fail" },
      `${t.success ? "success" : "failure"} · reward ${t.reward.toFixed(3)} · ${t.turns.length} turns · ended: ${t.end_reason}`));
  $("turns").replaceChildren(...t.turns.map((turn, i) => {
    const item = element("li", { class: "turn", "data-turn": i });
    item.append(element("strong", {}, `Turn ${i + 1}`), element("pre", { class: "observation" }, turn.observation),
                element("pre", { class: "reply" }, turn.reply),
                element("div", {}, `action: ${turn.action} · reward ${turn.reward} · ${turn.valid ? "valid" : "invalid"}`));
    return item;
  }));
  $("final").textContent = `Final observation: ${t.final_observation}`;
  renderTokens(t);
  renderGroup(t);
  showTurn(0);
}
function showTurn(i) {
  const turns = state.trajectory.turns;
  state.turn = Math.max(0, Math.min(i, turns.length - 1));
  document.querySelectorAll(".turn").forEach((node) => node.classList.toggle("current", Number(node.dataset.turn) === state.turn));
  $("turn-counter").textContent = `turn ${state.turn + 1} of ${turns.length}`;
  const current = document.querySelector(".turn.current");
  if (current) current.scrollIntoView({ block: "nearest" });
}
function togglePlay() {
  if (state.timer) { clearInterval(state.timer); state.timer = null; $("play").textContent = "▶ play"; return; }
  $("play").textContent = "⏸ pause";
  state.timer = setInterval(() => {
    if (state.turn >= state.trajectory.turns.length - 1) return togglePlay();
    showTurn(state.turn + 1);
  }, 800);
}
function weightColour(w) {
  const x = Math.max(0, Math.min(w, 2)) / 2;  // ω 0 → blue, 1 → pale, 2 → red
  return `hsl(${Math.round(220 - 220 * x)}, 85%, ${Math.round(88 - 25 * Math.abs(x - 0.5))}%)`;
}
function renderTokens(t) {
  $("tokens").replaceChildren(...t.tokens.map((tok) => {
    if (!tok.agent) return element("span", { class: "tok env", title: "environment token (masked)" }, tok.text);
    const span = element("span", { class: "tok agent" }, tok.text);
    if (tok.weight !== null) {
      span.style.background = weightColour(tok.weight);
      span.title = `ω = ${tok.weight.toFixed(4)}`;
      span.dataset.weight = tok.weight;
    } else span.title = "no weight recorded";
    return span;
  }));
}
async function renderGroup(t) {
  const params = new URLSearchParams({ group: t.group_id, limit: 500 });
  const body = await api(`${runPath()}/iterations/${state.iteration}/trajectories?${params}`);
  const mean = body.items.reduce((sum, s) => sum + s.reward, 0) / Math.max(1, body.items.length);
  const column = (title, items, cls) => {
    const box = element("div", { class: cls });
    box.append(element("h3", {}, `${title} (${items.length})`));
    items.forEach((s) => {
      const item = element("p", { class: "sample" }, `sample ${s.sample_index}: reward ${s.reward.toFixed(2)}, ${s.turns} turns`);
      item.onclick = () => openTrajectory(s.index);
      box.append(item);
    });
    return box;
  };
  $("group").replaceChildren(column("positive: above the group mean", body.items.filter((s) => s.reward > mean), "positive"),
                             column("negative: at or below the mean", body.items.filter((s) => s.reward <= mean), "negative"));
}
async function loadCharts() {
  const body = await api(`${runPath()}/metrics`);
  if (body.problems.length) showProblems(body.problems);
  charts = charts || await api("/api/metrics");
  $("charts").replaceChildren(...charts.filter(({ key }) => body.rows.some((r) => typeof r[key] === "number"))
    .map(({ key, label }) => chart(label, body.rows.map((r) => [r.iteration, r[key]]).filter(([, v]) => typeof v === "number"))));
}
function chart(label, points) {
  const box = element("div", { class: "chart", "data-metric": label });
  box.append(element("h3", {}, label));
  const w = 220, h = 90, ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", w); svg.setAttribute("height", h);
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (x) => 10 + (w - 20) * (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0));
  const sy = (y) => h - 10 - (h - 20) * (y1 === y0 ? 0.5 : (y - y0) / (y1 - y0));
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points.map(([x, y]) => `${sx(x)},${sy(y)}`).join(" "));
  line.setAttribute("fill", "none"); line.setAttribute("stroke", "#2563eb"); line.setAttribute("stroke-width", "2");
  svg.append(line);
  points.forEach(([x, y]) => {
    const dot = document.createElementNS(ns, "circle");
    dot.setAttribute("cx", sx(x)); dot.setAttribute("cy", sy(y)); dot.setAttribute("r", 3); dot.setAttribute("fill", "#2563eb");
    const title = document.createElementNS(ns, "title"); title.textContent = `iteration ${x}: ${y}`;
    dot.append(title); svg.append(dot);
  });
  box.append(svg);
  return box;
}

function showPane(name) {
  ["turns", "tokens", "group"].forEach((p) => {
    $(`pane-${p}`).hidden = p !== name;
    $(`tab-${p}`).classList.toggle("active", p === name);
  });
}
$("tab-turns").onclick = () => showPane("turns");
$("tab-tokens").onclick = () => showPane("tokens");
$("tab-group").onclick = () => showPane("group");
$("prev").onclick = () => showTurn(state.turn - 1);
$("next").onclick = () => showTurn(state.turn + 1);
$("play").onclick = togglePlay;
$("filter-algo").onchange = renderRuns;
$("iteration").onchange = () => { state.iteration = Number($("iteration").value); loadList(); };
["filter-env", "filter-type", "filter-outcome"].forEach((id) => { $(id).onchange = loadList; });
$("search").oninput = () => { clearTimeout(state.searchTimer); state.searchTimer = setTimeout(loadList, 250); };
document.addEventListener("keydown", (event) => {
  if (!state.trajectory || event.target.tagName === "INPUT") return;
  if (event.key === "ArrowRight") showTurn(state.turn + 1);
  else if (event.key === "ArrowLeft") showTurn(state.turn - 1);
  else if (event.key === " ") { event.preventDefault(); togglePlay(); }
});
loadRuns().catch((error) => showProblems([{ line: "-", problem: String(error) }]));
