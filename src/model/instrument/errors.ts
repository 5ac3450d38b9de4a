// One error type for everything instrumentation refuses to do, so callers (CLI, scripts) can tell
// "this model is not supported / malformed" apart from bugs. Messages name the file and what is missing.

export class InstrumentError extends Error {
  override name = 'InstrumentError';
}
