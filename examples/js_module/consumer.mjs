// The npm package from node, as an ES module: `node consumer.mjs` (no flags needed).
import {load} from 'duet-example-js-module';

const m = await load();
console.log(await m.greet(Promise.resolve('ES module'), 10));
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
