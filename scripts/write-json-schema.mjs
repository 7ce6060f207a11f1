// Writes schema/devmesh.schema.json from the compiled zod schema (run by `npm run build`).
import { mkdirSync, writeFileSync } from 'node:fs';
import { meshJsonSchema } from '../dist/src/config/json-schema.js';

const out = new URL('../schema/', import.meta.url);
mkdirSync(out, { recursive: true });
writeFileSync(new URL('devmesh.schema.json', out), `${JSON.stringify(meshJsonSchema(), null, 2)}\n`);
