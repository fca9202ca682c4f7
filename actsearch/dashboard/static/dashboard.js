// actsearch dashboard: draws each <section class="view"> from its embedded JSON with
// Plotly. Live pages poll the section's data-poll URL every 2 s and update in place;
// the offline report shows one section at a time, chosen by the URL hash.
// User text only ever reaches the page through textContent (never innerHTML).
(function () {
  "use strict";
  const LIVE = document.body.dataset.mode === "live";
  const POLL_MS = 2000;
  // Above this many trainings the scatter is drawn with WebGL: one SVG node per point
  // costs ~0.1 ms each, too slow for a 10,000-candidate run (benchmarks/dashboard.py).
  const WEBGL_FROM = 3000;
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
  const REF_COLORS = { relu: "#9e9e9e", Swish: "#b0855a", GELU: "#6a9fb5", tanh: "#a58db8" };
  const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  // ------------------------------------------------------------------ helpers

  function el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "text") node.textContent = v == null ? "" : String(v);
      else if (k === "cls") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const child of children || []) if (child != null) node.append(child);
    return node;
  }

  function fmt(value, digits) {
    if (value == null || Number.isNaN(value)) return "–";
    return Number(value).toFixed(digits == null ? 4 : digits);
  }

  function href(kind, id) {
    if (LIVE) return kind === "run" ? `/runs/${id}` : `/candidates/${id}`;
    const anchor = `${kind}-${id}`;
    return document.getElementById(anchor) ? `#${anchor}` : null;
  }

  function link(kind, id, text) {
    const target = href(kind, id);
    const label = text == null ? String(id) : text;
    if (!target) return el("span", { text: label });
    return el("a", { href: target, text: label });
  }

  // columns: [label, row => string | Node, optional class]
  function table(container, columns, rows, empty) {
    container.replaceChildren();
    if (!rows.length) {
      container.append(el("p", { cls: "hint", text: empty || "nothing yet" }));
      return;
    }
    const head = el("tr", {}, columns.map(([label, , cls]) => el("th", { cls: cls || "", text: label })));
    const body = rows.map((row) => el("tr", {}, columns.map(([, get, cls]) => {
      const value = get(row);
      return value instanceof Node ? el("td", { cls: cls || "" }, [value]) : el("td", { cls: cls || "", text: value });
    })));
    container.append(el("table", {}, [el("thead", {}, [head]), el("tbody", {}, body)]));
  }

  function layout(xTitle, yTitle, extra) {
    return Object.assign({
      margin: { l: 56, r: 16, t: 10, b: 46 },
      xaxis: { title: { text: xTitle }, zeroline: false, gridcolor: "#eceff3" },
      yaxis: { title: { text: yTitle }, zeroline: false, gridcolor: "#eceff3" },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#ffffff",
      font: { family: "system-ui, -apple-system, Segoe UI, sans-serif", size: 12, color: "#2b2f36" },
      legend: { orientation: "h", y: -0.24, yanchor: "top" }, hovermode: "closest", height: 350,
    }, extra || {});
  }

  function onPointClick(div) {
    div.on("plotly_click", (event) => {
      const point = event.points && event.points[0];
      const id = point && point.customdata;
      const target = id != null && href("candidate", Array.isArray(id) ? id[0] : id);
      if (target) window.location.href = target;
    });
  }

  function poll(section, url, apply) {
    if (!LIVE || !url) return;
    const state = document.querySelector(".live-state");
    let busy = false;
    let previous = null;
    setInterval(async () => {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const response = await fetch(typeof url === "function" ? url() : url, { cache: "no-store" });
        if (response.ok) {
          const text = await response.text();
          if (text !== previous) apply(JSON.parse(text));  // nothing new: leave the page alone
          previous = text;
          if (state) state.textContent = "live";
        }
      } catch (err) {
        if (state) state.textContent = "disconnected";
      } finally {
        busy = false;
      }
    }, POLL_MS);
  }

  // ------------------------------------------------------------------ runs

  function renderRuns(section, data) {
    const container = section.querySelector(".runs-table");
    const draw = (d) => table(container, [
      ["run", (r) => link("run", r.id, r.name)],
      ["status", (r) => el("span", { cls: `badge status-${r.status}`, text: r.status })],
      ["task", (r) => r.task], ["space", (r) => r.space], ["strategy", (r) => r.strategy],
      ["proposals", (r) => r.planned ? `${r.proposals} / ${r.planned}` : String(r.proposals), "num"],
      ["trainings", (r) => r.budget ? `${r.trainings} / ${r.budget}` : String(r.trainings), "num"],
      ["best", (r) => r.best_id == null ? "–" : link("candidate", r.best_id, fmt(r.best_fitness)), "num"],
      ["best activation", (r) => el("code", { text: r.best_expr || "–" })],
      ["baseline best", (r) => fmt(r.baseline_best), "num"],
      ["started", (r) => r.created_at], ["finished", (r) => r.finished_at || "–"],
    ], d.runs, "No runs yet: start one with `actsearch search`.");
    draw(data);
    poll(section, section.dataset.poll, draw);
  }

  // ------------------------------------------------------------------ one run

  // points: the run's trainings by column (evaluation, candidate, generation, fitness, baseline, expr).
  function pointTraces(points) {
    const evolved = { x: [], y: [], text: [], customdata: [] };
    const base = { x: [], y: [], text: [], customdata: [] };
    const n = points.evaluation.length;
    for (let i = 0; i < n; i++) {
      const fitness = points.fitness[i];
      if (fitness == null) continue;
      const t = points.baseline[i] ? base : evolved;
      const jitter = (((points.evaluation[i] * 7919) % 101) / 101 - 0.5) * 0.5;  // fixed: overlapping points stay visible
      t.x.push(points.generation[i] + jitter);
      t.y.push(fitness);
      t.text.push(`#${points.candidate[i]} ${points.expr[i]}`);
      t.customdata.push(points.candidate[i]);
    }
    return [evolved, base];
  }

  function appendPoints(into, more) {
    for (const key of Object.keys(into)) into[key].push(...more[key]);
  }

  function renderRun(section, data) {
    const bestDiv = section.querySelector(".plot-best");
    const pointsDiv = section.querySelector(".plot-points");
    const state = { points: data.points, last: data.last };

    function bestTraces(d, trainings) {
      const steps = d.best.slice();
      if (steps.length) steps.push([Math.max(trainings, steps[steps.length - 1][0]), steps[steps.length - 1][1], null, ""]);
      const traces = [{
        name: "best candidate so far", x: steps.map((s) => s[0]), y: steps.map((s) => s[1]),
        text: steps.map((s) => (s[2] == null ? "" : `#${s[2]} ${s[3]}`)), customdata: steps.map((s) => s[2]),
        mode: "lines+markers", line: { shape: "hv", color: COLORS[0], width: 2 }, marker: { size: 6 },
        hovertemplate: "%{y:.4f} after %{x} trainings<br>%{text}<extra></extra>",
      }];
      const baselines = d.baselines.filter((b) => b.fitness != null);
      if (baselines.length) {
        const top = baselines.reduce((a, b) => (b.fitness > a.fitness ? b : a));
        traces.push({
          name: `best baseline: ${top.expr} (${fmt(top.fitness)})`, x: [0, Math.max(trainings, 1)], y: [top.fitness, top.fitness],
          mode: "lines", line: { dash: "dash", color: COLORS[1], width: 1.5 }, hoverinfo: "name",
        });
      }
      return traces;
    }

    function drawBest(d) {
      Plotly.react(bestDiv, bestTraces(d, state.points.evaluation.length), layout("trainings", "fitness (validation)"), CONFIG);
    }

    let pointsDrawn = false;
    function drawPoints() {
      const [evolved, base] = pointTraces(state.points);
      Plotly.react(pointsDiv, [
        Object.assign(evolved, { name: "candidates", mode: "markers", type: evolved.x.length > WEBGL_FROM ? "scattergl" : "scatter",
          // rgba rather than marker.opacity: cheaper per point
          marker: { size: 6, color: "rgba(31, 119, 180, 0.55)" }, hovertemplate: "%{y:.4f}<br>%{text}<extra></extra>" }),
        Object.assign(base, { name: "baselines", mode: "markers", type: "scatter",
          marker: { size: 9, symbol: "diamond", color: COLORS[1] }, hovertemplate: "%{y:.4f}<br>%{text}<extra></extra>" }),
      ], layout("generation", "fitness (validation)", { xaxis: { title: { text: "generation" }, dtick: evolved.x.length && Math.max(...evolved.x) > 20 ? undefined : 1,
        zeroline: false, gridcolor: "#eceff3" } }), CONFIG);
      if (!pointsDrawn) onPointClick(pointsDiv);
      pointsDrawn = true;
    }

    function drawCards(d) {
      const c = d.counts;
      const reasons = Object.entries(d.reasons).map(([r, n]) => `${n} ${r}`).join(", ");
      const card = (label, value, note) => el("div", { cls: "card" }, [
        el("div", { cls: "card-value", text: value }), el("div", { cls: "card-label", text: label }),
        note ? el("div", { cls: "card-note", text: note }) : null]);
      section.querySelector(".cards").replaceChildren(...[
        card("trainings", d.run.budget ? `${d.run.trainings} / ${d.run.budget}` : String(d.run.trainings)),
        card("proposals", d.run.planned ? `${d.run.proposals} / ${d.run.planned}` : String(d.run.proposals),
          d.run.planned ? "of population × generations" : ""),
        card("trained", String(c.evaluated)),
        card("duplicates (not retrained)", String(c.duplicate)),
        card("rejected by screening", String(c.rejected), reasons),
        card("failed", String(c.failed)),
        c.passed ? card("passed over by the surrogate", String(c.passed)) : null,
        card("in flight", String(c.queued + c.running + c.proposed + (c.pooled || 0))),
        card("best", fmt(d.run.best_fitness), d.run.best_expr || ""),
        card("best baseline", fmt(d.run.baseline_best)),
      ].filter(Boolean));
    }

    function drawLeaderboard(d) {
      table(section.querySelector(".leaderboard"), [
        ["", (r) => el("input", { type: "checkbox", cls: "pick", value: String(r.candidate_id), "aria-label": `compare ${r.candidate_id}` })],
        ["rank", (r) => String(r.rank), "num"],
        ["id", (r) => link("candidate", r.candidate_id), "num"],
        ["fitness", (r) => fmt(r.fitness) + (r.fitness_std != null ? ` ± ${fmt(r.fitness_std)}` : ""), "num"],
        ["activation", (r) => el("code", { text: r.expr })],
        ["", (r) => (r.is_baseline ? el("span", { cls: "badge baseline", text: "baseline" }) : "")],
        ["size", (r) => (r.complexity == null ? "–" : String(r.complexity)), "num"],
        ["origin", (r) => r.origin], ["trainings", (r) => String(r.evaluations), "num"],
      ], d.leaderboard, "No candidate trained yet.");
      if (!LIVE) section.querySelectorAll(".pick").forEach((box) => box.remove());
    }

    function apply(d) {
      if (d.points.evaluation.length) {
        appendPoints(state.points, d.points);
        state.last = d.last;
        drawPoints();
      }
      drawBest(d);
      drawCards(d);
      const checked = new Set([...section.querySelectorAll(".pick:checked")].map((b) => b.value));
      drawLeaderboard(d);
      section.querySelectorAll(".pick").forEach((b) => { b.checked = checked.has(b.value); });
      section.querySelector(".finished").textContent = d.run.finished_at ? ` · finished ${d.run.finished_at}` : "";
      const badge = section.querySelector("h1 .badge");
      badge.textContent = d.run.status;
      badge.className = `badge status-${d.run.status}`;
    }

    drawBest(data);
    drawCards(data);
    drawLeaderboard(data);
    // Every training as a point is the heavy part (one SVG node each): drawn after the
    // first paint, so counts, best-so-far and leaderboard show at once on big runs.
    performance.mark("actsearch:first-view");  // User Timing marks: what benchmarks/dashboard.py reads
    requestAnimationFrame(() => setTimeout(() => { drawPoints(); performance.mark("actsearch:points"); }, 0));
    onPointClick(bestDiv);
    const button = section.querySelector(".compare-selected");
    if (button) button.addEventListener("click", () => {
      const ids = [...section.querySelectorAll(".pick:checked")].map((b) => b.value);
      window.location.href = `/compare?ids=${encodeURIComponent(ids.join(","))}`;
    });
    poll(section, () => `${section.dataset.poll}?after=${state.last}`, apply);
  }

  // ------------------------------------------------------------------ candidates

  function referenceTraces(data, key) {
    return Object.entries(data.references).map(([name, c]) => ({
      name, x: data.x, y: c[key], mode: "lines", hoverinfo: "name+y",
      line: { color: REF_COLORS[name] || "#aaa", width: 1.3, dash: "dot" },
    }));
  }

  function curveLayout(yTitle, extra) {
    return layout("", yTitle, Object.assign({ yaxis: { title: { text: yTitle }, range: [-3, 5], gridcolor: "#eceff3",
      zeroline: true, zerolinecolor: "#c9ced6" }, xaxis: { range: [-5, 5], gridcolor: "#eceff3",
      zeroline: true, zerolinecolor: "#c9ced6" }, margin: { l: 56, r: 16, t: 10, b: 30 },
      legend: { orientation: "h", y: -0.1, yanchor: "top" } }, extra || {}));
  }

  function derivativeLayout(height) {
    return curveLayout("f'(x)", Object.assign({ yaxis: { title: { text: "f'(x)" }, range: [-1.5, 2.5],
      gridcolor: "#eceff3", zeroline: true, zerolinecolor: "#c9ced6" } }, height ? { height } : {}));
  }

  function renderCandidate(section, data) {
    const c = data.candidate;
    const runLink = section.querySelector(".run-link");
    const runTarget = href("run", c.run_id);
    if (runTarget) runLink.setAttribute("href", runTarget);
    const mine = (key) => ({ name: `#${c.id}`, x: data.x, y: data.curve[key], mode: "lines",
      line: { color: COLORS[0], width: 3 }, hovertemplate: "x=%{x:.2f}: %{y:.4f}<extra></extra>" });
    Plotly.newPlot(section.querySelector(".plot-curve"), [...referenceTraces(data, "y"), mine("y")], curveLayout("f(x)"), CONFIG);
    Plotly.newPlot(section.querySelector(".plot-derivative"), [...referenceTraces(data, "dy"), mine("dy")],
      derivativeLayout(), CONFIG);

    function draw(d) {
      const k = d.candidate;
      const rows = [
        ["status", k.status + (k.reason ? ` (${k.reason})` : "")],
        ["fitness", fmt(k.fitness) + (k.fitness_std != null ? ` ± ${fmt(k.fitness_std)}` : "")],
        ["predicted by the surrogate", k.predicted == null ? "–" : fmt(k.predicted)],
        ["canonical form", el("code", { text: k.expr })],
        ["LaTeX", el("code", { text: k.latex || "–" })],
        ["genotype", el("code", { text: k.genotype || "–" })],
        ["learned constants (Lamarckian)", el("code", { text: k.learned || "–" })],
        ["complexity", k.complexity == null ? "–" : String(k.complexity)],
        ["generation", String(k.generation)], ["origin", k.origin + (k.is_baseline ? " (baseline)" : "")],
        ["parents", k.parents.length ? el("span", {}, k.parents.flatMap((p, i) => [i ? ", " : null, link("candidate", p)])) : "–"],
        ["equivalent to", k.equivalent_to == null ? "–" : link("candidate", k.equivalent_to)],
        ["fingerprint", el("code", { cls: "small", text: k.fingerprint })],
      ];
      const details = section.querySelector(".details");
      details.replaceChildren(el("table", { cls: "kv" }, [el("tbody", {}, rows.map(([key, value]) =>
        el("tr", {}, [el("th", { text: key }), value instanceof Node ? el("td", {}, [value]) : el("td", { text: value })])))]));
      table(section.querySelector(".evaluations"), [
        ["task", (e) => e.task], ["seed", (e) => String(e.seed), "num"], ["planned epochs", (e) => String(e.planned_epochs), "num"],
        ["status", (e) => e.status], ["fitness", (e) => fmt(e.fitness), "num"],
        ["val accuracy", (e) => fmt(e.val_accuracy), "num"], ["val loss", (e) => fmt(e.val_loss), "num"],
        ["seconds", (e) => fmt(e.seconds, 2), "num"], ["epochs", (e) => String(e.epochs), "num"],
        ["worker", (e) => e.worker || ""], ["error", (e) => e.error || ""],
      ], d.evaluations, "Not trained (yet).");
      table(section.querySelector(".lineage"), [
        ["id", (a) => link("candidate", a.id), "num"], ["generation", (a) => String(a.generation), "num"],
        ["origin", (a) => a.origin], ["parents", (a) => a.parents.join(", ") || "–"],
        ["status", (a) => a.status], ["fitness", (a) => fmt(a.fitness), "num"], ["activation", (a) => el("code", { text: a.expr })],
      ], d.lineage, "An initial candidate: no parents.");
      const bySeed = {};
      for (const p of d.partials) (bySeed[p.partial_of] = bySeed[p.partial_of] || { seed: p.seed, x: [], y: [] }).x.push(p.epochs);
      for (const p of d.partials) bySeed[p.partial_of].y.push(p.fitness);
      const readings = section.querySelector(".plot-partials");
      section.querySelector(".partials-panel").hidden = !d.partials.length;  // no readings: details take the row
      section.querySelector(".details-panel").classList.toggle("wide", !d.partials.length);
      if (!d.partials.length) return;
      const traces = Object.values(bySeed).map((s, i) => ({ name: `seed ${s.seed}`, x: s.x, y: s.y, mode: "lines+markers",
        line: { color: COLORS[i % COLORS.length] } }));
      Plotly.react(readings, traces, layout("epoch", "fitness", { height: 300 }), CONFIG);
    }
    draw(data);
    poll(section, section.dataset.poll, draw);
  }

  // ------------------------------------------------------------------ compare

  function renderCompare(section, data) {
    const form = section.querySelector(".compare-form");
    if (!data.candidates.length) {
      section.querySelector(".compare-table").replaceChildren(el("p", { cls: "hint",
        text: "Pick candidates: tick them in a run's leaderboard, or type their ids above." }));
    }
    const traces = (key) => [...referenceTraces(data, key), ...data.candidates.map((c, i) => ({
      name: `#${c.id} ${c.expr}`.slice(0, 48), x: data.x, y: c[key], mode: "lines",
      line: { color: COLORS[i % COLORS.length], width: 2.5 }, customdata: data.x.map(() => c.id),
      hovertemplate: `#${c.id}: %{y:.4f}<extra></extra>` }))];
    const compareHeight = 340 + 22 * Math.ceil(data.candidates.length / 2);
    Plotly.newPlot(section.querySelector(".plot-curves"), traces("y"), curveLayout("f(x)", { height: compareHeight }), CONFIG);
    Plotly.newPlot(section.querySelector(".plot-derivatives"), traces("dy"),
      derivativeLayout(compareHeight), CONFIG);
    if (data.candidates.length) table(section.querySelector(".compare-table"), [
      ["", (c, i) => el("span", { cls: "swatch", style: `background:${COLORS[data.candidates.indexOf(c) % COLORS.length]}` })],
      ["id", (c) => link("candidate", c.id), "num"], ["run", (c) => link("run", c.run_id, c.run)],
      ["fitness", (c) => fmt(c.fitness) + (c.fitness_std != null ? ` ± ${fmt(c.fitness_std)}` : ""), "num"],
      ["size", (c) => (c.complexity == null ? "–" : String(c.complexity)), "num"],
      ["status", (c) => c.status], ["activation", (c) => el("code", { text: c.expr })],
    ], data.candidates);
    if (form) form.querySelector("input").focus();
  }

  // ------------------------------------------------------------------ start

  const RENDER = { runs: renderRuns, run: renderRun, candidate: renderCandidate, compare: renderCompare };
  const drawn = new WeakSet();

  function draw(section) {
    if (drawn.has(section)) return;
    drawn.add(section);
    const data = JSON.parse(section.querySelector(".view-data").textContent);
    RENDER[section.dataset.view](section, data);
  }

  const sections = [...document.querySelectorAll("section.view")];
  if (LIVE) {
    sections.forEach(draw);
  } else {
    // The report: one view at a time, picked by the hash; drawn when first shown.
    const show = () => {
      const wanted = document.getElementById(decodeURIComponent(window.location.hash.slice(1)));
      const current = wanted && wanted.matches("section.view") ? wanted : sections[0];
      for (const s of sections) s.hidden = s !== current;
      draw(current);
      window.scrollTo(0, 0);
    };
    window.addEventListener("hashchange", show);
    show();
  }
})();
