// Runs tsc --noEmit over the TypeScript consumers in this folder against the npm packages:
//
//   node check_types.js <build dir for the check> <js/ folder> <generated example package>
//
// Copies the consumers and tsconfig.json into the build dir and links both packages into
// its node_modules, so that tsc resolves them by name, through their "exports". Exits 77
// (ctest's skip) when typescript is not installed (scripts/setup.sh installs it).
'use strict';
const fs = require('fs');
const path = require('path');
const {spawnSync} = require('child_process');

const [dir, jsDir, examplePackage] = process.argv.slice(2).map((p) => path.resolve(p));
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc', {paths: [path.join(__dirname, '..', '..', '..')]});
} catch (e) {
  console.log('SKIP: typescript is not installed (npm install at the repository root)');
  process.exit(77);
}
fs.mkdirSync(path.join(dir, 'node_modules'), {recursive: true});
for (const f of ['tsconfig.json', 'globals.d.ts', 'consumer.mts', 'consumer.cts']) fs.copyFileSync(path.join(__dirname, f), path.join(dir, f));
for (const [name, target] of [['duet-wasm', jsDir], ['duet-example-js-module', examplePackage]]) {
  const link = path.join(dir, 'node_modules', name);
  fs.rmSync(link, {recursive: true, force: true});
  fs.symlinkSync(target, link, 'dir');
}
const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', path.join(dir, 'tsconfig.json')], {stdio: 'inherit'});
if (r.status === 0) console.log('tsc --noEmit: the consumers type-check (every @ts-expect-error was an error)');
process.exit(r.status === null ? 1 : r.status);
