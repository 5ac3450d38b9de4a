// Vector files of other tools, to and from our persona-vector sets. One module per format; this
// picks one by name or file extension.

export { VectorFormatError, type ExportOptions, type ModelShape } from './common.js';
export { exportPersonaVectorsPt, importPersonaVectorsPt, personaVectorsPtName, readPersonaVectorsPt } from './personaVectorsPt.js';
export { exportControlVectorGguf, importControlVectorGguf, GGUF_LAYER_OFFSET } from './controlVectorGguf.js';
export { exportSvec, importSvec, SVEC_LAYER_OFFSET } from './steeringVectorSvec.js';

export const VECTOR_FORMATS = ['pt', 'gguf', 'svec'] as const;
export type VectorFormat = (typeof VECTOR_FORMATS)[number];

/** The format of a file from its name (.pt, .gguf, .svec); a directory of .pt files is 'pt'. */
export function formatOf(path: string, given?: string): VectorFormat {
  if (given) {
    if (!VECTOR_FORMATS.includes(given as VectorFormat)) throw new Error(`--format: unknown format '${given}' (choose from ${VECTOR_FORMATS.join(', ')})`);
    return given as VectorFormat;
  }
  const m = /\.(pt|gguf|svec)$/i.exec(path);
  if (!m) throw new Error(`${path}: cannot tell the format from the name (.pt, .gguf, .svec); pass --format`);
  return m[1]!.toLowerCase() as VectorFormat;
}
