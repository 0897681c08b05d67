// duet's loader for CommonJS (node's require) and classic <script> pages; duet.mjs is the
// same API as an ES module (keep the two in step: tests/wasm/js_package_check.js compares
// their exports). Installed from npm it is `require('duet-wasm')`.
//
//   node:     const duet = require('duet-wasm');     // or the path of js/duet.js
//             const mod = await duet.load(require('./app.js'));
//   browser:  <script src="duet.js"></script> <script src="app.js"></script>
//             const mod = await duet.load(createApp);   // -sEXPORT_NAME=createApp
//
//   const add = duet.wrap(mod, 'add_later');   // DUET_EXPORT_ASYNC(add_later, ...)
//   await add(1, 2);
//
// Under node a duet module reads its own .wasm from disk (js/duet_node_pre.js), so no
// node flag is needed. Everything here is a thin layer over `Module.duet`, which
// js/library_duet.js installs on every duet module (see duet.d.ts).
(function(root, make) {
  if (typeof module == 'object' && module.exports) {
    module.exports = make();
  } else {
    root.duet = make();
  }
})(typeof self != 'undefined' ? self : this, function() {
  'use strict';

  function api(mod) {
    if (!mod || !mod.duet) throw new TypeError('duet: not a duet module (it was not linked with js/library_duet.js)');
    return mod.duet;
  }

  // Instantiates a MODULARIZE factory and resolves with the module once its runtime is
  // ready (main, if any, has run by then). `wasmFile` (node only) reads the .wasm from
  // that path.
  function load(factory, options) {
    if (typeof factory != 'function') {
      return Promise.reject(new TypeError('duet.load: expected the factory function of a -sMODULARIZE build'));
    }
    var opts = Object.assign({}, options || {});
    if (opts.wasmFile && !opts.wasmBinary && typeof process == 'object' && process.versions && process.versions.node) {
      opts.wasmBinary = require('fs').readFileSync(opts.wasmFile);
    }
    delete opts.wasmFile;
    return Promise.resolve(factory(opts)).then(function(mod) {
      api(mod);
      return mod;
    });
  }

  // A JS function for the coroutine exported as `name`: returns a Promise. Its
  // `withSignal(signal, ...args)` variant cancels the C++ task when `signal` aborts.
  function wrap(mod, name) {
    return api(mod).wrap(name);
  }

  // wrap() for several names at once: { name: function, ... }.
  function bind(mod, names) {
    var out = {};
    for (var i = 0; i < names.length; i++) out[names[i]] = wrap(mod, names[i]);
    return out;
  }

  return {
    load: load,
    wrap: wrap,
    bind: bind,
    call: function(mod, name, args, options) { return api(mod).callAsync(name, args || [], options); },
    liveHandles: function(mod) { return api(mod).liveHandles(); },
    pendingCalls: function(mod) { return api(mod).pendingCalls(); },
    toHandle: function(mod, value) { return api(mod).toHandle(value); },
    fromHandle: function(mod, handle) { return api(mod).fromHandle(handle); },
    release: function(mod, handle) { api(mod).release(handle); },
  };
});
