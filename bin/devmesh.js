#!/usr/bin/env node
// The published CLI entry: the TypeScript sources are compiled to dist/ by `npm run build` (run on install by `prepare`).
import '../dist/src/cli/main.js';
