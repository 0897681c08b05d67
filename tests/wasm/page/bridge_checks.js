// Checks of a non-ASYNCIFY duet module (tests/wasm/bridge_module.cpp), shared by the
// node test (bridge_module_node.js) and the headless-Chromium page (index.html).
(function(root, make) {
  if (typeof module == 'object' && module.exports) {
    module.exports = make();
  } else {
    root.bridgeChecks = make();
  }
})(typeof self != 'undefined' ? self : this, function() {
  'use strict';

  function eq(actual, expected, what) {
    if (actual !== expected) {
      throw new Error((what ? what + ': ' : '') + 'expected ' + JSON.stringify(expected) + ', got ' +
                      JSON.stringify(actual));
    }
  }
  async function rejection(promise) {
    try {
      await promise;
    } catch (e) {
      return e;
    }
    throw new Error('expected a rejection');
  }
  const delay = (ms, v) => new Promise((resolve) => setTimeout(() => resolve(v), ms));

  async function run(duet, mod, log) {
    const f = duet.bind(mod, [
      'sleep_value', 'timer_order', 'gather_squares', 'double_js_number', 'sum_awaits', 'describe_js_error',
      'rethrow_js', 'throw_cpp', 'throw_timeout', 'wait_forever', 'echo', 'live_handles', 'yield_many',
    ]);
    const result = {passed: 0, failed: 0, failures: []};
    async function check(name, body) {
      try {
        await body();
        result.passed++;
        log('PASS ' + name);
      } catch (e) {
        result.failed++;
        result.failures.push(name + ': ' + (e && e.message));
        log('FAIL ' + name + ': ' + (e && e.stack || e));
      }
    }

    await check('timers: a sleep resolves with its value, not before its delay', async () => {
      const start = performance.now();
      eq(await f.sleep_value(25, 7), 7);
      const elapsed = performance.now() - start;
      if (elapsed < 20) throw new Error('resolved after ' + elapsed + ' ms');
    });
    await check('timers: callbacks run soon first, then timers in deadline order', async () => {
      eq(await f.timer_order(), 'soon,early,late');
    });
    await check('timers: concurrent sleeps finish in deadline order', async () => {
      const order = [];
      await Promise.all([30, 5, 15].map((ms) => f.sleep_value(ms, ms).then((v) => order.push(v))));
      eq(order.join(','), '5,15,30');
    });
    await check('tasks: gather-like, results in creation order', async () => {
      eq(await f.gather_squares(8), '0,1,4,9,16,25,36,49');
    });
    await check('tasks: 200 concurrent exported calls', async () => {
      const values = await Promise.all(Array.from({length: 200}, (_, i) => f.sleep_value(i % 5, i)));
      eq(values.reduce((a, b) => a + b, 0), 199 * 200 / 2);
    });
    await check('bridge: C++ awaits a JS promise', async () => {
      eq(await f.double_js_number(delay(5, 21)), 42);
      eq(await f.double_js_number(4.5), 9, 'a plain value counts as fulfilled');
    });
    await check('bridge: a JS rejection is a js_error with name and message', async () => {
      eq(await f.describe_js_error(Promise.reject(new RangeError('out of range'))), 'RangeError|out of range');
      eq(await f.describe_js_error(delay(2).then(() => { throw new TypeError('late'); })), 'TypeError|late');
    });
    await check('bridge: an uncaught js_error rejects JS with the original value', async () => {
      const original = new SyntaxError('original');
      const e = await rejection(f.rethrow_js(Promise.reject(original)));
      eq(e, original);
    });
    await check('bridge: a C++ exception rejects JS with an Error carrying what()', async () => {
      const e = await rejection(f.throw_cpp('kaput'));
      eq(e instanceof Error, true, 'instanceof Error');
      eq(e.name, 'Error');
      eq(e.message, 'kaput');
    });
    await check('bridge: duet::timeout_error arrives as a TimeoutError', async () => {
      const e = await rejection(f.throw_timeout());
      eq(e.name, 'TimeoutError');
      eq(e.message, 'timed out');
    });
    await check('bridge: an AbortSignal cancels the C++ task (CancelledError)', async () => {
      const ac = new AbortController();
      const pending = f.wait_forever.withSignal(ac.signal);
      setTimeout(() => ac.abort(), 5);
      const e = await rejection(pending);
      eq(e.name, 'CancelledError');
      eq(e.message, 'cancelled from JS (AbortSignal)');
    });
    await check('bridge: arguments convert to double, string, bool and js_value', async () => {
      eq(await f.echo(1.5, 'x', true, {k: 1}), '15|x|true|object');
      const e = await rejection(f.echo('1.5', 'x', true, null));
      eq(e.name, 'TypeError');
      eq(e.message, 'argument 1 is a string, not a number');
    });
    await check('blocking run is refused without ASYNCIFY', async () => {
      const handle = mod._blocking_refused();
      const text = duet.fromHandle(mod, handle);
      duet.release(mod, handle);
      const lines = text.split('\n');
      eq(lines.length, 2);
      for (const line of lines) {
        if (!/^duet: a blocking event loop run .* needs an ASYNCIFY build/.test(line) || !/duet::wasm::start/.test(line)) {
          throw new Error(line);
        }
      }
    });
    await check('spawn_fiber is refused without ASYNCIFY, naming duet_blocking_run', async () => {
      const handle = mod._fibers_refused();
      const text = duet.fromHandle(mod, handle);
      duet.release(mod, handle);
      if (!/^spawn_fiber: .*duet_blocking_run\(<target>\).*-sASYNCIFY/.test(text)) throw new Error(text);
    });
    await check('host: one macrotask runs many loop iterations', async () => {
      const before = mod.duet.stats();
      eq(await f.yield_many(10000), 10000);
      const used = mod.duet.stats().macrotasks - before.macrotasks;
      if (used > 200) throw new Error(used + ' macrotasks for 10000 yields');
    });
    await check('host: a settled JS promise resumes its task without a macrotask', async () => {
      const before = mod.duet.stats();
      eq(await f.sum_awaits(Promise.resolve(2), 1000), 2000);
      const after = mod.duet.stats();
      // The woken turn runs inside the promise's own continuation: no host task per await.
      const macro = after.macrotasks - before.macrotasks;
      if (macro > 2) throw new Error(macro + ' macrotasks for 1000 awaits of a settled promise');
      const micro = after.microtasks - before.microtasks;
      if (micro > 2) throw new Error(micro + ' microtasks for 1000 awaits of a settled promise');
    });
    await check('host: one setTimeout for a batch of timers', async () => {
      const before = mod.duet.stats();
      await Promise.all(Array.from({length: 100}, () => f.sleep_value(10, 1)));
      const used = mod.duet.stats().timeouts - before.timeouts;
      if (used > 5) throw new Error(used + ' setTimeouts for 100 sleeps of 10 ms');
    });
    await check('JS values held by C++ are released', async () => {
      eq(await f.live_handles(), 1, 'C++ view (only the argument array of this very call)');
      eq(duet.liveHandles(mod), 0, 'JS view');
      eq(duet.pendingCalls(mod), 0, 'pending calls');
    });
    return result;
  }

  return {run: run};
});
