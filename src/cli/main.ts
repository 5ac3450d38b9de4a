// `persona`: a thin command-line layer over the same API scripts import (src/index.ts).
// Each command lives in ./commands/ and only parses flags, calls the API, and prints.

import { Command } from 'commander';
import { registerModelCommands } from './commands/model.js';
import { registerGenerateCommand } from './commands/generate.js';
import { registerMonitoringCommands } from './commands/monitoring.js';
import { registerPersonaCommands } from './commands/persona.js';
import { registerProbeCommands } from './commands/probe.js';
import { registerVectorCommands } from './commands/vector.js';
import { registerServeCommand } from './commands/serve.js';
import { registerLensCommand } from './commands/lens.js';
import { registerRefusalCommand } from './commands/refusal.js';

export function buildCli(): Command {
  const program = new Command('persona')
    .description('Persona vectors, probes and activation steering for local ONNX decoder models')
    .version('0.1.0')
    .showHelpAfterError();
  registerModelCommands(program);
  registerGenerateCommand(program);
  registerMonitoringCommands(program);
  registerPersonaCommands(program);
  registerProbeCommands(program);
  registerVectorCommands(program);
  registerServeCommand(program);
  registerLensCommand(program);
  registerRefusalCommand(program);
  return program;
}

// Run when executed directly (bin/persona.js or `tsx src/cli/main.ts`), not when imported by tests.
const invoked = process.argv[1] ?? '';
if (invoked.endsWith('main.ts') || invoked.endsWith('persona.js') || invoked.endsWith('persona')) {
  buildCli()
    .parseAsync(process.argv)
    .catch((e: unknown) => {
      console.error(`persona: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    });
}
