// The few host globals the consumers and duet's .d.ts files use, so that tsc need not load
// lib.dom (most of the check's time): users get the real ones from lib.dom or @types/node.
interface AbortSignal {
  readonly aborted: boolean;
}
declare var AbortSignal: {abort(reason?: unknown): AbortSignal};
declare class AbortController {
  readonly signal: AbortSignal;
  abort(reason?: unknown): void;
}
declare var console: {log(...data: unknown[]): void};
