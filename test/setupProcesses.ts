// Runs in every integration and chaos test file: whatever `sluice` processes
// a file started and did not stop (a failed assertion midway) are killed
// when the file ends, so no daemon outlives its test run.
import { afterAll } from 'vitest';
import { CliProcess } from './helpers/cli.js';

afterAll(async () => {
  await CliProcess.killAll();
});
