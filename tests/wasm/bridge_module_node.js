// Runs page/bridge_checks.js against the non-ASYNCIFY module under node.
// usage: node bridge_module_node.js <dir with duet_bridge_module.js, duet.js, bridge_checks.js>
'use strict';
const path = require('path');

const dir = path.resolve(process.argv[2] || '.');
const duet = require(path.join(dir, 'duet.js'));
const checks = require(path.join(dir, 'bridge_checks.js'));

(async () => {
  // wasmFile: the helper reads the .wasm itself, so node's fetch() never sees a path.
  const mod = await duet.load(require(path.join(dir, 'duet_bridge_module.js')),
                              {wasmFile: path.join(dir, 'duet_bridge_module.wasm')});
  const r = await checks.run(duet, mod, (line) => console.log(line));
  console.log(`${r.passed} passed, ${r.failed} failed`);
  process.exitCode = r.failed ? 1 : 0;
  // Nothing may keep node alive now: the host loop must have dropped its timers.
  setTimeout(() => {
    console.error('node is still busy 5 s after the checks: a host timer or macrotask was left behind');
    process.exit(2);
  }, 5000).unref();
})().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
