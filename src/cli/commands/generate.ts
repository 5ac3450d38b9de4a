// persona generate: chat with a model (or continue a raw prompt, for base models), printing the answer.

import type { Command } from 'commander';
import { generateChat, generateText } from '../../generation/generate.js';
import { loadModel } from '../../model/load.js';
import type { ChatMessage } from '../../model/tokenizer.js';
import { generationFlags } from '../util.js';

export function registerGenerateCommand(program: Command): void {
  program
    .command('generate')
    .description('generate a chat answer from MODEL_DIR (--raw: continue the prompt text as it is)')
    .argument('<model_dir>')
    .requiredOption('-p, --prompt <text>', 'user message (with --raw: the text to continue)')
    .option('-s, --system <text>', 'system prompt')
    .option('--raw', 'no chat template: feed the prompt text as it is (base models)')
    .option('-n, --max-new-tokens <n>', 'tokens to generate', '80')
    .option('-t, --temperature <t>', 'sampling temperature (0 = greedy)', '0')
    .option('--top-p <p>', 'nucleus sampling mass', '1')
    .option('--seed <n>', 'sampling seed', '0')
    .option('--device <name>', 'ONNX Runtime execution provider: cpu, cuda, ...', 'cpu')
    .action(async (dir: string, o: { prompt: string; system?: string; raw?: boolean; maxNewTokens: string; temperature: string; topP: string; seed: string; device: string }) => {
      const { maxNewTokens, temperature, topP, seed } = generationFlags(o);
      if (o.raw && o.system) throw new Error('--system: a raw prompt has no system turn; put it in --prompt');
      const model = await loadModel(dir, { device: o.device });
      try {
        const opts = { maxNewTokens, sampling: temperature > 0 ? { temperature, topP, seed } : undefined };
        const messages: ChatMessage[] = [...(o.system ? [{ role: 'system', content: o.system }] : []), { role: 'user', content: o.prompt }];
        const r = o.raw ? await generateText(model, [o.prompt], opts) : await generateChat(model, [messages], opts);
        console.log(r.text[0]);
      } finally {
        await model.dispose();
      }
    });
}
