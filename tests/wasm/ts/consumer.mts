// An ES-module consumer: the types must let correct calls through and reject wrong ones
// (each @ts-expect-error fails the check if its line compiles).
import {load} from 'duet-example-js-module';
import duetDefault, {bind, load as loadFactory, type DuetModule, type TypedAsyncExport} from 'duet-wasm';

const m = await load({print: (line: string) => console.log(line)});

// Argument and result types come from each DUET_EXPORT_ASYNC signature.
const greeting: string = await m.greet(Promise.resolve('types'), 10);
const settled: boolean = await m.settles_within(new Promise<void>(() => {}), 5);
const repeated: string = await m.repeat('ab', 3);
const napped: void = await m.nap(1);
const cancelled: Promise<void> = m.nap.withSignal(new AbortController().signal, 1000);
const module: DuetModule = m.module;

// @ts-expect-error: greet's result is a string
const wrongResult: number = await m.greet('x', 1);
// @ts-expect-error: repeat's second argument is a number
await m.repeat('ab', 'three');
// @ts-expect-error: repeat takes two arguments
await m.repeat('ab');
// @ts-expect-error: withSignal's first argument is an AbortSignal
await m.nap.withSignal(5, 1);
// @ts-expect-error: no such export
await m.missing();

// The loader package itself, as an ES module.
const typed: TypedAsyncExport<[string, number], string> = m.repeat;
const again: DuetModule = await loadFactory(async () => module);
const fns = bind(again, ['nap']);
const viaDefault: typeof loadFactory = duetDefault.load;

export {greeting, settled, repeated, napped, cancelled, wrongResult, typed, fns, viaDefault};
