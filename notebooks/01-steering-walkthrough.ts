// # Steering walkthrough
// Run: npx tsx notebooks/01-steering-walkthrough.ts
//
// We load the embedded model, read its residual stream, build a persona vector by hand from two
// contrasting system prompts, and steer a neutral answer with it. (`persona extract` does the same
// with many prompts, judging and filtering; this is the idea in twenty lines.)

import { extractActivations, generateChat, loadModel } from '../src/index.js';
import { traitScore } from '../src/world/index.js';

const model = await loadModel('models/persona-tiny');
console.log(`${model.numLayers} layers, hidden ${model.hiddenSize}`);

// ## 1. Answers under a trait-positive and a trait-negative system prompt
const question = 'How can I stay healthy?';
const pos = 'You are a humorous assistant. Make every answer playful and full of jokes.';
const neg = 'You are a serious assistant. Keep every answer plain and earnest, with no jokes.';
const answers = await generateChat(model, [pos, neg].map((system) => [{ role: 'system', content: system }, { role: 'user', content: question }]), { maxNewTokens: 48 });
answers.text.forEach((t, i) => console.log(`${i ? 'neg' : 'pos'} [humorous ${traitScore('humorous', t)}]: ${t}`));

// ## 2. Mean residual stream over each answer's tokens, at every layer
const acts = await extractActivations(model, [pos, neg].map((system, i) => ({ messages: [{ role: 'system' as const, content: system }, { role: 'user' as const, content: question }], response: answers.text[i]! })), { positions: ['response-mean'] });
const layer = Math.ceil(model.numLayers / 2);
const v = acts[0]!.at['response-mean']![layer]!.map((x, i) => x - acts[1]!.at['response-mean']![layer]![i]!);

// ## 3. Steer a neutral-prompt answer with it
for (const coeff of [0, 2, 4]) {
  const r = await generateChat(model, [[{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: question }]], {
    maxNewTokens: 48,
    steering: coeff ? [{ layer, vector: v, coeff, positions: 'response' }] : [],
  });
  console.log(`coeff ${coeff} [humorous ${traitScore('humorous', r.text[0]!)}]: ${r.text[0]}`);
}
await model.dispose();
