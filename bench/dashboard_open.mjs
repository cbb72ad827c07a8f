// Keeps the dashboard open in headless Chromium (Debian's, driven by playwright-core) for
// bench/compare.sh OBSERVE=1: opens URL, waits until the page has shown the manager's state
// once, prints "dashboard open", then prints "updates N" each time the page's status line
// changes (the page polls /api/* every second) until it is terminated.
//
//   node dashboard_open.mjs URL
import { chromium } from "playwright-core";

const url = process.argv[2];
if (!url) {
  console.error("usage: node dashboard_open.mjs URL");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.DEPOT_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const stop = async () => {
  await browser.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
const page = await browser.newPage();
await page.goto(url);
let last = "", updates = 0;
for (;;) {
  const s = await page.textContent("#status");
  if (s !== last && s.startsWith("updated")) {
    last = s;
    if (++updates === 1) console.log("dashboard open");
    console.log("updates " + updates);
  } else if (s.startsWith("cannot")) {
    console.log("dashboard error: " + s);
  }
  await new Promise(r => setTimeout(r, 500));
}
