// persona generate: chat with a model, optionally steered, printing tokens as they come.

import type { Command } from 'commander';
import { generateChat } from '../../generation/generate.js';
import { loadModel } from '../../model/load.js';
import type { ChatMessage } from '../../model/tokenizer.js';
import { generationFlags } from '../util.js';

export function registerGenerateCommand(program: Command): void {
  program
    .command('generate')
    .description('generate a chat answer from MODEL_DIR')
    .argument('<model_dir>')
    .requiredOption('-p, --prompt <text>', 'user message')
    .option('-s, --system <text>', 'system prompt')
    .option('-n, --max-new-tokens <n>', 'tokens to generate', '80')
    .option('-t, --temperature <t>', 'sampling temperature (0 = greedy)', '0')
    .option('--top-p <p>', 'nucleus sampling mass', '1')
    .option('--seed <n>', 'sampling seed', '0')
    .action(async (dir: string, o: { prompt: string; system?: string; maxNewTokens: string; temperature: string; topP: string; seed: string }) => {
      const { maxNewTokens, temperature, topP, seed } = generationFlags(o);
      const model = await loadModel(dir);
      const messages: ChatMessage[] = [...(o.system ? [{ role: 'system', content: o.system }] : []), { role: 'user', content: o.prompt }];
      const r = await generateChat(model, [messages], { maxNewTokens, sampling: temperature > 0 ? { temperature, topP, seed } : undefined });
      console.log(r.text[0]);
      await model.dispose();
    });
}
