// The dashboard: pickers -> URL -> API calls (bearer token from sessionStorage) -> charts and tables.
// Data is only ever inserted with textContent, never as HTML: project names come from clients.
"use strict";

(function () {
  const TOKEN_KEY = "pkgate.token";
  const DAY_MS = 86400000;
  const $ = (id) => document.getElementById(id);
  const charts = window.pkgateCharts;
  let generation = 0;
  // The "Mirrors, bots, CI" switch: sent as all_sources=true to every insight that declares it.
  let includeAll = false;

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

  // The insights and their parameters come from the API's own OpenAPI document (generated from the
  // same specs as the CLI), so a call the server does not declare fails loudly instead of drifting.
  let declared = null;
  async function spec() {
    if (!declared) {
      const doc = await (await fetch("/api/openapi.json", { cache: "no-store", credentials: "omit" })).json();
      declared = new Map(Object.entries(doc.paths).map(([path, op]) => [
        path.replace(/^\/api\//, ""), new Set(op.get.parameters.map((p) => p.name)),
      ]));
    }
    return declared;
  }

  async function api(name, params) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) throw new AuthError("");
    const known = (await spec()).get(name);
    if (!known) throw new Error(`the API has no insight ${name}`);
    const stray = Object.keys(params).filter((k) => !known.has(k));
    if (stray.length) throw new Error(`${name} does not take ${stray.join(", ")}`);
    if (includeAll && known.has("all_sources")) params = { ...params, all_sources: "true" };
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

  // ---- state in the URL: /dashboard[/projects/<name>]?since=YYYY-MM-DD&until=YYYY-MM-DD (inclusive)
  // [&ecosystem=python|npm|conda|oci|files] --
  const iso = (d) => d.toISOString().slice(0, 10);
  const addDays = (s, n) => iso(new Date(Date.parse(s + "T00:00:00Z") + n * DAY_MS));

  function readState() {
    const params = new URLSearchParams(location.search);
    const m = location.pathname.match(/^\/dashboard\/projects\/([^/]+)$/);
    const today = iso(new Date());
    const valid = (k) => /^\d{4}-\d{2}-\d{2}$/.test(params.get(k) || "");
    const until = valid("until") ? params.get("until") : today;
    const since = valid("since") ? params.get("since") : addDays(until, -29);
    // No range in the link: fit it to the data (a 7-day demo shows its 7 days, not 23 empty ones).
    const eco = params.get("ecosystem") || "";
    const ecosystem = ECOSYSTEMS.includes(eco) ? eco : "";
    return {
      project: m ? decodeURIComponent(m[1]) : "", ecosystem, since, until, all: params.get("all") === "1",
      fit: !valid("since") && !valid("until"),
    };
  }

  const ECOSYSTEMS = ["python", "npm", "conda", "oci", "files"];
  const ecoParam = (state) => (state.ecosystem ? `&ecosystem=${state.ecosystem}` : "");

  function writeState(state) {
    const path = state.project ? `/dashboard/projects/${encodeURIComponent(state.project)}` : "/dashboard";
    history.pushState(null, "", `${path}?since=${state.since}&until=${state.until}${ecoParam(state)}${state.all ? "&all=1" : ""}`);
  }

  function pickersToState() {
    return {
      project: $("project").value, ecosystem: $("ecosystem").value, since: $("since").value, until: $("until").value,
      all: $("all-sources").checked,
    };
  }

  // ---- rendering ------------------------------------------------------------------------------
  function fmt(n) { return typeof n === "number" ? n.toLocaleString("en-US") : String(n ?? "—"); }

  function tile(f, value, label) {
    const div = document.createElement("div");
    div.className = "tile";
    div.dataset.field = f;
    const v = document.createElement("div");
    v.className = "value";
    v.textContent = value;
    const l = document.createElement("div");
    l.className = "label";
    l.textContent = label;
    div.append(v, l);
    return div;
  }

  // The gateway-wide (or project-wide) rows of `uniques`: project NULL, or version NULL with a project.
  const totalsOf = (state, rows) => rows.filter((r) => (state.project ? r.version === null : r.project === null));

  function uniqueTiles(state, clients, networks, weeks) {
    const c = totalsOf(state, clients), n = totalsOf(state, networks), w = totalsOf(state, weeks);
    const sum = (rows, f) => rows.reduce((a, r) => a + (r[f] || 0), 0);
    const days = c.length;
    const avg = (x) => (days ? Math.round((x / days) * 10) / 10 : 0);
    const per = (a, b) => (b ? Math.round((a / b) * 100) / 100 : 0);
    const weekly = w.map((r) => r.unique_sources).filter((x) => x !== null);
    $("unique-tiles").replaceChildren(
      tile("unique_sources_per_day", fmt(avg(sum(c, "unique_sources"))), "Unique sources per day"),
      tile("unique_networks_per_day", fmt(avg(sum(n, "unique_sources"))), "Unique networks per day"),
      tile("unique_sources_week", weekly.length ? fmt(Math.max(...weekly)) : "—", "Unique sources, busiest week"),
      tile("downloads_per_source", fmt(per(sum(c, "downloads"), sum(c, "downloaders"))), "Downloads per source-day"),
      tile("installs_per_source", fmt(per(sum(c, "installs"), sum(c, "downloaders"))), "Installs per source-day"),
    );
  }

  function uniquesOverTime(state, clients, networks, weeks) {
    const labels = everyDay(state);
    const index = new Map(labels.map((d, i) => [d, i]));
    const series = (rows, f) => {
      const out = labels.map(() => 0);
      for (const r of totalsOf(state, rows)) {
        const i = index.get(String(r.period));
        if (i !== undefined) out[i] = r[f] ?? 0;
      }
      return out;
    };
    const weekly = labels.map(() => null);
    for (const r of totalsOf(state, weeks)) {
      const i = index.get(String(r.period)) ?? (String(r.period) < labels[0] ? 0 : undefined);
      if (i !== undefined && r.unique_sources !== null) weekly[i] = r.unique_sources;
    }
    charts.timeSeries("chart-uniques", labels, [
      { label: "Unique sources", data: series(clients, "unique_sources"), kind: "line" },
      { label: "Unique networks", data: series(networks, "unique_sources"), kind: "line" },
      { label: "Sources with a download", data: series(clients, "unique_downloaders"), kind: "line" },
      { label: "Unique sources in the week (HLL)", data: weekly, kind: "line" },
    ]);
  }

  function versionCountry(state, rows) {
    const key = (r) => (state.project ? r.version : r.project);
    const byKey = new Map(), byCountry = new Map();
    for (const r of rows) {
      byKey.set(key(r), (byKey.get(key(r)) || 0) + r.sources);
      const c = r.country ?? "unknown";
      byCountry.set(c, (byCountry.get(c) || 0) + r.sources);
    }
    const keys = [...byKey].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0]))).slice(0, 12).map((e) => e[0]);
    const countries = [...byCountry].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map((e) => e[0]);
    const shown = countries.slice(0, 6);
    const series = [...shown, ...(countries.length > 6 ? ["other"] : [])].map((c) => ({ label: c, data: keys.map(() => 0) }));
    for (const r of rows) {
      const i = keys.indexOf(key(r));
      if (i < 0) continue;
      const c = r.country ?? "unknown";
      const j = shown.includes(c) ? shown.indexOf(c) : series.length - 1;
      series[j].data[i] += r.sources;
    }
    $("version-country-title").textContent = state.project ? "Unique sources by version × country" : "Unique sources by project × country";
    charts.bars("chart-version-country", keys, series, false);
  }

  function curves(state, rows) {
    $("panel-curves").hidden = !state.project;
    if (!state.project) return;
    const byVersion = new Map();
    let last = 0;
    for (const r of rows) last = Math.max(last, r.day);
    const labels = Array.from({ length: last + 1 }, (_, k) => `day ${k}`);
    for (const r of rows) {
      if (!byVersion.has(r.version)) byVersion.set(r.version, labels.map(() => null));
      byVersion.get(r.version)[r.day] = Math.round(r.share * 1000) / 10;
    }
    charts.lines("chart-curves", labels, [...byVersion].map(([v, data]) => ({ label: v, data })), true);
  }

  function tiles(rows) {
    const total = (f) => rows.reduce((a, r) => a + (r[f] || 0), 0);
    const items = [
      ["installs", "Installs"], ["downloads", "Downloads"], ["index_hits", "Index pages"], ["not_modified", "Revalidations (304)"],
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

  function everyDay(state) {
    const days = [];
    for (let d = state.since; d <= state.until; d = addDays(d, 1)) days.push(d);
    return days;
  }

  function daily(state, rows) {
    const labels = everyDay(state);
    const index = new Map(labels.map((d, i) => [d, i]));
    const fields = ["installs", "downloads", "index_hits", "not_modified", "metadata", "head", "failed"];
    const sums = Object.fromEntries(fields.map((f) => [f, labels.map(() => 0)]));
    for (const r of rows) {
      const i = index.get(String(r.day));
      if (i !== undefined) fields.forEach((f) => { sums[f][i] += r[f] || 0; });
    }
    charts.timeSeries("chart-daily", labels, [
      { label: "Installs", data: sums.installs, kind: "line" },
      { label: "Downloads", data: sums.downloads, kind: "line" },
      { label: "Index pages", data: sums.index_hits },
      { label: "Revalidations (304)", data: sums.not_modified },
      { label: "Metadata", data: sums.metadata },
      { label: "HEAD", data: sums.head },
      { label: "Failed", data: sums.failed },
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

  function behaviour(rows) {
    const by = new Map();
    for (const r of rows) {
      const t = by.get(r.behaviour) || { behaviour: r.behaviour, sources: 0, requests: 0, downloads: 0 };
      t.sources += r.sources;
      t.requests += r.requests;
      t.downloads += r.downloads;
      by.set(r.behaviour, t);
    }
    const totals = [...by.values()].sort((a, b) => b.sources - a.sources || a.behaviour.localeCompare(b.behaviour));
    charts.doughnut("chart-behaviour", totals.map((t) => t.behaviour), totals.map((t) => t.sources));
    table($("behaviour"), totals);
  }

  function adoption(state, rows) {
    $("panel-adoption").hidden = !state.project;
    if (!state.project) return;
    const labels = everyDay(state);
    const index = new Map(labels.map((d, i) => [d, i]));
    const byVersion = new Map();
    for (const r of rows) {
      if (!byVersion.has(r.version)) byVersion.set(r.version, labels.map(() => null));
      const i = index.get(String(r.period));
      if (i !== undefined) byVersion.get(r.version)[i] = Math.round(r.share * 1000) / 10;
    }
    charts.lines("chart-adoption", labels, [...byVersion].map(([v, data]) => ({ label: v, data })), true);
  }

  // A chart with no rows is not drawn: its box is hidden and the panel's "no data" note shown.
  function chartOrEmpty(id, rows) {
    const canvas = $(id);
    canvas.parentElement.hidden = !rows.length;
    $(`${id.replace(/^chart-/, "")}-empty`).hidden = rows.length > 0;
    if (!rows.length) charts.clear(id);
    return rows.length > 0;
  }

  // Root vs dependency installs of the busiest projects (the `dependencies` insight).
  function dependencies(rows) {
    const top = rows.slice(0, 12);
    if (!chartOrEmpty("chart-dependencies", top)) return;
    charts.bars("chart-dependencies", top.map((r) => r.project), [
      { label: "As a root", data: top.map((r) => r.root) },
      { label: "As a dependency", data: top.map((r) => r.dependency) },
    ], true);
  }

  // Pairs (project, other name) of `pulled_in_by` or `alongside`, the busiest first: every project
  // in view with its own top names, so all projects show the top pairs overall and one project its
  // top names. Names compare by code unit (as the API orders them), not by locale.
  const PAIRS = 15;
  const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  function topPairs(rows, other, count) {
    return [...rows].sort((a, b) => b[count] - a[count] || byName(a.project, b.project) || byName(a[other], b[other]))
      .slice(0, PAIRS);
  }
  const pairLabel = (state, r, other, joint) => (state.project ? r[other] : `${r[other]} ${joint} ${r.project}`);
  // Room for every label (Chart.js drops labels that do not fit): at least the usual height.
  const fitBars = (id, n) => { $(id).parentElement.style.height = `${Math.max(260, 22 * n + 70)}px`; };

  // The roots of the sessions that installed each project as a dependency (`pulled_in_by`).
  function pulledInBy(state, rows) {
    const top = topPairs(rows, "pulled_in_by", "installs");
    if (!chartOrEmpty("chart-pulled-in-by", top)) return;
    fitBars("chart-pulled-in-by", top.length);
    charts.bars("chart-pulled-in-by", top.map((r) => pairLabel(state, r, "pulled_in_by", "→")), [
      { label: "Installs as its dependency", data: top.map((r) => r.installs) },
    ], true);
  }

  // The names installed or asked for in the same sessions (`alongside`); those the gateway does not
  // serve (asked in vain, e.g. with --extra-index-url) in their own colour.
  function alongside(state, rows) {
    const top = topPairs(rows, "alongside", "sessions");
    if (!chartOrEmpty("chart-alongside", top)) return;
    fitBars("chart-alongside", top.length);
    charts.bars("chart-alongside", top.map((r) => pairLabel(state, r, "alongside", "+")), [
      { label: "Served here", data: top.map((r) => (r.served ? r.sessions : 0)) },
      { label: "Not served here (asked in vain)", data: top.map((r) => (r.served ? 0 : r.sessions)) },
    ], true);
  }

  const BREAKDOWNS = ["installer", "python", "system", "distro", "cpu", "platform", "country", "org", "connection", "cloud", "ci", "ci_signal"];

  function breakdowns(results) {
    const grid = $("breakdowns");
    if (!grid.children.length) {
      for (const dim of BREAKDOWNS) {
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
      }
    }
    BREAKDOWNS.forEach((dim, i) => {
      const top = results[i].filter((r) => r.downloads > 0).slice(0, 10);
      charts.bars(`chart-breakdown-${dim}`, top.map((r) => r.value ?? "unknown"),
        [{ label: "Downloads", data: top.map((r) => r.downloads) }], true);
    });
  }

  // Downloads, installs and requests per ecosystem, summed from the projects of the range.
  function ecosystems(projects) {
    const by = new Map();
    for (const p of projects) {
      const t = by.get(p.ecosystem) || { ecosystem: p.ecosystem, projects: 0, downloads: 0, installs: 0, requests: 0 };
      t.projects += 1;
      t.downloads += p.downloads;
      t.installs += p.installs;
      t.requests += p.requests;
      by.set(p.ecosystem, t);
    }
    table($("ecosystems"), [...by.values()].sort((a, b) => b.downloads - a.downloads));
  }

  function heavy(rows, conc) {
    const share = (x) => `${(x * 100).toFixed(1)}%`;
    $("concentration").textContent = conc.length && conc[0].total_downloads
      ? conc.map((c) => `top ${c.top}: ${share(c.share)}`).join(" · ") + ` of ${fmt(conc[0].total_downloads)} downloads`
      : "No downloads in this range.";
    table($("heavy"), rows.slice(0, 20).map((r) => ({
      rank: r.rank, day: r.day, source: r.source_id, downloads: r.downloads, requests: r.requests,
      share: share(r.share), "most of one file": r.max_file_downloads, aggressive: r.aggressive,
    })));
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
  // The project and ecosystem filters every insight takes (only those that are set).
  function filters(state, params) {
    const out = { ...params };
    if (state.project) out.project = state.project;
    if (state.ecosystem) out.ecosystem = state.ecosystem;
    return out;
  }

  async function fitRange(state) {
    const [ext] = await api("extent", filters(state, {}));
    if (!ext || !ext.last_day) return state;
    const until = String(ext.last_day);
    const first = String(ext.first_day);
    const since = addDays(until, -29) > first ? addDays(until, -29) : first;
    history.replaceState(null, "", `${location.pathname}?since=${since}&until=${until}${ecoParam(state)}${state.all ? "&all=1" : ""}`);
    return { ...state, since, until, fit: false };
  }

  async function load(state) {
    const mine = ++generation;
    includeAll = Boolean(state.all);
    $("all-sources").checked = includeAll;
    document.body.dataset.state = "loading";
    $("status").className = "";
    $("status").textContent = "Loading…";
    if (state.fit) {
      try {
        state = await fitRange(state);
      } catch (err) {
        if (err instanceof AuthError) { askToken(err.message); return; }
      }
      if (mine !== generation) return;
    }
    $("since").value = state.since;
    $("until").value = state.until;
    $("title").textContent = state.project || "All projects";
    $("ecosystem").value = state.ecosystem;
    const range = { since: state.since, until: addDays(state.until, 1) };
    const q = filters(state, range);
    try {
      const projects = await api("projects", { ...filters({ ...state, project: "" }, range), limit: 1000 });
      if (mine !== generation) return;
      const select = $("project");
      const names = projects.map((p) => p.project);
      if (state.project && !names.includes(state.project)) names.unshift(state.project);
      select.replaceChildren(new Option("All projects", ""), ...names.map((n) => new Option(n, n)));
      select.value = state.project;
      const [days, rows, behaviours, hitters, conc, adopt, clients, networks, weeks, vc, curve, deps, pulled, near, ...bds] = await Promise.all([
        api("downloads_daily", q), api("downloads", q), api("behaviour_summary", q),
        api("heavy_hitters", q), api("concentration", q),
        state.project ? api("adoption", q) : Promise.resolve([]),
        api("uniques", { ...q, period: "day" }), api("uniques", { ...q, level: "network" }),
        api("uniques", { ...q, period: "week" }), api("version_country", q),
        state.project ? api("release_curves", { ...q, days: 30 }) : Promise.resolve([]),
        api("dependencies", q), api("pulled_in_by", { ...q, top: PAIRS }), api("alongside", { ...q, top: PAIRS }),
        ...BREAKDOWNS.map((by) => api("breakdown", { ...q, by })),
      ]);
      if (mine !== generation) return;
      uniqueTiles(state, clients, networks, weeks);
      uniquesOverTime(state, clients, networks, weeks);
      versionCountry(state, vc);
      curves(state, curve);
      tiles(rows);
      daily(state, days);
      versions(state, state.project ? rows : projects);
      ecosystems(projects);
      behaviour(behaviours);
      adoption(state, adopt);
      dependencies(deps);
      pulledInBy(state, pulled);
      alongside(state, near);
      breakdowns(bds);
      heavy(hitters, conc);
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

  function onPickers() {
    const state = pickersToState();
    if (!state.since || !state.until) return;
    if (state.since > state.until) [state.since, state.until] = [state.until, state.since];
    writeState(state);
    load(state);
  }

  function main() {
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
    load(readState());
  }

  main();
})();
