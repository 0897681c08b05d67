// A CommonJS consumer: require() resolves the packages' "require" conditions and types.
import pkg = require('duet-example-js-module');
import duet = require('duet-wasm');

async function main(): Promise<void> {
  const m = await pkg.load();
  const greeting: string = await m.greet('CommonJS', 1);
  const settled: boolean = await m.settles_within(Promise.resolve(), 5);
  // @ts-expect-error: settles_within's result is a boolean
  const wrong: string = await m.settles_within(Promise.resolve(), 5);
  const names: readonly string[] = pkg.exportNames;
  const handles: number = duet.liveHandles(m.module);
  const add = duet.wrap<number>(m.module, 'add_later');
  const sum: number = await add.withSignal(AbortSignal.abort(), 1, 2);
  console.log(greeting, settled, wrong, names, handles, sum);
}

export = main;
