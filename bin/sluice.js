#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (npm run build).
process.env.TZ ??= 'UTC';
await import('../dist/cli/bin.js');
