import { main } from './main.js';

// Exit explicitly: a failed client may leave a socket or timer behind, and
// the exit code is the contract (0 ok, 1 runtime failure, 2 usage/config).
process.exit(await main(process.argv.slice(2)));
