// Public API of persona-steer. The pipeline, in order: model -> generation -> activations ->
// directions -> interventions -> monitoring -> logs / reports.

// model: config, tokenizer, the steerable session
export { loadModel, findOnnxFile, type LoadOptions } from './model/load.js';
export { loadModelConfig, parseModelConfig, type ModelConfig } from './model/config.js';
export { loadTokenizer, Tokenizer, type ChatMessage, type ChatTemplateOptions } from './model/tokenizer.js';
export { openSession, type ModelSession, type FloatType, type SessionOptions } from './model/session.js';
export { batchInputs, type BatchInputs } from './model/inputs.js';
export {
  SteerableModel,
  type ForwardInput,
  type ForwardResult,
  type KVCache,
  type LayerTensor,
  type SteerTensors,
  type AblateTensors,
  type SteerInput,
  type TokenPositions,
} from './model/steerableModel.js';

// generation
export { generate, generateChat, type GenerateOptions, type GenerateResult, type StepTiming } from './generation/generate.js';
export { createRng, sampleToken, nucleus, topIndices, argmax, type SamplingOptions, type Rng } from './generation/sampling.js';

// activations
export {
  extractActivations,
  tokenizeExamples,
  type ExtractExample,
  type ExtractOptions,
  type ExampleActivations,
} from './activations/extract.js';
export { positionKey, positionRange, tokenizeExample, type PositionSpec, type TokenizedExample } from './activations/positions.js';

// interventions
export {
  steeringPlan,
  ablationTensors,
  validateSteering,
  type Steering,
  type SteeringVector,
  type SteerPositions,
  type Ablation,
} from './interventions/steering.js';
