// undici's Pool without undici's index: the index also loads fetch, WebSocket, caches and mocks, about
// 9 MB of RSS in every sidecar, which needs only Pool and its request/upgrade API. Same files as the index
// requires (undici has no exports map), so a process that also imports 'undici' shares them.
import { createRequire } from 'node:module';
import type { Pool as PoolType } from 'undici';

const require = createRequire(import.meta.url);
const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as { prototype: object };
Object.assign(Dispatcher.prototype, require('undici/lib/api/index.js') as object);

export const Pool = require('undici/lib/dispatcher/pool.js') as typeof PoolType;
export type Pool = PoolType;
