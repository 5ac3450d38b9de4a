// Instrumentation: find a decoder's residual stream and add steer/ablate inputs and hidden_states
// outputs to its ONNX graph (see residual.ts for the method, edit.ts for the byte-level edit).

export { InstrumentError } from './errors.js';
export { GraphIndex, type OuterScope, type Producer, type Consumer } from './graphIndex.js';
export {
  findResidualStream,
  layerIndexInName,
  type BranchPlan,
  type FindOptions,
  type NameCheck,
  type ResidualDtype,
  type ResidualPlan,
  type ResidualPoint,
  type ResidualStyle,
  type SteerVia,
} from './residual.js';
export { applyPlan, instrumentBytes, steerName, ablateName, hiddenName, type EditOptions, type EditResult, type PortSpec } from './edit.js';
export {
  prepareModel,
  planModel,
  readModelDims,
  resolveOnnxFile,
  outputPaths,
  loadModel,
  MANIFEST_FORMAT,
  type Manifest,
  type ModelDims,
  type PreparedModel,
  type PrepareOptions,
  type PrepareProgress,
  type SourceFingerprint,
} from './prepare.js';
export { describeModel, formatInspection, type InspectedPoint, type ModelInspection } from './inspect.js';
