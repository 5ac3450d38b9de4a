#!/usr/bin/env node
// The `persona` CLI runs the TypeScript sources directly through tsx, so there is no build step
// between a checkout and a working command.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
