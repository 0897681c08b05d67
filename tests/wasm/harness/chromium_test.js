// Loads a page of built wasm files in the system's headless Chromium and reports.
//
//   node chromium_test.js --root DIR --page index.html [--node-modules DIR]
//                         [--expect-lines "line 1|line 2"] [--timeout 60000]
//
// Serves DIR on 127.0.0.1 (a free port), opens the page with playwright-core driving
// /usr/bin/chromium (never a downloaded browser), then either waits for the page's
// window.duetTestResult = {passed, failed, failures} or, with --expect-lines, for the
// page's text to show those lines in that order. Exits 0 on success, 1 on failure, and 77
// (ctest's SKIP_RETURN_CODE) when Chromium or playwright-core is not installed.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');

const SKIP = 77;
const CHROMIUM = process.env.DUET_CHROMIUM || '/usr/bin/chromium';
const LAUNCH_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',  // ES modules: a browser runs them only with a JS type
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
};

function options(argv) {
  const o = {root: null, page: 'index.html', nodeModules: null, expectLines: null, timeout: 60000};
  for (let i = 0; i < argv.length; i += 2) {
    const [key, value] = [argv[i], argv[i + 1]];
    if (key === '--root') o.root = path.resolve(value);
    else if (key === '--page') o.page = value;
    else if (key === '--node-modules') o.nodeModules = path.resolve(value);
    else if (key === '--expect-lines') o.expectLines = value.split('|');
    else if (key === '--timeout') o.timeout = Number(value);
    else throw new Error('unknown option ' + key);
  }
  if (!o.root) throw new Error('--root is required');
  return o;
}

function loadPlaywright(nodeModules) {
  const paths = [nodeModules ? path.dirname(nodeModules) : null, path.join(__dirname, '..', '..', '..'), process.cwd()];
  try {
    return require(require.resolve('playwright-core', {paths: paths.filter(Boolean)}));
  } catch (e) {
    return null;
  }
}

function serve(root) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    const file = path.join(root, decodeURIComponent(url.pathname));
    if (!file.startsWith(root + path.sep) && file !== root) {
      res.writeHead(403).end();
      return;
    }
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(404, {'Content-Type': 'text/plain'}).end('not found');
        return;
      }
      res.writeHead(200, {'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store'});
      res.end(data);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main() {
  const o = options(process.argv.slice(2));
  if (!fs.existsSync(CHROMIUM)) {
    console.log(`SKIP: ${CHROMIUM} is not installed (apt-get install chromium)`);
    return SKIP;
  }
  const playwright = loadPlaywright(o.nodeModules);
  if (!playwright) {
    console.log('SKIP: playwright-core is not installed (npm install at the repository root)');
    return SKIP;
  }
  const server = await serve(o.root);
  const url = `http://127.0.0.1:${server.address().port}/${o.page}`;
  const browser = await playwright.chromium.launch({executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS});
  const problems = [];
  try {
    const page = await browser.newPage();
    page.on('console', (m) => console.log(`[page ${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => {
      const text = String(e.stack || e.message);
      // Emscripten leaves a page program by throwing ExitStatus; the page reports the status.
      if (/^ExitStatus\b|Program terminated with exit\(/.test(text)) return;
      problems.push('uncaught in page: ' + text);
    });
    page.on('requestfailed', (r) => problems.push('request failed: ' + r.url()));
    console.log('loading ' + url + ' in ' + CHROMIUM);
    await page.goto(url);
    if (o.expectLines) {
      const last = o.expectLines[o.expectLines.length - 1];
      await page.waitForFunction((text) => document.body.innerText.includes(text), last, {timeout: o.timeout});
      const text = await page.evaluate(() => document.body.innerText);
      console.log('page text:\n' + text);
      let at = -1;
      for (const line of o.expectLines) {
        const next = text.indexOf(line, at + 1);
        if (next < 0 || next <= at) problems.push(`"${line}" is missing or out of order`);
        at = next;
      }
      console.log(`${o.expectLines.length - problems.length} passed, ${problems.length} failed`);
    } else {
      await page.waitForFunction(() => window.duetTestResult !== undefined, null, {timeout: o.timeout});
      const r = await page.evaluate(() => window.duetTestResult);
      for (const f of r.failures) problems.push(f);
      console.log(`${r.passed} passed, ${r.failed} failed`);
      if (r.passed === 0) problems.push('the page ran no check');
    }
  } finally {
    await browser.close();
    server.close();
  }
  for (const p of problems) console.log('FAIL: ' + p);
  return problems.length ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (e) => {
  console.error(e);
  process.exitCode = 1;
});
