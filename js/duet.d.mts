// Types for duet.mjs: the same API as duet.js (duet.d.ts), plus its default export.
export * from './duet.js';
import * as duet from './duet.js';
declare const api: typeof duet;
export default api;
