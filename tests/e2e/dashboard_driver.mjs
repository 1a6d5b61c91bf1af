// Drives the dashboard in real headless Chromium (Debian's, through playwright-core from npm) and
// prints what it saw at each step as one JSON document; tests/e2e/test_dashboard.py checks it.
// Usage: node dashboard_driver.mjs <base url> <token> <screenshot.png> <base url of a store with dependencies>
import { chromium } from "playwright-core";

const [base, token, screenshot, depsBase] = process.argv.slice(2);
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-quic"];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: FLAGS, timeout: 30000,
});
const out = { steps: {}, errors: [], requests: [], failed: [] };
try {
  // launchPersistentContext is not needed: playwright gives each context a fresh profile.
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  // Failed loads are checked via `failed` (with their URLs); every other console error is a bug.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) out.errors.push(`console: ${m.text()}`);
  });
  page.on("response", (r) => { if (r.status() >= 400) out.failed.push([r.status(), new URL(r.url()).pathname]); });
  page.on("pageerror", (e) => out.errors.push(`pageerror: ${e.message}`));
  page.on("request", (r) => out.requests.push(r.url()));
  page.setDefaultTimeout(15000);

  const settled = () => page.waitForFunction(() => ["ready", "login", "error"].includes(document.body.dataset.state)
    && !document.querySelector("body[data-state=loading]"));

  async function observe(p = page) {
    return p.evaluate(() => {
      const charts = {};
      for (const canvas of document.querySelectorAll("canvas")) {
        const chart = window.Chart && window.Chart.getChart(canvas);
        if (!chart) continue;
        const ctx = canvas.getContext("2d");
        const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) painted++;
        charts[canvas.id] = {
          type: chart.config.type,
          labels: chart.data.labels.map(String),
          datasets: chart.data.datasets.map((d) => ({ label: d.label ?? null, data: d.data })),
          painted,
        };
      }
      const tiles = {};
      for (const t of document.querySelectorAll(".tile")) tiles[t.dataset.field] = t.querySelector(".value").textContent;
      return {
        url: location.pathname + location.search + location.hash,
        state: document.body.dataset.state,
        status: document.getElementById("status").textContent,
        loginError: document.getElementById("login-error").textContent,
        loginOpen: document.getElementById("login").open,
        project: document.getElementById("project").value,
        ecosystem: document.getElementById("ecosystem").value,
        projects: [...document.getElementById("project").options].map((o) => o.value),
        since: document.getElementById("since").value,
        until: document.getElementById("until").value,
        tiles,
        charts,
        concentration: document.getElementById("concentration").textContent,
        heavyRows: document.querySelectorAll("#heavy tbody tr").length,
        behaviourRows: [...document.querySelectorAll("#behaviour tbody tr")].map((tr) => tr.cells[0].textContent),
        tokenInStorage: sessionStorage.getItem("pkgate.token") !== null,
        // which "no data" notes are showing (by id), and whether their chart boxes are hidden
        empty: Object.fromEntries([...document.querySelectorAll(".empty")].map((e) => [e.id, !e.hidden])),
        boxHidden: Object.fromEntries([...document.querySelectorAll(".chart canvas")]
          .map((c) => [c.id, c.parentElement.hidden])),
      };
    });
  }

  await page.goto(`${base}/dashboard?since=2026-03-01&until=2026-03-09`);
  await settled();
  out.steps.first = await observe();

  await page.fill("#token", "wrong-token-wrong-token");
  await page.click("#login-form button[type=submit]");
  await page.waitForFunction(() => document.getElementById("login-error").textContent !== "");
  await settled();
  out.steps.wrong = await observe();

  await page.fill("#token", token);
  await page.click("#login-form button[type=submit]");
  await page.waitForFunction(() => document.body.dataset.state === "ready");
  out.steps.all = await observe();

  await page.selectOption("#project", "six");
  await page.waitForFunction(() => location.pathname.endsWith("/six") && document.body.dataset.state === "ready");
  out.steps.six = await observe();
  await page.screenshot({ path: screenshot, fullPage: true });

  await page.fill("#since", "2026-03-03");
  await page.waitForFunction(() => location.search.includes("since=2026-03-03") && document.body.dataset.state === "ready");
  out.steps.narrowed = await observe();

  await page.goBack();
  await page.waitForFunction(() => !location.search.includes("since=2026-03-03") && document.body.dataset.state === "ready");
  out.steps.back = await observe();

  // The switch puts mirrors, bots and CI back into every report that takes it.
  await page.selectOption("#project", "");
  await page.waitForFunction(() => location.pathname === "/dashboard" && document.body.dataset.state === "ready");
  await page.check("#all-sources");
  await page.waitForFunction(() => location.search.includes("all=1") && document.body.dataset.state === "ready");
  out.steps.everyone = await observe();

  // No range in the link: the dashboard fits it to the data (extent), not to the last 30 days.
  await page.goto(`${base}/dashboard`);
  await page.waitForFunction(() => location.search.includes("since=") && document.body.dataset.state === "ready");
  out.steps.fitted = await observe();

  // The ecosystem filter: only OCI images (the sample has none), then back to all of them.
  await page.goto(`${base}/dashboard?since=2026-03-01&until=2026-03-09`);
  await page.waitForFunction(() => document.body.dataset.state === "ready");
  await page.selectOption("#ecosystem", "oci");
  await page.waitForFunction(() => location.search.includes("ecosystem=oci") && document.body.dataset.state === "ready");
  out.steps.oci = await observe();
  await page.selectOption("#ecosystem", "python");
  await page.waitForFunction(() => location.search.includes("ecosystem=python") && document.body.dataset.state === "ready");
  out.steps.python = await observe();

  // A link with the token in the fragment (what `pkgate demo` prints) signs a fresh tab in.
  const other = await context.newPage();
  await other.goto(`${base}/dashboard/projects/flask?since=2026-03-01&until=2026-03-09#token=${encodeURIComponent(token)}`);
  await other.waitForFunction(() => document.body.dataset.state === "ready");
  out.steps.fragment = { url: await other.evaluate(() => location.href), title: await other.textContent("#title") };

  // The dependency panels over a store with resolver sessions and their Requires-Dist.
  const deps = await context.newPage();
  await deps.goto(`${depsBase}/dashboard?since=2026-04-01&until=2026-04-01#token=${encodeURIComponent(token)}`);
  await deps.waitForFunction(() => document.body.dataset.state === "ready");
  out.steps.deps = await observe(deps);
  await deps.screenshot({ path: screenshot.replace(/\.png$/, "-deps.png"), fullPage: true });
  await deps.selectOption("#project", "urllib3");
  await deps.waitForFunction(() => location.pathname.endsWith("/urllib3") && document.body.dataset.state === "ready");
  out.steps.depsUrllib3 = await observe(deps);
  await deps.check("#all-sources");
  await deps.waitForFunction(() => location.search.includes("all=1") && document.body.dataset.state === "ready");
  out.steps.depsUrllib3Everyone = await observe(deps);
} catch (err) {
  out.errors.push(`driver: ${err.stack || err}`);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
