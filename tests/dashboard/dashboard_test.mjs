// The dashboard in a real browser: starts a manager with its admin endpoint, makes a client
// named holder-1 hold a lock and a queue hold 5 items, opens GET / in headless Chromium
// (Debian's, driven by playwright-core) and waits until the page's tables show both. Saves a
// screenshot. Every wait is on a condition, bounded; nothing depends on how long things take.
//
//   node dashboard_test.mjs BIN_DIR SCREENSHOT_PATH
// (ctest runs it from the directory where `npm ci` installed playwright-core.)
import { spawn, spawnSync } from "node:child_process";
import { chromium } from "playwright-core";

const [binDir, screenshot] = process.argv.slice(2);
if (!binDir || !screenshot) {
  console.error("usage: node dashboard_test.mjs BIN_DIR SCREENSHOT_PATH");
  process.exit(2);
}
const key = "dashboard-test-key";
const children = [];
const limit = 60_000;  // the bound on each wait: a generous one, never a sleep

function fail(message) {
  console.error("dashboard test: " + message);
  for (const c of children) c.kill("SIGKILL");
  process.exit(1);
}

function start(program, args) {
  const c = spawn(`${binDir}/${program}`, args, { stdio: ["ignore", "pipe", "pipe"] });
  c.output = "";
  c.stdout.on("data", d => (c.output += d));
  c.stderr.on("data", d => (c.output += d));
  children.push(c);
  return c;
}

function cli(address, args) {
  const r = spawnSync(`${binDir}/depot-cli`, ["-a", address, "-k", key, ...args], { encoding: "utf8" });
  if (r.status !== 0) fail(`depot-cli ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

// Polls `cond` (async) until it returns something truthy or `limit` passes.
async function until(what, cond) {
  const end = Date.now() + limit;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      if (Date.now() > end) fail(`${what}: ${e.message}`);
    }
    if (Date.now() > end) fail(`${what}: not within ${limit / 1000} s`);
    await new Promise(r => setTimeout(r, 50));
  }
}

// Port 0 for both: the manager prints "depot-manager listening on HOST:PORT" and logs
// "admin endpoint on http://HOST:PORT/".
const manager = start("depot-manager", ["--address", "127.0.0.1:0", "--authkey", key,
                                        "--admin-address", "127.0.0.1:0"]);
manager.on("exit", code => fail(`the manager exited (${code}): ${manager.output}`));
const address = await until("the manager says where it listens", () => {
  const m = /listening on ([0-9.]+:[0-9]+)/.exec(manager.output);
  return m && m[1];
});
const admin = await until("the manager logs its admin endpoint", () => {
  const m = /admin endpoint on (http:\/\/[0-9.]+:[0-9]+)\//.exec(manager.output);
  return m && m[1];
});

await until("the admin endpoint answers", async () => (await fetch(`${admin}/api/queues`)).ok);
cli(address, ["put", "depth-q", "a", "b", "c", "d", "e"]);
// holder-1 takes the lock and prints its token once it holds it; it holds until killed.
const holder = start("depot-cli", ["-a", address, "-k", key, "--name", "holder-1",
                                   "lock", "acquire", "jobs-lock"]);
await until("holder-1 holds jobs-lock", () => /^\d+\n/.test(holder.output));

const browser = await chromium.launch({
  executablePath: process.env.DEPOT_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // Root in a container has no user namespaces for Chromium's sandbox.
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors = [];
  page.on("pageerror", e => errors.push(e.message));
  await page.goto(`${admin}/`);
  // The page polls every second by itself; wait until its tables show what the clients did.
  await page.waitForFunction(() => {
    const holder = document.querySelector('#locks tr[data-lock="jobs-lock"] td.holder');
    const ready = document.querySelector('#queues tr[data-queue="depth-q"] td.ready');
    const session = [...document.querySelectorAll("#sessions tbody tr")]
        .find(r => r.querySelector("td.name")?.textContent === "holder-1");
    return holder && holder.textContent.includes("holder-1") && ready &&
           ready.textContent === "5" && session &&
           session.querySelector("td.holds").textContent.includes("lock jobs-lock");
  }, null, { timeout: limit, polling: 100 });
  // A chart was drawn for the queue.
  const lines = await page.locator("#depth-chart polyline").count();
  if (lines < 1) fail("the depth chart has no line");
  await page.screenshot({ path: screenshot, fullPage: true });
  if (errors.length) fail("the page threw: " + errors.join("; "));
  console.log(`dashboard test: the page shows holder-1 holding jobs-lock and depth-q at 5 ` +
              `(screenshot: ${screenshot})`);
} catch (e) {
  fail(e.message);
} finally {
  await browser.close();
}
manager.removeAllListeners("exit");
for (const c of children) c.kill("SIGTERM");
process.exit(0);
