// Types for js/duet.js (CommonJS; duet.d.mts gives them to duet.mjs) and for the `duet`
// object js/library_duet.js puts on every duet module (Module.duet).

/** Options for an exported call. */
export interface CallOptions {
  /** Aborting it cancels the C++ task; the promise then rejects with a CancelledError. */
  signal?: AbortSignal;
}

/** A coroutine exported with DUET_EXPORT_ASYNC(name, fn), as a JS function. */
export interface AsyncExport<R = unknown> {
  (...args: unknown[]): Promise<R>;
  withSignal(signal: AbortSignal, ...args: unknown[]): Promise<R>;
}

/**
 * An exported coroutine whose argument and result types are known: duet_js_module
 * generates these from each DUET_EXPORT_ASYNC signature in the linked module.
 */
export interface TypedAsyncExport<A extends unknown[], R> {
  (...args: A): Promise<R>;
  /** The same call; aborting `signal` cancels the C++ task (the promise rejects with a CancelledError). */
  withSignal(signal: AbortSignal, ...args: A): Promise<R>;
}

/**
 * Rejections of an exported call are `Error`s whose `name` tells what C++ threw:
 * "CancelledError" (duet::cancelled_error, also after an abort), "TimeoutError",
 * "InvalidStateError", "NotSupportedError", "Error" (any other std::exception; message is
 * what()), or the original JS value when C++ let a duet::js_error through. Like any JS
 * promise, one that rejects unobserved is reported by the host as an unhandled rejection.
 */
export interface ModuleDuet {
  /** Stores `value` in the module's JS value table; C++ adopts it with js_value::adopt. */
  toHandle(value: unknown): number;
  /** The JS value behind a handle (undefined for 0 or a released handle). */
  fromHandle(handle: number): unknown;
  /** Frees a handle that C++ never adopted. */
  release(handle: number): void;
  /** How many JS values C++ holds right now (duet::js::live_handles()). */
  liveHandles(): number;
  /** Exported calls that have not settled yet. */
  pendingCalls(): number;
  /**
   * Host work so far: macrotasks and microtasks posted for loop turns, setTimeouts armed for deadlines;
   * armedTimeouts is how many loops have one pending right now.
   */
  stats(): {macrotasks: number; microtasks: number; timeouts: number; armedTimeouts: number};
  callAsync<R = unknown>(name: string, args: ArrayLike<unknown>, options?: CallOptions): Promise<R>;
  wrap<R = unknown>(name: string): AsyncExport<R>;
}

/** The subset of an Emscripten module object duet relies on. */
export interface DuetModule {
  duet: ModuleDuet;
  [key: string]: unknown;
}

/** The function an Emscripten -sMODULARIZE build exports. */
export type ModuleFactory<M extends DuetModule = DuetModule> = (options?: object) => Promise<M>;

export interface LoadOptions {
  /**
   * Node only: read the .wasm from this path (by default a duet module reads the file next
   * to its .js / .mjs itself).
   */
  wasmFile?: string;
  /** Anything else is passed to the factory (print, printErr, locateFile, ...). */
  [key: string]: unknown;
}

export function load<M extends DuetModule>(factory: ModuleFactory<M>, options?: LoadOptions): Promise<M>;
export function wrap<R = unknown>(mod: DuetModule, name: string): AsyncExport<R>;
export function bind(mod: DuetModule, names: readonly string[]): Record<string, AsyncExport>;
export function call<R = unknown>(
  mod: DuetModule,
  name: string,
  args?: ArrayLike<unknown>,
  options?: CallOptions,
): Promise<R>;
export function liveHandles(mod: DuetModule): number;
export function pendingCalls(mod: DuetModule): number;
export function toHandle(mod: DuetModule, value: unknown): number;
export function fromHandle(mod: DuetModule, handle: number): unknown;
export function release(mod: DuetModule, handle: number): void;
