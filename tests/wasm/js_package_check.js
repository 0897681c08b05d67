// Checks of the duet-wasm npm package (js/): what `npm pack` ships, that its ES module
// and CommonJS entries offer the same API, and that both load a duet module under node
// with no flag — the README's `duet.load(require('./app.js'))` included.
//
//   node js_package_check.js <js/ folder> <folder with duet_bridge_module.js + .wasm>
//                            [<npm folder written by duet_js_module> <its output name>]
'use strict';
const fs = require('fs');
const path = require('path');
const {execFileSync} = require('child_process');
const {pathToFileURL} = require('url');

const [jsDir, moduleDir, generatedDir] = process.argv.slice(2, 5).map((p) => path.resolve(p));
const generatedBase = process.argv[5];
const SHIPPED = [
  'duet.d.mts', 'duet.d.ts', 'duet.js', 'duet.mjs', 'duet_esm_node.js', 'duet_node_pre.js', 'library_duet.js',
  'package.json',
];
const result = {passed: 0, failed: 0};

async function check(name, body) {
  try {
    await body();
    result.passed++;
    console.log('PASS ' + name);
  } catch (e) {
    result.failed++;
    console.log('FAIL ' + name + ': ' + (e && e.stack || e));
  }
}
function eq(actual, expected, what) {
  const [a, e] = [JSON.stringify(actual), JSON.stringify(expected)];
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}
function packed(dir) {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {cwd: dir, encoding: 'utf8'});
  return JSON.parse(out)[0].files.map((f) => f.path).sort();
}

(async () => {
  await check('npm pack ships exactly the loader, its types and the JS linked into modules', () => {
    eq(packed(jsDir), SHIPPED, 'npm pack --dry-run');
  });

  if (generatedDir) {
    await check('a duet_js_module folder packs its entries, types, the Emscripten output and the loader', () => {
      eq(packed(generatedDir), [
        'duet/duet.cjs', 'duet/duet.d.cts', 'duet/duet.d.mts', 'duet/duet.mjs', 'index.cjs', 'index.d.cts', 'index.d.mts',
        'index.mjs', `${generatedBase}.mjs`, `${generatedBase}.wasm`, 'package.json',
      ].sort(), 'npm pack --dry-run');
      const pkg = JSON.parse(fs.readFileSync(path.join(generatedDir, 'package.json'), 'utf8'));
      eq(pkg.exports['.'], {
        import: {types: './index.d.mts', default: './index.mjs'},
        require: {types: './index.d.cts', default: './index.cjs'},
      }, 'exports["."]');
    });
  }

  await check('package.json: every "exports" target and "files" entry exists', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(jsDir, 'package.json'), 'utf8'));
    const targets = [];
    const walk = (v) => (typeof v == 'string' ? targets.push(v) : Object.values(v).forEach(walk));
    walk(pkg.exports);
    for (const t of [...targets, ...pkg.files, pkg.main, pkg.module, pkg.types]) {
      if (!fs.existsSync(path.join(jsDir, t))) throw new Error(t + ' does not exist');
    }
    eq(Object.keys(pkg.exports['.']), ['import', 'require'], 'conditions of "."');
    eq(Object.keys(pkg.exports['.'].import)[0], 'types', 'first condition under import');
  });

  const cjs = require(path.join(jsDir, 'duet.js'));
  const esm = await import(pathToFileURL(path.join(jsDir, 'duet.mjs')).href);

  await check('duet.mjs and duet.js export the same functions', () => {
    const named = Object.keys(esm).filter((k) => k !== 'default').sort();
    eq(named, Object.keys(cjs).sort(), 'ES module exports vs CommonJS');
    eq(Object.keys(esm.default).sort(), named, 'the ES module default export');
  });

  for (const [kind, duet] of [['CommonJS', cjs], ['ES module', esm]]) {
    await check(`${kind}: load(require('./app.js')) runs a duet module on node with no flag`, async () => {
      // A fresh copy of the module for each loader: require caches the factory.
      const factory = require(path.join(moduleDir, 'duet_bridge_module.js'));
      const mod = await duet.load(factory);
      eq(await duet.wrap(mod, 'sleep_value')(1, 42), 42, 'sleep_value(1, 42)');
      const {echo} = duet.bind(mod, ['echo']);
      eq(typeof (await echo(1, 's', true, null)), 'string', 'echo');
      const abort = new AbortController();
      const pending = duet.wrap(mod, 'wait_forever').withSignal(abort.signal);
      abort.abort();
      const e = await pending.then(() => null, (x) => x);
      eq(e && e.name, 'CancelledError', 'an aborted call');
      eq(duet.pendingCalls(mod), 0, 'calls still pending');
    });
  }

  await check('a module whose .wasm is missing rejects its load, naming the file', async () => {
    const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'duet-js-'));
    try {
      fs.copyFileSync(path.join(moduleDir, 'duet_bridge_module.js'), path.join(dir, 'app.js'));
      const e = await cjs.load(require(path.join(dir, 'app.js')), {printErr: () => {}}).then(() => null, (x) => x);
      if (!e || !String(e.message).includes(path.join(dir, 'duet_bridge_module.wasm'))) {
        throw new Error('expected a rejection naming the .wasm, got ' + e);
      }
    } finally {
      fs.rmSync(dir, {recursive: true, force: true});
    }
  });

  await check('DUET_EXPORT_ASYNC keeps each signature in the linked .wasm (what duet_js_module reads)', () => {
    const wasm = fs.readFileSync(path.join(moduleDir, 'duet_bridge_module.wasm'));
    for (const sig of ['echo(number,string,boolean,unknown)string', 'throw_cpp(string)void', 'timer_order()string',
                       'double_js_number(unknown)number']) {
      if (wasm.indexOf(Buffer.from('\x01duet-export:v1:' + sig + '\0', 'latin1')) < 0) throw new Error('no signature ' + sig);
    }
  });

  await check('load() rejects what is not a factory', async () => {
    for (const duet of [cjs, esm]) {
      const e = await duet.load({}).then(() => null, (x) => x);
      if (!(e instanceof TypeError)) throw new Error('expected a TypeError, got ' + e);
    }
  });

  console.log(`${result.passed} passed, ${result.failed} failed`);
  process.exitCode = result.failed ? 1 : 0;
})().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
