// duet's --extern-pre-js for -sEXPORT_ES6 builds (duet_js_module): Emscripten 3.1.6's ES6
// output uses require, __filename and __dirname under node, which an ES module does not
// have ("__dirname is not defined"); they are made here from import.meta.url. Browsers
// skip the branch (a bundler may be told to ignore the node: import).
var require, __filename, __dirname;
if (typeof process == 'object' && typeof process.versions == 'object' && typeof process.versions.node == 'string') {
  require = (await import(/* webpackIgnore: true */ /* @vite-ignore */ 'node:module')).createRequire(import.meta.url);
  __filename = require('node:url').fileURLToPath(import.meta.url);
  __dirname = require('node:path').dirname(__filename);
}
