// The plain-JS side of `jsawait`: an async function awaiting an already-resolved promise N
// times (duet's side is duet_bench.js jsawait). Prints one JSON line like the peers.
// usage: node bench/js/jsawait.mjs [N]
const n = process.argv[2] ? parseInt(process.argv[2], 10) : 1e6;
const now = () => Number(process.hrtime.bigint()) / 1e9;
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };

async function main() {
  const p = Promise.resolve(1);
  const t0 = now(), c0 = cpu();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += await p;
  const wall = now() - t0, c1 = cpu();
  if (sum !== n) throw new Error('jsawait: wrong sum');
  console.log(JSON.stringify({
    peer: 'node', target: 'wasm-node', bench: 'jsawait', n, wall_s: +wall.toFixed(6), cpu_s: +(c1 - c0).toFixed(6),
    rate: +(n / wall).toFixed(1), ns_per_op: +(wall * 1e9 / n).toFixed(2),
    minflt_total: process.resourceUsage().minorPageFault
  }));
}
main();
