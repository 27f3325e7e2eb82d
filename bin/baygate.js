#!/usr/bin/env node
// The `baygate` command (package.json "bin"): loads tsx's TypeScript loader into this
// process and runs bin/baygate.ts, so the CLI is the same source as the services, with no
// build step and no second process to forward signals to.
import { register } from 'tsx/esm/api';

// `baygate export-openapi | head` closes the pipe early; that is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

register();
const { main } = await import('./baygate.ts');
process.exitCode = await main(process.argv.slice(2));
