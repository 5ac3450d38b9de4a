// Which class an answer names (Reading Between the Prompts scores answers by keywords): the class
// whose name (or one of its keywords) occurs in the answer, longest matches first so "older adult"
// is not also read as "adult" and "high school" not as "high". An answer naming none, or two
// different classes, names no class (null).

export type ClassKeywords = Record<string, string[]>;

export function answerClass(answer: string, classes: string[], keywords: ClassKeywords = {}): string | null {
  const terms = classes
    .flatMap((cls) => [cls, ...(keywords[cls] ?? [])].map((term) => ({ cls, term: term.toLowerCase() })))
    .sort((a, b) => b.term.length - a.term.length);
  let text = ` ${answer.toLowerCase().replace(/[^a-z0-9-]+/g, ' ')} `;
  const found = new Set<string>();
  for (const { cls, term } of terms) {
    const needle = ` ${term.replace(/[^a-z0-9-]+/g, ' ').trim()} `;
    if (!text.includes(needle)) continue;
    found.add(cls);
    // Blank the match so a shorter term inside it cannot match again.
    text = text.split(needle).join(' # ');
  }
  return found.size === 1 ? [...found][0]! : null;
}

/** Reads the class an answer gives for an attribute; null when it gives none or several. */
export type AnswerClassifier = (attribute: string, answer: string, classes: string[]) => string | null;

/** answerClass with optional extra keywords per attribute and class. */
export function keywordClassifier(keywords: Record<string, ClassKeywords> = {}): AnswerClassifier {
  return (attribute, answer, classes) => answerClass(answer, classes, keywords[attribute]);
}
