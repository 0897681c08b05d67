// duet's loader as an ES module (node and browsers: <script type="module">); duet.js is
// the same API for CommonJS and classic <script> pages (keep the two in step:
// tests/wasm/js_package_check.js compares their exports).
//
//   import { load, bind } from 'duet-wasm';
//   import createApp from './app.mjs';            // -sMODULARIZE -sEXPORT_ES6 output
//   const mod = await load(createApp);
//   const { add_later } = bind(mod, ['add_later']);   // DUET_EXPORT_ASYNC(add_later, ...)
//   await add_later(1, 2);
//   await add_later.withSignal(AbortSignal.timeout(100), 1, 2);
//
// Under node a duet module reads its own .wasm from disk (js/duet_node_pre.js), so no
// node flag is needed.

function api(mod) {
  if (!mod || !mod.duet) throw new TypeError('duet: not a duet module (it was not linked with js/library_duet.js)');
  return mod.duet;
}

const isNode = typeof process == 'object' && typeof process.versions == 'object' && typeof process.versions.node == 'string';

// Instantiates a MODULARIZE factory; resolves with the module once its runtime is ready
// (main, if any, has run by then). `wasmFile` (node only) reads the .wasm from that path.
export async function load(factory, options) {
  if (typeof factory != 'function') throw new TypeError('duet.load: expected the factory function of a -sMODULARIZE build');
  const opts = Object.assign({}, options || {});
  if (opts.wasmFile !== undefined) {
    if (isNode && !opts.wasmBinary) {
      const fs = await import(/* webpackIgnore: true */ /* @vite-ignore */ 'node:fs');
      opts.wasmBinary = fs.readFileSync(opts.wasmFile);
    }
    delete opts.wasmFile;
  }
  const mod = await factory(opts);
  api(mod);
  return mod;
}

// A JS function for the coroutine exported as `name`: returns a Promise. Its
// `withSignal(signal, ...args)` variant cancels the C++ task when `signal` aborts.
export function wrap(mod, name) {
  return api(mod).wrap(name);
}

// wrap() for several names at once: { name: function, ... }.
export function bind(mod, names) {
  const out = {};
  for (const name of names) out[name] = wrap(mod, name);
  return out;
}

export function call(mod, name, args, options) {
  return api(mod).callAsync(name, args || [], options);
}
export function liveHandles(mod) {
  return api(mod).liveHandles();
}
export function pendingCalls(mod) {
  return api(mod).pendingCalls();
}
export function toHandle(mod, value) {
  return api(mod).toHandle(value);
}
export function fromHandle(mod, handle) {
  return api(mod).fromHandle(handle);
}
export function release(mod, handle) {
  api(mod).release(handle);
}

export default {load, wrap, bind, call, liveHandles, pendingCalls, toHandle, fromHandle, release};
