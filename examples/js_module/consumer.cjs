// The npm package from node, as CommonJS: `node consumer.cjs` (no flags needed).
'use strict';
const {load} = require('duet-example-js-module');

(async () => {
  const m = await load();
  console.log(await m.greet(Promise.resolve('CommonJS'), 10));
  console.log('settles within 200 ms:', await m.settles_within(new Promise((resolve) => setTimeout(resolve, 5)), 200));
  console.log('settles within 20 ms:', await m.settles_within(new Promise(() => {}), 20));
  console.log('repeat:', await m.repeat('ab', 3));
  const abort = new AbortController();
  setTimeout(() => abort.abort(), 20);
  try {
    await m.nap.withSignal(abort.signal, 60000);
    console.log('nap: finished');
  } catch (e) {
    console.log('nap:', e.name);
  }
})().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
