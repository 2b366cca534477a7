#!/usr/bin/env node
/** The `raftkv` executable (dist/cli.js): the command line of src/cli/. */
import { main } from './cli/main.js';

await main(process.argv);
