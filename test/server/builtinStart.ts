// One process's built-in start, as `persona serve` makes it before it listens, for builtin.test.ts
// to run two at once: it loads the model, says "ready", waits for a line on stdin, then computes
// (or reuses) the built-in 'evil' vector in the cache folder it is given and prints it as JSON.

import { createInterface } from 'node:readline';
import { loadModel } from '../../src/model/load.js';
import { builtinDirections } from '../../src/server/builtin.js';

const [modelDir, cacheDir] = process.argv.slice(2);
const model = await loadModel(modelDir!);
console.log('ready');
await new Promise((go) => createInterface({ input: process.stdin }).once('line', go));
const { traits } = await builtinDirections(model, { cacheDir, traits: ['evil'], attributes: [], layer: 3, questions: 1, extract: { maxNewTokens: 12 }, onProgress: (l) => console.error(l) });
console.log(JSON.stringify(Array.from(traits[0]!.vector)));
await model.dispose();
process.exit(0);
