// drive.mjs - drives headless Chromium over the DevTools protocol for tests/serve/browser.sh:
// loads petal serve's page, uploads a photo through the file input, waits for the result
// bars, checks labels/keyboard/aria, and screenshots it; then renders a training report page
// and checks its charts, tables and thumbnails. Prints "ok NAME" / "not ok NAME: why" lines.
//
//   node drive.mjs --chromium /usr/bin/chromium --page URL --photo FILE --top1 LABEL
//                  --report FILE --out DIR
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import WebSocket from "ws";

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].slice(2)] = process.argv[i + 1];

let failures = 0;
function ok(name) { console.log(`ok ${name}`); }
function notOk(name, why) { failures++; console.log(`not ok ${name}: ${why}`); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- Chromium and a DevTools session ------------------------------------------------------

const profile = mkdtempSync(join(tmpdir(), "petal-chromium-"));
const chromium = spawn(args.chromium, [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-default-apps", "--disable-extensions", "--mute-audio",
  `--user-data-dir=${profile}`, "--remote-debugging-port=0", "--window-size=900,1200",
  "about:blank",
], { stdio: ["ignore", "ignore", "pipe"] });
let chromiumLog = "";
chromium.stderr.on("data", (d) => { chromiumLog += d; });

function cleanup() {
  try { chromium.kill("SIGKILL"); } catch (e) { /* already gone */ }
  try { rmSync(profile, { recursive: true, force: true }); } catch (e) { /* best effort */ }
}

async function devtoolsPort() {
  const file = join(profile, "DevToolsActivePort");
  for (let i = 0; i < 300; i++) {
    if (existsSync(file)) {
      const port = readFileSync(file, "utf8").split("\n")[0];
      if (port) return port;
    }
    await sleep(100);
  }
  throw new Error("Chromium did not open its DevTools port: " + chromiumLog.slice(-500));
}

class Session {
  constructor(url) {
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.id = 0;
    this.pending = new Map();
    this.listeners = [];
    this.ws.on("message", (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.id && this.pending.has(msg.id)) {
        const { resolve: res, reject } = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) reject(new Error(JSON.stringify(msg.error)));
        else res(msg.result);
      } else if (msg.method) {
        for (const l of this.listeners) l(msg);
      }
    });
  }
  open() { return new Promise((res, rej) => { this.ws.on("open", res); this.ws.on("error", rej); }); }
  send(method, params = {}) {
    const id = ++this.id;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((res, rej) => this.pending.set(id, { resolve: res, reject: rej }));
  }
  waitFor(method, ms = 20000) {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`timed out waiting for ${method}`)), ms);
      const l = (msg) => {
        if (msg.method === method) {
          clearTimeout(timer);
          this.listeners = this.listeners.filter((x) => x !== l);
          res(msg.params);
        }
      };
      this.listeners.push(l);
    });
  }
  async eval(expr) {
    const r = await this.send("Runtime.evaluate", { expression: expr, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error(`${expr}: ${JSON.stringify(r.exceptionDetails)}`);
    return r.result.value;
  }
  async navigate(url) {
    const loaded = this.waitFor("Page.loadEventFired");
    await this.send("Page.navigate", { url });
    await loaded;
  }
  async screenshot(path) {
    const r = await this.send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true });
    writeFileSync(path, Buffer.from(r.data, "base64"));
  }
  async pressTab() {
    for (const type of ["keyDown", "keyUp"])
      await this.send("Input.dispatchKeyEvent", { type, key: "Tab", code: "Tab", windowsVirtualKeyCode: 9 });
  }
}

async function pageSession(port) {
  const res = await fetch(`http://127.0.0.1:${port}/json/list`);
  const pages = (await res.json()).filter((t) => t.type === "page");
  const s = new Session(pages[0].webSocketDebuggerUrl);
  await s.open();
  await s.send("Page.enable");
  await s.send("Runtime.enable");
  await s.send("DOM.enable");
  return s;
}

// ---- The classify page ------------------------------------------------------------------------

async function testPage(s) {
  await s.navigate(args.page);
  const a11y = await s.eval(`(() => {
    const inputs = [...document.querySelectorAll("input")];
    return {
      inputs: inputs.length,
      labelled: inputs.every((i) => i.labels.length > 0 && i.labels[0].textContent.trim() !== ""),
      capture: inputs.some((i) => i.hasAttribute("capture") && i.accept === "image/*"),
      live: document.getElementById("results").getAttribute("aria-live"),
      lang: document.documentElement.lang,
      external: [...document.querySelectorAll("[src],[href]")].filter((e) => /^https?:/.test(e.getAttribute("src") || e.getAttribute("href"))).length,
    };
  })()`);
  if (a11y.inputs >= 1 && a11y.labelled && a11y.capture && a11y.live === "polite" && a11y.lang && a11y.external === 0)
    ok("page: labelled file inputs (one with capture), aria-live results, no external assets");
  else notOk("page accessibility", JSON.stringify(a11y));

  await s.pressTab();
  const focused = await s.eval(`document.activeElement && document.activeElement.id`);
  const outline = await s.eval(`(() => { const l = document.querySelector("label[for='" + document.activeElement.id + "']");
    return l ? getComputedStyle(l).outlineStyle : "none"; })()`);
  if ((focused === "file" || focused === "camera") && outline !== "none")
    ok(`page: Tab reaches the file input (#${focused}) with a visible focus outline`);
  else notOk("page keyboard focus", `focused ${focused}, outline ${outline}`);

  const doc = await s.send("DOM.getDocument");
  const input = await s.send("DOM.querySelector", { nodeId: doc.root.nodeId, selector: "#file" });
  await s.send("DOM.setFileInputFiles", { nodeId: input.nodeId, files: [resolve(args.photo)] });
  let state = "";
  for (let i = 0; i < 300 && state !== "done" && state !== "error"; i++) {
    await sleep(100);
    state = await s.eval(`document.getElementById("results").dataset.state || ""`);
  }
  const result = await s.eval(`(() => ({
    status: document.getElementById("status").textContent,
    rows: [...document.querySelectorAll("#predictions li")].map((li) => ({
      label: li.querySelector(".label").textContent,
      score: li.querySelector(".score").textContent,
      width: li.querySelector(".bar").getBoundingClientRect().width,
    })),
    preview: (() => { const p = document.getElementById("preview"); return !p.hidden && p.naturalWidth > 0 && p.alt !== ""; })(),
  }))()`);
  await s.screenshot(join(args.out, "serve-page.png"));
  if (state !== "done") return notOk("page classify", `state ${state}: ${result.status}`);
  const rows = result.rows;
  if (rows.length === 5 && rows[0].label === args.top1 && rows[0].width > 0 &&
      rows.every((r, i) => i === 0 || r.width <= rows[i - 1].width + 0.5))
    ok(`page: uploaded photo shows 5 bars, top-1 "${rows[0].label}" ${rows[0].score} (screenshot serve-page.png)`);
  else notOk("page results", JSON.stringify(result));
  if (result.preview) ok("page: shows the picked photo with alt text");
  else notOk("page preview", "preview image not shown");
}

// ---- The report page ------------------------------------------------------------------------------

async function testReport(s) {
  await s.navigate("file://" + resolve(args.report));
  const r = await s.eval(`(() => ({
    charts: document.querySelectorAll("svg.chart").length,
    lines: document.querySelectorAll("svg.chart polyline").length,
    chartWidth: document.querySelector("svg.chart") ? document.querySelector("svg.chart").getBoundingClientRect().width : 0,
    confusionRows: document.querySelectorAll("table.confusion tbody tr").length,
    perClassRows: document.querySelectorAll("table.per-class tbody tr").length,
    thumbs: [...document.querySelectorAll("ul.misses img")].filter((i) => i.complete && i.naturalWidth > 0 && i.src.startsWith("data:image/jpeg")).length,
    heading: document.querySelector("h1").textContent,
  }))()`);
  await s.screenshot(join(args.out, "report-page.png"));
  if (r.charts === 2 && r.lines === 4 && r.chartWidth > 200 && r.confusionRows === 3 && r.perClassRows === 3 && r.thumbs >= 1)
    ok(`report: 2 SVG charts, confusion and per-class tables, ${r.thumbs} thumbnail rendered (screenshot report-page.png)`);
  else notOk("report page", JSON.stringify(r));
}

try {
  const port = await devtoolsPort();
  const s = await pageSession(port);
  if (args.page) await testPage(s);
  if (args.report) await testReport(s);
  s.ws.close();
} catch (e) {
  notOk("browser", e.message);
}
cleanup();
process.exit(failures ? 1 : 0);
