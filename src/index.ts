// Public API of persona-steer. The pipeline, in order: data -> model -> generation -> activations ->
// directions -> interventions -> experiments -> judges -> logs / reports. The CLI (src/cli) uses exactly these.

// model: config, tokenizer, the steerable session
export { loadModel, findOnnxFile, type LoadOptions } from './model/load.js';
export { resolveModelFolder, type FolderLayout, type ModelFolder } from './model/layout.js';
export { loadModelConfig, parseModelConfig, type ModelConfig } from './model/config.js';
export { loadTokenizer, plainTranscript, Tokenizer, type ChatMessage, type ChatTemplateOptions } from './model/tokenizer.js';
export { executionProviders, installedProviders, openSession, type ModelSession, type FloatType, type SessionOptions } from './model/session.js';
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
export { generate, generateChat, generateText, type GenerateOptions, type GenerateResult, type StepTiming } from './generation/generate.js';
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

// activations: reading the model's picture of the user, activation stores on disk
export { DEFAULT_READING_SUFFIX, READING_NAMES, readingSuffix, readingIds, readLastTokens, readIntoStore, type ReadOptions } from './activations/reading.js';
export { ActivationStore, type StoreHeader } from './activations/store.js';

// data: labelled conversations (JSONL) and importers
export {
  readLabelledJsonl, iterateLabelledJsonl, labelledLine, validateLabelled, classesOf, conversationForReading, LabelledDataError,
  LABEL_CUES, NEUTRAL_LABEL, type LabelledConversation, type LabelCue,
} from './data/labelledConversations.js';
export { importTalkTuner, importCsv, type TalkTunerOptions, type CsvImportOptions } from './data/importers.js';
export { readCsv, iterateCsv, csvLine, CsvError, type CsvRow } from './io/csv.js';

// directions: probes
export { fitLogisticRegression, predictProba, predictClasses, type LogRegModel, type LogRegOptions } from './directions/probes/logisticRegression.js';
export { crossValidate, stratifiedFolds, type CrossValidationResult } from './directions/probes/crossValidation.js';
export { trainLayerProbes, type LayerProbe, type ProbeTrainOptions } from './directions/probes/trainProbes.js';
export {
  saveProbe, loadProbe, checkProbeFits, classIndex, classDirection, centroidDirection, PROBE_FORMAT, PROBE_PAIRING, type ProbeSet, type ProbeSidecar,
} from './directions/probes/probeFile.js';

// interventions
export { probeInterventionPlan, type ProbeIntervention, type ProbeMode, type InterventionPlan } from './interventions/probeIntervention.js';
export {
  steeringPlan,
  orthonormalBasis,
  ablationTensors,
  validateSteering,
  type Steering,
  type SteeringVector,
  type SteerPositions,
  type Ablation,
} from './model/steering.js';

// directions: trait files, persona vectors
export { loadTraitFile, parseTraitFile, traitSystemPrompt, personaVectorsSystemPrompt, TraitFileError, type TraitFile, type TraitInstruction } from './directions/traitFile.js';
export { draftTraitFile, writeTraitFile, type TraitFileJson } from './directions/traitDraft.js';
export {
  extractPersonaVectors,
  extractionJobs,
  keptPairs,
  pairedVectors,
  vectorSet,
  DEFAULT_EXTRACT_CONFIG,
  type ExtractConfig,
  type PairedExample,
  type ExtractResult,
  type GenerationRecord,
} from './directions/personaExtract.js';
export {
  loadPersonaVectors,
  savePersonaVectors,
  vectorFor,
  LAYER_CONVENTION,
  VECTOR_KINDS,
  type PersonaVectorSet,
  type VectorKind,
  type VectorSidecar,
} from './directions/vectorFile.js';
export { MeanAccumulator, projection, cosine, dot, norm } from './directions/meanAccumulator.js';
export { directionFromPairs, EXTRACTION_METHODS, type ExtractionMethod } from './directions/extractionMethods.js';
export { readGenerationsCsv, writeGenerationsCsv, DEFAULT_CSV_FILTER, type CsvPairFilter } from './directions/generationsCsv.js';
export * from './directions/formats/index.js';
export { generateRemote, parseGeneratorSpec, type RemoteGenerator, type RemoteRequest } from './generation/remote.js';

// interventions: evaluation and sweeps
export { evaluateSteering, type SteerEvalConfig, type SteerRecord, type SteerEvalResult } from './interventions/steerEval.js';
export { sweepSteering, pickBest, monotoneByLayer, type SweepConfig, type SweepCell, type SweepResult } from './interventions/sweep.js';

// experiments: probe studies
export { runProbeTraining, DEFAULT_PROBE_TRAINING, dataHash, type ProbeTrainingConfig, type AttributeProbes, type LayerAccuracy } from './experiments/probes/probeTraining.js';
export { readConversationTurns, readWithProbes, classProbabilities, probeLayer, userTurnPrefixes, type TurnReading } from './experiments/probes/probeReading.js';
export { runProbeSteering, targetClasses, type ProbeSteerConfig, type SteerCases, type SteerCell, type SteerRecord as ProbeSteerRecord, type TailoringScorer } from './experiments/probes/probeSteering.js';
export { runStereotypeStudy, stereotypeCases, type StereotypeCase, type StereotypeSummary } from './experiments/probes/stereotypeStudy.js';
export { answerClass, keywordClassifier, type AnswerClassifier } from './experiments/probes/answerClass.js';

// judges
export { pairwisePreference, PAIRWISE_PROMPT, type PairwiseInput } from './judges/pairwiseJudge.js';
export { makeJudge, LexiconJudge, OnnxJudge, OpenAIJudge, scoreFromTopLogprobs, type Judge, type JudgeInput, type TraitRubric } from './judges/index.js';

// logs and reports
export { RunDir, readRecords, readManifest, type RunManifest } from './logs/runDir.js';
export { writeReport, renderReport, heatmap, lines, bars, type Report, type Figure, type Section } from './reports/html.js';
export { svgLineChart, type SvgSeries } from './reports/svg.js';
export { probeTrainingReport, probeSteeringReport, probeReadingReport, stereotypeReport } from './reports/probeReports.js';
export { readSafetensors, writeSafetensors } from './io/safetensors.js';
export { writeFileAtomic, writeJsonAtomic } from './io/atomic.js';

// monitoring: projections, conversation drift, dataset screening, finetuning shift (issue 8)
export {
  projectExamples, specsFromVectorFiles, projectionName, parseProjectionPosition, validateSpecs,
  type ProjectionSpec, type ProjectionPosition, type ProjectionValue,
} from './monitoring/projections.js';
export { projectDataset, projectionColumns, type ProjectDatasetOptions } from './monitoring/projectDataset.js';
export { iterateDataset, scanDataset, readConversations, DatasetError, type DatasetRow } from './monitoring/dataset.js';
export { monitorConversation, generateMonitored, streamMonitored, type MonitorSpec, type MonitorEvent, type TurnProjection } from './monitoring/conversationMonitor.js';
export { monitorReport, tokenHeatmap } from './monitoring/monitorReport.js';
export { screenDataset, type ScreenOptions, type ScreenSummary } from './monitoring/screening.js';
export { finetuningShift, type LayerShift } from './monitoring/shift.js';
export { checkVectorModel } from './directions/vectorFile.js';
export { monitoringStudy, type MonitoringStudyResult, type MonitoringSample } from './experiments/monitoringStudy.js';
export { finetuneStudy, type FinetuneStudyResult, type VariantMeasure } from './experiments/finetuneStudy.js';
export { pearson, correlation, type Correlation } from './experiments/stats.js';

// instrumentation (what `persona prepare` / `persona inspect` use)
export { prepareModel, describeModel, formatInspection, InstrumentError, type Manifest, type PreparedModel } from './model/instrument/index.js';

// user personas, refusal and early decoding ("Who's asking?")
export { LensHead } from './model/lensHead.js';
export { buildLensHead } from './model/instrument/lensHead.js';
export { lensPrompt, lensChat, lensGeneration, targetTokenIds, type LensReading, type LensOptions, type LensToken, type LensTarget } from './activations/lens.js';
export { meanDifference, refusalDirection, personaSteeringVector } from './directions/contrast.js';
export { runRefusalStudy, type RefusalBenchmark, type RefusalStudyConfig, type RefusalStudyResult, type AnswerRecord } from './experiments/refusalStudy.js';
export { refusalReport, bestSteering } from './experiments/refusalReport.js';
export { lensReport, lensSections } from './reports/lensReport.js';

// server: `persona serve` from a script (OpenAI-compatible API, dashboard, batching of requests)
export { startServer, closeOnSignals, DEFAULT_LIMITS, type ServeOptions, type RunningServer } from './server/server.js';
export { Directions, RequestError, type Settings, type SteerSetting, type ProbeSetting, type TraitDirection, type ProbeControl } from './server/controls.js';
export { builtinDirections, BUILTIN_TRAITS, BUILTIN_ATTRIBUTES } from './server/builtin.js';
export { traitsFromFiles, probesFromFiles } from './server/directionFiles.js';
export { Batcher, type GenerationJob, type BatcherOptions } from './server/batcher.js';
export { rowwiseSteering } from './model/rowSteering.js';
