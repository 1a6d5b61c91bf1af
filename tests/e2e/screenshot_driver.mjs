// Opens a dashboard link (token in the fragment, as `pkgate demo` prints it) in real headless
// Chromium (Debian's, through playwright-core from npm), waits until it is ready, saves a screenshot
// and prints what it shows as JSON; tests/test_wheel.py checks it against the installed wheel.
// Usage: node screenshot_driver.mjs <dashboard url with #token=...> <screenshot.png>
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-quic"];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: FLAGS, timeout: 30000,
});
const out = { errors: [], failed: [] };
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
  page.on("console", (m) => { if (m.type() === "error") out.errors.push(`console: ${m.text()}`); });
  page.on("response", (r) => { if (r.status() >= 400) out.failed.push([r.status(), new URL(r.url()).pathname]); });
  page.on("pageerror", (e) => out.errors.push(`pageerror: ${e.message}`));
  page.setDefaultTimeout(30000);
  await page.goto(url);
  await page.waitForFunction(() => ["ready", "error"].includes(document.body.dataset.state));
  Object.assign(out, await page.evaluate(() => {
    const painted = {};
    for (const canvas of document.querySelectorAll("canvas")) {
      if (!(window.Chart && window.Chart.getChart(canvas))) continue;
      const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) n++;
      painted[canvas.id] = n;
    }
    const tiles = {};
    for (const t of document.querySelectorAll(".tile")) tiles[t.dataset.field] = t.querySelector(".value").textContent;
    return { state: document.body.dataset.state, chartVersion: window.Chart ? window.Chart.version : null, tiles, painted };
  }));
  await page.screenshot({ path: screenshot, fullPage: true });
} catch (err) {
  out.errors.push(`driver: ${err.stack || err}`);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
