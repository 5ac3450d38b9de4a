import { existsSync } from 'node:fs';

/** The first Chromium of CHROMIUM_PATH and the usual install places (PERSONA_CHROMIUM_CANDIDATES replaces the latter). */
export function findChromium(): string | null {
  const usual = process.env.PERSONA_CHROMIUM_CANDIDATES?.split(':') ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  for (const p of [process.env.CHROMIUM_PATH, ...usual]) {
    if (p && existsSync(p)) return p;
  }
  return null;
}
