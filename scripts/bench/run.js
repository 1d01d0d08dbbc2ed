// `npm run bench` (package.json: `npm run build && node scripts/bench/run.js`).
// The bench is TypeScript; this registers tsx and starts the runner.
import { register } from 'tsx/esm/api';

register();
await import('./runner.ts');
