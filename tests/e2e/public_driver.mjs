// Opens the public stats page, its JSON and its badges in real headless Chromium (Debian's, through
// playwright-core), saves a screenshot of the page and prints what Chromium rendered as JSON.
// Usage: node public_driver.mjs <base url of /public/<project>/> <screenshot.png>
import { chromium } from "playwright-core";

const [base, screenshot] = process.argv.slice(2);
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-quic"];
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: FLAGS, timeout: 30000 });
const out = { errors: [], failed: [], badges: {}, json: {} };
try {
  const page = await (await browser.newContext({ viewport: { width: 1100, height: 900 } })).newPage();
  page.on("console", (m) => { if (m.type() === "error") out.errors.push(`console: ${m.text()}`); });
  page.on("response", (r) => { if (r.status() >= 400) out.failed.push([r.status(), new URL(r.url()).pathname]); });
  page.on("pageerror", (e) => out.errors.push(`pageerror: ${e.message}`));
  page.setDefaultTimeout(30000);
  await page.goto(base);
  await page.waitForFunction(() => [...document.images].every((i) => i.complete));
  out.page = await page.evaluate(() => {
    const cards = {};
    for (const p of document.querySelectorAll("[data-period]")) {
      for (const c of p.querySelectorAll(".card")) cards[`${p.dataset.period}.${c.dataset.field}`] = c.querySelector(".value").textContent;
    }
    const tables = {};
    for (const s of document.querySelectorAll("[data-period=week] [data-breakdown]")) {
      tables[s.dataset.breakdown] = [...s.querySelectorAll("tr")].map((tr) => [tr.cells[0].textContent, tr.cells[1].textContent,
        Math.round(tr.querySelector(".bar").getBoundingClientRect().width)]);
    }
    const images = [...document.images].map((i) => [i.getAttribute("src"), i.naturalWidth, i.naturalHeight]);
    return { title: document.title, cards, tables, images, styled: getComputedStyle(document.body).fontFamily };
  });
  await page.screenshot({ path: screenshot, fullPage: true });
  for (const name of ["stats.json", "badge/users-week.json", "badge/installs-month.json", "badge/latest-adoption.json"]) {
    await page.goto(base + name);
    out.json[name] = JSON.parse(await page.evaluate(() => document.body.innerText));
  }
  for (const name of ["users-week", "installs-month", "latest-adoption"]) {
    await page.goto(base + `badge/${name}.svg`);
    out.badges[name] = await page.evaluate(() => {
      const svg = document.querySelector("svg");
      const r = svg.getBoundingClientRect();
      return { width: Math.round(r.width), height: Math.round(r.height), texts: [...svg.querySelectorAll("text")].map((t) => t.textContent) };
    });
  }
} catch (err) {
  out.errors.push(`driver: ${err.stack || err}`);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
