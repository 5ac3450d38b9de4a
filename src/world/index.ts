// The persona world: a seeded generator of chats whose assistant traits and user demographics are
// known, the vocabulary behind it, and a lexicon judge for its answers.

export { createRng, childSeed, type Rng } from './rng.js';
export {
  TRAITS, TRAIT_SPECS, NEUTRAL_SYSTEM_PROMPT, systemPrompt, heldOutSystemPrompt, article, isTrait,
  type Trait, type TraitSpec, type Polarity, type InstructionPair,
} from './traits.js';
export { TRAIT_MARKERS, ANTONYM_PHRASES, type MarkerSet } from './markers.js';
export {
  ATTRIBUTES, ATTRIBUTE_CLASSES, ATTRIBUTE_NAMES, NEUTRAL_CLASS, CUES, DIRECT_QUESTIONS, cuesFor, neutralLabels, directAnswer, isAttribute,
  type Attribute, type AttributeClass, type Labels, type Cue, type CueKind,
} from './demographics.js';
export { TOPICS, allQuestions, topicOfQuestion, type Topic } from './topics.js';
export { topicAnswer, directQuestionAnswer, FOLLOW_UP_QUESTIONS } from './answers.js';
export { styleAnswer, markerCount, MIN_INTENSITY, MAX_INTENSITY } from './style.js';
export {
  generateConversation,
  type Conversation, type ConversationOptions, type Message, type Role, type Persona, type CueUse, type CueCondition, type TurnInfo, type TurnKind,
} from './conversation.js';
export { generateCorpus, corpusChats, corpusLine, toJsonl, directQuestionCase, type DirectQuestionCase } from './corpus.js';
export { worldVocabulary, worldBigrams, words } from './vocabulary.js';
export { traitScore, traitScores, traitMarkerCount, coherenceScore, demographicAnswerClass, tailoredClass, sentences } from './lexiconJudge.js';
export { buildTraitFile, EXTRACTION_QUESTION_COUNT, EVAL_QUESTION_COUNT, type TraitFileData } from './traitFiles.js';
export {
  generateProbeDataset, generateDirectQuestionDataset, directQuestionConversation,
  type ProbeCondition, type ProbeDatasetOptions, type DirectQuestionOptions,
} from './probeData.js';
export {
  USER_PERSONAS, NEUTRAL_INTRODUCTIONS, BORDERLINE_REQUESTS, HARMFUL_REQUESTS, BORDERLINE_REFUSALS, HARMFUL_REFUSAL, REFUSAL_SEED_OFFSET,
  isRefusal, disclosesContent, userPersona, answersFor, generateRefusalConversation, refusalPrompt, personaContrastPairs, refusalBenchmark,
  type UserPersona, type BorderlineRequest, type RefusalKind, type RefusalTurn, type RefusalConversation, type PersonaCondition,
} from './refusal.js';
