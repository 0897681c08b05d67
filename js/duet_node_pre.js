// duet's --pre-js, linked into every duet program (backends/browser/CMakeLists.txt): under
// node the .wasm is read from disk. Emscripten 3.1.6's loader fetch()es it whenever node
// has fetch (node 18 and later), which fails on a file path ("Failed to parse URL") and
// used to need `node --no-experimental-fetch`. Pages are untouched (no `process` there),
// and so is a module given wasmBinary or its own instantiateWasm.
if (typeof process == 'object' && typeof process.versions == 'object' && typeof process.versions.node == 'string' &&
    !Module['wasmBinary'] && !Module['instantiateWasm']) {
  Module['instantiateWasm'] = function(imports, receiveInstance) {
    // The loader's own name for the file: a path, or a file: URL in an -sEXPORT_ES6 build.
    var file = wasmBinaryFile;
    Promise.resolve().then(function() {
      return WebAssembly.instantiate(require('fs').readFileSync(/^file:/.test(file) ? new URL(file) : file), imports);
    }).then(function(result) {
      receiveInstance(result.instance, result.module);
    }, function(e) {
      try {
        abort('duet: loading ' + file + ' failed: ' + e);  // rejects the module's ready promise
      } catch (ignored) {
        // abort() also throws; the ready promise carries the error.
      }
    });
    return {};  // instantiation goes on asynchronously
  };
}
