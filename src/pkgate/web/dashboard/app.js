// The dashboard: pickers -> URL -> API calls (bearer token from sessionStorage) -> charts and tables.
// Data is only ever inserted with textContent, never as HTML: project names come from clients.
"use strict";

(function () {
  const TOKEN_KEY = "pkgate.token";
  const DAY_MS = 86400000;
  const $ = (id) => document.getElementById(id);
  const charts = window.pkgateCharts;
  let endpoints = new Set();
  let breakdownDims = [];
  let generation = 0;

  // ---- token: typed into the login form, or passed once as #token=... (never sent to the server) --
  function takeFragmentToken() {
    const m = location.hash.match(/(?:^#|&)token=([^&]+)/);
    if (m) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
  }

  function askToken(message) {
    $("login-error").textContent = message || "";
    document.body.dataset.state = "login";
    if (!$("login").open) $("login").showModal();
  }

  class AuthError extends Error {}

  async function api(name, params) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) throw new AuthError("");
    const qs = new URLSearchParams(params).toString();
    const resp = await fetch(`/api/${name}?${qs}`, {
      headers: { Authorization: `Bearer ${token}` }, cache: "no-store", credentials: "omit",
    });
    if (resp.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      throw new AuthError("That token was not accepted.");
    }
    const body = await resp.json().catch(() => ({ error: `HTTP ${resp.status}` }));
    if (!resp.ok) throw new Error(`${name}: ${body.error || resp.status}`);
    return body.rows;
  }

  // ---- state in the URL: /dashboard[/projects/<name>]?since=YYYY-MM-DD&until=YYYY-MM-DD (inclusive) --
  const iso = (d) => d.toISOString().slice(0, 10);
  const addDays = (s, n) => iso(new Date(Date.parse(s + "T00:00:00Z") + n * DAY_MS));

  function readState() {
    const params = new URLSearchParams(location.search);
    const m = location.pathname.match(/^\/dashboard\/projects\/([^/]+)$/);
    const today = iso(new Date());
    const until = /^\d{4}-\d{2}-\d{2}$/.test(params.get("until") || "") ? params.get("until") : today;
    const since = /^\d{4}-\d{2}-\d{2}$/.test(params.get("since") || "") ? params.get("since") : addDays(until, -29);
    return { project: m ? decodeURIComponent(m[1]) : "", since, until };
  }

  function writeState(state) {
    const path = state.project ? `/dashboard/projects/${encodeURIComponent(state.project)}` : "/dashboard";
    history.pushState(null, "", `${path}?since=${state.since}&until=${state.until}`);
  }

  function pickersToState() {
    return { project: $("project").value, since: $("since").value, until: $("until").value };
  }

  // ---- rendering ------------------------------------------------------------------------------
  function fmt(n) { return typeof n === "number" ? n.toLocaleString("en-US") : String(n ?? "—"); }

  function tiles(rows) {
    const total = (f) => rows.reduce((a, r) => a + (r[f] || 0), 0);
    const items = [
      ["downloads", "Downloads"], ["index_hits", "Index pages"], ["not_modified", "Revalidations (304)"],
      ["metadata", "Metadata fetches"], ["head", "HEAD"], ["failed", "Failed (4xx/5xx)"],
    ];
    const box = $("tiles");
    box.replaceChildren(...items.map(([f, label]) => {
      const div = document.createElement("div");
      div.className = "tile";
      div.dataset.field = f;
      const v = document.createElement("div");
      v.className = "value";
      v.textContent = fmt(total(f));
      const l = document.createElement("div");
      l.className = "label";
      l.textContent = label;
      div.append(v, l);
      return div;
    }));
  }

  function daily(rows) {
    const labels = rows.map((r) => String(r.day));
    const pick = (f) => rows.map((r) => r[f] || 0);
    charts.timeSeries("chart-daily", labels, [
      { label: "Downloads", data: pick("downloads"), kind: "line" },
      { label: "Index pages", data: pick("index_hits") },
      { label: "Revalidations (304)", data: pick("not_modified") },
      { label: "Metadata", data: pick("metadata") },
      { label: "HEAD", data: pick("head") },
      { label: "Failed", data: pick("failed") },
    ]);
  }

  function versions(state, rows) {
    if (state.project) {
      const files = rows.filter((r) => r.version !== null);
      $("versions-title").textContent = "Downloads by version";
      charts.bars("chart-versions", files.map((r) => r.version), [
        { label: "Downloads", data: files.map((r) => r.downloads) },
      ], true);
    } else {
      $("versions-title").textContent = "Downloads by project";
      const top = rows.slice(0, 15);
      charts.bars("chart-versions", top.map((r) => r.project), [
        { label: "Downloads", data: top.map((r) => r.downloads) },
      ], true);
    }
  }

  // Insight rows are rendered generically (label = first text field, value = the named count) so a
  // new column in an insight shows up without a dashboard change.
  function labelOf(row) {
    for (const [k, v] of Object.entries(row)) if (typeof v === "string" || v === null) return v ?? "unknown";
    return "?";
  }
  function valueOf(row, preferred) {
    for (const f of preferred) if (typeof row[f] === "number") return row[f];
    for (const v of Object.values(row)) if (typeof v === "number") return v;
    return 0;
  }

  function breakdowns(results) {
    const grid = $("breakdowns");
    grid.replaceChildren();
    results.forEach(([dim, rows]) => {
      const wrap = document.createElement("div");
      const h = document.createElement("h3");
      h.textContent = dim;
      const box = document.createElement("div");
      box.className = "chart";
      const canvas = document.createElement("canvas");
      canvas.id = `chart-breakdown-${dim}`;
      box.append(canvas);
      wrap.append(h, box);
      grid.append(wrap);
      const top = rows.slice(0, 10);
      charts.bars(canvas.id, top.map(labelOf), [{ label: "Downloads", data: top.map((r) => valueOf(r, ["downloads"])) }], true);
    });
  }

  function table(el, rows) {
    const cols = rows.length ? Object.keys(rows[0]) : [];
    const tr = document.createElement("tr");
    cols.forEach((c) => {
      const th = document.createElement("th");
      th.textContent = c;
      if (rows.length && typeof rows[0][c] === "number") th.className = "num";
      tr.append(th);
    });
    el.tHead.replaceChildren(tr);
    el.tBodies[0].replaceChildren(...rows.map((r) => {
      const row = document.createElement("tr");
      cols.forEach((c) => {
        const td = document.createElement("td");
        const v = r[c];
        td.textContent = typeof v === "boolean" ? (v ? "yes" : "") : fmt(v);
        if (typeof v === "number") td.className = "num";
        if (v === true) td.className = "flag";
        row.append(td);
      });
      return row;
    }));
  }

  // ---- loading --------------------------------------------------------------------------------
  async function load(state) {
    const mine = ++generation;
    document.body.dataset.state = "loading";
    $("status").className = "";
    $("status").textContent = "Loading…";
    $("since").value = state.since;
    $("until").value = state.until;
    $("title").textContent = state.project || "All projects";
    const range = { since: state.since, until: addDays(state.until, 1) };
    const q = state.project ? { ...range, project: state.project } : range;
    try {
      const projects = await api("projects", { ...range, limit: 1000 });
      if (mine !== generation) return;
      const select = $("project");
      const names = projects.map((p) => p.project);
      if (state.project && !names.includes(state.project)) names.unshift(state.project);
      select.replaceChildren(new Option("All projects", ""), ...names.map((n) => new Option(n, n)));
      select.value = state.project;

      const jobs = [api("downloads_daily", q), api("downloads", q)];
      const optional = [];
      if (endpoints.has("behaviour")) optional.push(["behaviour", api("behaviour", q)]);
      if (endpoints.has("heavy_hitters")) optional.push(["heavy_hitters", api("heavy_hitters", q)]);
      if (endpoints.has("breakdown")) {
        breakdownDims.forEach((by) => optional.push([`breakdown:${by}`, api("breakdown", { ...q, by })]));
      }
      const [days, rows] = await Promise.all(jobs);
      const extra = await Promise.all(optional.map(([, p]) => p));
      if (mine !== generation) return;
      tiles(rows);
      daily(days);
      versions(state, state.project ? rows : projects);
      const got = Object.fromEntries(optional.map(([k], i) => [k, extra[i]]));
      if (got.behaviour) {
        $("panel-behaviour").hidden = false;
        charts.doughnut("chart-behaviour", got.behaviour.map(labelOf), got.behaviour.map((r) => valueOf(r, ["sources", "count"])));
      }
      if (got.heavy_hitters) {
        $("panel-heavy").hidden = false;
        table($("heavy"), got.heavy_hitters);
      }
      const bd = breakdownDims.filter((by) => got[`breakdown:${by}`]).map((by) => [by, got[`breakdown:${by}`]]);
      if (bd.length) {
        $("panel-breakdowns").hidden = false;
        breakdowns(bd);
      }
      $("status").textContent = `${state.project || "All projects"}, ${state.since} to ${state.until} (UTC)`;
      document.body.dataset.state = "ready";
    } catch (err) {
      if (mine !== generation) return;
      if (err instanceof AuthError) {
        askToken(err.message);
        return;
      }
      $("status").className = "error";
      $("status").textContent = String(err.message || err);
      document.body.dataset.state = "error";
    }
  }

  async function discover() {
    // The OpenAPI document (public, no data) says which insights this server has.
    const doc = await (await fetch("/api/openapi.json", { credentials: "omit" })).json();
    endpoints = new Set(Object.keys(doc.paths).map((p) => p.replace(/^\/api\//, "")));
    const by = (doc.paths["/api/breakdown"]?.get.parameters || []).find((p) => p.name === "by");
    breakdownDims = by?.schema?.enum || ["installer", "python", "system", "country"];
  }

  function onPickers() {
    const state = pickersToState();
    if (!state.since || !state.until) return;
    if (state.since > state.until) [state.since, state.until] = [state.until, state.since];
    writeState(state);
    load(state);
  }

  async function main() {
    takeFragmentToken();
    $("pickers").addEventListener("change", onPickers);
    $("pickers").addEventListener("submit", (e) => { e.preventDefault(); onPickers(); });
    document.querySelectorAll("button[data-days]").forEach((b) => b.addEventListener("click", () => {
      const until = iso(new Date());
      $("until").value = until;
      $("since").value = addDays(until, 1 - Number(b.dataset.days));
      onPickers();
    }));
    $("logout").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); askToken(""); });
    $("login-form").addEventListener("submit", () => {
      sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
      $("token").value = "";
      load(readState());
    });
    window.addEventListener("popstate", () => load(readState()));
    try {
      await discover();
    } catch (err) {
      $("status").textContent = `cannot reach the API: ${err}`;
      return;
    }
    load(readState());
  }

  main();
})();
