// duet's Emscripten JS library (linked with --js-library): the host-loop driver for
// browser_backend, the table of JS values that C++ holds by integer handle, the glue that
// lets C++ await JS promises, and the glue that lets JS await exported C++ coroutines.
//
// Rules kept throughout: no JS exception ever unwinds through wasm frames (errors are
// caught here and handed to C++ as a status plus a value); every promise created or
// awaited here gets a rejection handler; the loop gets one macrotask per turn (never a
// nested setTimeout(0), which browsers clamp to 4 ms) and one setTimeout per deadline.

var DuetLibrary = {
  $Duet__deps: ['$handleException'],
  $Duet__postset: 'Duet.init();',
  $Duet: {
    // ---- JS values held by C++ (duet::js_value). Handle 0 is `undefined` and owns
    // nothing; every other handle owns one slot until C++ releases it.
    values: null,  // made in init(): emscripten's serializer drops an `undefined` element
    freeSlots: [],
    live: 0,
    toHandle: function(v) {
      if (v === undefined) return 0;
      var id = Duet.freeSlots.length ? Duet.freeSlots.pop() : Duet.values.length;
      Duet.values[id] = v;
      Duet.live++;
      return id;
    },
    fromHandle: function(id) {
      return Duet.values[id];
    },
    release: function(id) {
      // Live slots never hold undefined (it is handle 0), so this also ignores a repeat.
      if (id <= 0 || Duet.values[id] === undefined) return;
      Duet.values[id] = undefined;
      Duet.freeSlots.push(id);
      Duet.live--;
    },
    // The last exception a C++-called helper caught (see duet_js_take_error).
    lastError: undefined,
    // A string being copied into C++ memory (length first, then the bytes).
    pendingString: '',

    // ---- host loops (one record per browser_backend)
    loops: null,  // [null, record of loop 1, ...], made in init()
    freeLoopIds: [],
    soonQueue: [],
    soonSpare: [],
    soonPosted: false,
    microPosted: false,
    resolved: null,
    post: null,
    // Host work done so far (Module.duet.stats()): macrotasks posted, setTimeouts armed.
    stats: {macrotasks: 0, microtasks: 0, timeouts: 0},

    init: function() {
      // One unclamped macrotask for every loop that asked for a turn: setImmediate under
      // node, a single reused MessageChannel in browsers and workers.
      if (typeof setImmediate == 'function') {
        Duet.post = function() { setImmediate(Duet.runSoon); };
      } else if (typeof MessageChannel == 'function') {
        var channel = new MessageChannel();
        channel.port1.onmessage = Duet.runSoon;
        Duet.post = function() { channel.port2.postMessage(0); };
      } else {
        Duet.post = function() {
          throw new Error('duet: this JS environment has neither setImmediate nor MessageChannel');
        };
      }
      Duet.resolved = Promise.resolve();
      Duet.values = [undefined];
      Duet.loops = [null];
      Duet.calls = new Map();
      Module['duet'] = Duet.api;
      // Every way an uncaught exception leaves the program (main, a loop turn, a blocking
      // main resumed) ends in handleException -> quit_: report a C++ exception readably.
      var quit = quit_;
      quit_ = function(status, toThrow) { quit(status, Duet.readable(toThrow)); };
    },
    // An uncaught C++ exception reaches JS as the thrown object's address (JS-based
    // exceptions) or as a WebAssembly.Exception carrying the C++ tag (native wasm
    // exceptions; duet::flags exports the tag): print "<type>: <what>" (and the task it
    // left, see duet::detail::describe_exception) and give an Error with that text
    // instead. Anything else is returned as it is.
    readable: function(e) {
      var text;
      var describe = Module['_duet_describe_exception'];
      var tag = Module['asm'] && Module['asm']['__cpp_exception'];
      try {
        if (typeof e == 'number' && e && typeof describe == 'function' && !ABORT) {
          text = UTF8ToString(describe(e));
        } else if (typeof WebAssembly.Exception == 'function' && e instanceof WebAssembly.Exception) {
          var describeWasm = Module['_duet_describe_wasm_exception'];
          if (tag && e.is(tag) && typeof describeWasm == 'function' && !ABORT) {
            text = UTF8ToString(describeWasm(e.getArg(tag, 0)));
          } else {
            text = 'a wasm exception that is not a C++ one, or a C++ one from a module linked without ' +
                   'duet::flags (its link options export the tag that reads it)';
          }
        } else {
          return e;
        }
      } catch (x) {
        return e;
      }
      err('duet: uncaught ' + text);
      var error = new Error(text);
      error.name = 'CppException';
      return error;
    },
    runMicro: function() {
      Duet.microPosted = false;
      Duet.runQueued();
    },
    runSoon: function() {
      Duet.soonPosted = false;
      Duet.runQueued();
    },
    runQueued: function() {
      var queue = Duet.soonQueue;
      Duet.soonQueue = Duet.soonSpare;
      Duet.soonSpare = queue;
      for (var i = 0; i < queue.length; i++) {
        var st = queue[i];
        queue[i] = null;
        if (st.open) Duet.fire(st, 1);
      }
      queue.length = 0;
    },
    // A wake-up of kind `bit` (1: soon, 2: timer) for one loop: resume its suspended
    // blocking run, or run one host-driven turn.
    fire: function(st, bit) {
      st.fired |= bit;
      var fired = st.fired;
      if (st.wakeUp) {
        var wakeUp = st.wakeUp;
        st.wakeUp = null;
        st.fired = 0;
        try {
          wakeUp(fired);
        } catch (e) {
          // An exception that left the resumed main(): Asyncify rethrows it here, where
          // nothing else would report it (a bare number under node).
          Duet.mainDone = true;
          handleException(e);
        }
        return;
      }
      if (st.blocking) return;  // collected by its next duet_host_block
      st.fired = 0;
      try {
        _duet_browser_turn(st.backend, fired);
      } catch (e) {
        handleException(e);
      }
    },

    // ---- the process-exit status of a main() that suspended (ASYNCIFY builds)
    mainWatched: false,
    mainDone: false,
    watchMain: function() {
      if (Duet.mainWatched) return;
      var bottom = Asyncify.exportCallStack[0];
      if (bottom !== 'main' && bottom !== '__main_argc_argv') return;
      Duet.mainWatched = true;
      // callMain() took main's return at its first suspension as the exit status; report
      // the real one when main finally returns.
      Promise.resolve().then(function() {
        Asyncify.whenDone().then(function(status) {
          Duet.mainDone = true;
          try {
            exit(status, true);
          } catch (e) {
            handleException(e);
          }
        }, function(e) {
          Duet.mainDone = true;
          try {
            handleException(e);
          } catch (e2) {
            // quit_ rethrows after recording the status; the error was already reported.
          }
        });
      });
      if (ENVIRONMENT_IS_NODE) {
        process.on('beforeExit', function() {
          if (Duet.mainDone || ABORT) return;
          err('duet: main() is suspended in a blocking event loop run, but nothing is left that could wake it ' +
              '(deadlock: a JS promise that never settles?)');
          process.exitCode = 1;
        });
      }
    },

    // ---- JS awaiting exported C++ coroutines (DUET_EXPORT_ASYNC)
    calls: null,  // Map: call id -> {resolve, reject, signal, onAbort}; made in init()
    nextCall: 1,
    callAsync: function(name, args, signal) {
      return new Promise(function(resolve, reject) {
        var start = Module['_duet_async_' + name];
        if (typeof start != 'function') {
          throw new TypeError('duet: no coroutine exported as "' + name + '" (DUET_EXPORT_ASYNC)');
        }
        // C++ owns the arguments now and may await a promise among them only later: mark
        // them handled so a rejection before then is not reported as unhandled.
        for (var i = 0; args && i < args.length; i++) {
          if (args[i] instanceof Promise) args[i].catch(Duet.ignore);
        }
        var id = Duet.nextCall++;
        var call = {resolve: resolve, reject: reject, signal: signal || null, onAbort: null};
        Duet.calls.set(id, call);
        try {
          start(Duet.toHandle(Array.prototype.slice.call(args || [])), id);
        } catch (e) {
          Duet.finishCall(id);
          throw e;
        }
        if (call.signal && Duet.calls.has(id)) {
          call.onAbort = function() { Duet.cancelCall(id); };
          if (call.signal.aborted) {
            call.onAbort();
          } else {
            call.signal.addEventListener('abort', call.onAbort, {once: true});
          }
        }
      });
    },
    ignore: function() {},
    cancelCall: function(id) {
      if (Duet.calls.has(id)) _duet_async_cancel(id);
    },
    finishCall: function(id) {
      var call = Duet.calls.get(id);
      if (!call) return null;
      Duet.calls.delete(id);
      if (call.onAbort) call.signal.removeEventListener('abort', call.onAbort);
      return call;
    },

    // ---- promises awaited by C++ (duet_js_await). A watcher carries one await (the
    // future's core, the C++ functions that settle it, the JS type it wants) and its pair of
    // handlers; it goes back to the spare list as soon as one handler ran (a then() calls at
    // most one of them, once), so a steady stream of awaits allocates no closures. A
    // watcher whose promise never settles is simply never reused; the spare list keeps at
    // most maxSpareWatchers (the rest are left to the GC after a burst of awaits).
    spareWatchers: [],
    maxSpareWatchers: 256,
    recycle: function(w) {
      if (Duet.spareWatchers.length < Duet.maxSpareWatchers) Duet.spareWatchers.push(w);
    },
    watcher: function() {
      if (Duet.spareWatchers.length) return Duet.spareWatchers.pop();
      var w = {core: 0, ops: 0, kind: 0, onFulfilled: null, onRejected: null};
      w.onFulfilled = function(v) {
        var core = w.core, ops = w.ops, kind = w.kind;
        Duet.recycle(w);
        Duet.fulfil(ops, core, kind, v);
      };
      w.onRejected = function(e) {
        var core = w.core, ops = w.ops;
        Duet.recycle(w);
        Duet.reject(ops, core, e);
      };
      return w;
    },
    // A fulfilment of the JS type the await wants goes to C++ as a plain double, without a
    // handle; anything else takes the general path (which also reports a type mismatch).
    fulfil: function(ops, core, kind, v) {
      if (ABORT) return;
      try {
        if (kind == 1 ? typeof v == 'number' : kind == 2 ? typeof v == 'boolean' : kind == 3) {
          _duet_promise_fulfil_primitive(ops, core, kind == 1 ? v : v === true ? 1 : 0);
        } else {
          _duet_promise_settle(ops, core, 1, Duet.toHandle(v));
        }
      } catch (e) {
        handleException(e);
      }
    },
    reject: function(ops, core, e) {
      if (ABORT) return;
      try {
        _duet_promise_settle(ops, core, 0, Duet.toHandle(e));
      } catch (x) {
        handleException(x);
      }
    },

    // What Module.duet offers an application (see js/duet.d.ts).
    api: {
      toHandle: function(v) { return Duet.toHandle(v); },
      fromHandle: function(id) { return Duet.fromHandle(id); },
      release: function(id) { Duet.release(id); },
      liveHandles: function() { return Duet.live; },
      pendingCalls: function() { return Duet.calls.size; },
      stats: function() {
        var armed = 0;
        for (var i = 1; i < Duet.loops.length; i++) {
          if (Duet.loops[i] && Duet.loops[i].timer !== null) armed++;
        }
        return {macrotasks: Duet.stats.macrotasks, microtasks: Duet.stats.microtasks, timeouts: Duet.stats.timeouts,
                armedTimeouts: armed};
      },
      callAsync: function(name, args, options) {
        return Duet.callAsync(name, args, options && options.signal);
      },
      wrap: function(name) {
        var f = function() { return Duet.callAsync(name, arguments, null); };
        f.withSignal = function(signal) {
          return Duet.callAsync(name, Array.prototype.slice.call(arguments, 1), signal);
        };
        return f;
      },
    },
  },

  // ---- host loop driver (backends/browser/src/browser_backend.cpp)
  duet_host_open__sig: 'ii',
  duet_host_open: function(backend) {
    var st = {backend: backend, open: true, fired: 0, wakeUp: null, blocking: false, timer: null, onTimer: null};
    // One closure per loop, reused for every deadline.
    st.onTimer = function() {
      st.timer = null;
      if (st.open) Duet.fire(st, 2);
    };
    var id = Duet.freeLoopIds.length ? Duet.freeLoopIds.pop() : Duet.loops.length;
    Duet.loops[id] = st;
    return id;
  },
  duet_host_soon__sig: 'vii',
  duet_host_soon: function(id, micro) {
    Duet.soonQueue.push(Duet.loops[id]);
    if (micro) {
      // Work appeared outside a turn: run it as a JS continuation would (see
      // browser_backend::wake).
      if (!Duet.microPosted) {
        Duet.microPosted = true;
        Duet.stats.microtasks++;
        // A resolved promise's then: node's queueMicrotask adds an async-hooks scope.
        Duet.resolved.then(Duet.runMicro);
      }
      return;
    }
    if (!Duet.soonPosted) {
      Duet.soonPosted = true;
      Duet.stats.macrotasks++;
      Duet.post();
    }
  },
  duet_host_arm__sig: 'vid',
  duet_host_arm: function(id, ms) {
    var st = Duet.loops[id];
    if (st.timer !== null) clearTimeout(st.timer);
    st.timer = null;
    if (ms >= 0) {
      Duet.stats.timeouts++;
      st.timer = setTimeout(st.onTimer, ms);
    }
  },
  duet_host_set_blocking__sig: 'iii',
  duet_host_set_blocking: function(id, on) {
    var st = Duet.loops[id];
    st.blocking = !!on;
    var fired = st.fired;
    st.fired = 0;
    return fired;
  },
  duet_host_close__sig: 'vi',
  duet_host_close: function(id) {
    var st = Duet.loops[id];
    st.open = false;
    if (st.timer !== null) clearTimeout(st.timer);
    st.timer = null;
    Duet.loops[id] = null;
    Duet.freeLoopIds.push(id);
  },
  // ASYNCIFY builds only: suspends the wasm stack until the loop's macrotask or timer
  // fires. wakeUp is only ever called from those JS callbacks, never with wasm code on
  // the stack.
  duet_host_block__sig: 'ii',
  duet_host_block__deps: ['$Duet', '$Asyncify'],
  duet_host_block: function(id) {
    return Asyncify.handleSleep(function(wakeUp) {
      var st = Duet.loops[id];
      if (st.fired) {
        var fired = st.fired;
        st.fired = 0;
        wakeUp(fired);
        return;
      }
      st.wakeUp = wakeUp;
      Duet.watchMain();
    });
  },

  // ---- JS values (wasm/src/js.cpp)
  duet_js_release__sig: 'vi',
  duet_js_release: function(id) { Duet.release(id); },
  duet_js_clone__sig: 'ii',
  duet_js_clone: function(id) { return Duet.toHandle(Duet.values[id]); },
  duet_js_live_handles__sig: 'i',
  duet_js_live_handles: function() { return Duet.live; },
  duet_js_number__sig: 'id',
  duet_js_number: function(d) { return Duet.toHandle(d); },
  duet_js_string__sig: 'iii',
  duet_js_string: function(ptr, len) { return Duet.toHandle(UTF8ToString(ptr, len)); },
  duet_js_bool__sig: 'ii',
  duet_js_bool: function(b) { return Duet.toHandle(!!b); },
  duet_js_null__sig: 'i',
  duet_js_null: function() { return Duet.toHandle(null); },
  duet_js_new_object__sig: 'i',
  duet_js_new_object: function() { return Duet.toHandle({}); },
  duet_js_global__sig: 'iii',
  duet_js_global: function(ptr, len) {
    return Duet.toHandle(len ? globalThis[UTF8ToString(ptr, len)] : globalThis);
  },
  // 0 undefined, 1 null, 2 boolean, 3 number, 4 string, 5 object, 6 function, 7 symbol,
  // 8 bigint.
  duet_js_kind__sig: 'ii',
  duet_js_kind: function(id) {
    var v = Duet.values[id];
    if (v === null) return 1;
    switch (typeof v) {
      case 'undefined': return 0;
      case 'boolean': return 2;
      case 'number': return 3;
      case 'string': return 4;
      case 'function': return 6;
      case 'symbol': return 7;
      case 'bigint': return 8;
      default: return 5;
    }
  },
  duet_js_is_promise__sig: 'ii',
  duet_js_is_promise: function(id) {
    var v = Duet.values[id];
    return v !== null && (typeof v == 'object' || typeof v == 'function') && typeof v.then == 'function';
  },
  duet_js_to_number__sig: 'di',
  duet_js_to_number: function(id) {
    try {
      return Number(Duet.values[id]);
    } catch (e) {
      return NaN;  // symbols
    }
  },
  duet_js_to_bool__sig: 'ii',
  duet_js_to_bool: function(id) { return !!Duet.values[id]; },
  duet_js_strict_equals__sig: 'iii',
  duet_js_strict_equals: function(a, b) { return Duet.values[a] === Duet.values[b]; },
  // String(value) in UTF-8: the byte length first (-1 if String() threw), then the bytes.
  duet_js_string_length__sig: 'ii',
  duet_js_string_length: function(id) {
    try {
      Duet.pendingString = String(Duet.values[id]);
    } catch (e) {
      Duet.lastError = e;
      return -1;
    }
    return lengthBytesUTF8(Duet.pendingString);
  },
  duet_js_string_copy__sig: 'vii',
  duet_js_string_copy: function(ptr, len) {
    stringToUTF8(Duet.pendingString, ptr, len + 1);
    Duet.pendingString = '';
  },
  duet_js_take_error__sig: 'i',
  duet_js_take_error: function() {
    var e = Duet.lastError;
    Duet.lastError = undefined;
    return Duet.toHandle(e);
  },
  // Property access and calls return a new handle, or -1 with the exception kept for
  // duet_js_take_error.
  duet_js_get__sig: 'iiii',
  duet_js_get: function(id, ptr, len) {
    try {
      return Duet.toHandle(Duet.values[id][UTF8ToString(ptr, len)]);
    } catch (e) {
      Duet.lastError = e;
      return -1;
    }
  },
  duet_js_get_index__sig: 'iii',
  duet_js_get_index: function(id, index) {
    try {
      return Duet.toHandle(Duet.values[id][index]);
    } catch (e) {
      Duet.lastError = e;
      return -1;
    }
  },
  duet_js_set__sig: 'iiiii',
  duet_js_set: function(id, ptr, len, value) {
    try {
      Duet.values[id][UTF8ToString(ptr, len)] = Duet.values[value];
      return 0;
    } catch (e) {
      Duet.lastError = e;
      return -1;
    }
  },
  duet_js_call__sig: 'iiiiii',
  duet_js_call: function(id, ptr, len, argv, argc) {
    try {
      var args = new Array(argc);
      for (var i = 0; i < argc; i++) args[i] = Duet.values[HEAP32[(argv >> 2) + i]];
      var self = Duet.values[id];
      var result = len ? self[UTF8ToString(ptr, len)].apply(self, args) : self.apply(undefined, args);
      return Duet.toHandle(result);
    } catch (e) {
      Duet.lastError = e;
      return -1;
    }
  },
  // The parts of a thrown or rejected value that duet::js_error carries: 0 name,
  // 1 message, 2 stack. Non-Error values get name "Error" and String(value).
  duet_js_error_field__sig: 'iii',
  duet_js_error_field: function(id, which) {
    var e = Duet.values[id];
    var field = ['name', 'message', 'stack'][which];
    var text;
    try {
      var own = e !== null && (typeof e == 'object' || typeof e == 'function') ? e[field] : undefined;
      if (typeof own == 'string') {
        text = own;
      } else if (which == 0) {
        text = 'Error';
      } else if (which == 1) {
        text = String(e);
      } else {
        text = '';
      }
    } catch (x) {
      text = which == 0 ? 'Error' : '';
    }
    return Duet.toHandle(text);
  },
  // Settles the C++ future `core` (through the promise_ops at `ops`; see
  // wasm/include/duet/js.hpp) when the promise (or any value, treated as
  // Promise.resolve(value)) settles. Both outcomes are handled here, so the awaited promise
  // never counts as an unhandled rejection, and the derived promise cannot reject either.
  // `kind` is the JS type the await wants (promise_kind).
  duet_js_await__sig: 'viiii',
  duet_js_await: function(id, core, ops, kind) {
    var w = Duet.watcher();
    w.core = core;
    w.ops = ops;
    w.kind = kind;
    Promise.resolve(Duet.values[id]).then(w.onFulfilled, w.onRejected);
  },

  // ---- exported coroutines (wasm/src/js_export.cpp)
  duet_export_resolve__sig: 'vii',
  duet_export_resolve: function(id, value) {
    var v = Duet.values[value];
    Duet.release(value);
    var call = Duet.finishCall(id);
    if (call) call.resolve(v);
  },
  duet_export_reject_value__sig: 'vii',
  duet_export_reject_value: function(id, value) {
    var v = Duet.values[value];
    Duet.release(value);
    var call = Duet.finishCall(id);
    if (call) call.reject(v);
  },
  duet_export_reject__sig: 'viiiii',
  duet_export_reject: function(id, name, nameLen, message, messageLen) {
    var call = Duet.finishCall(id);
    if (!call) return;
    var e = new Error(UTF8ToString(message, messageLen));
    e.name = UTF8ToString(name, nameLen);
    call.reject(e);
  },
};

autoAddDeps(DuetLibrary, '$Duet');
mergeInto(LibraryManager.library, DuetLibrary);
