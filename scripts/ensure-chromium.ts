// `npm test` runs this first (the `pretest` script): the report tests render HTML in a real headless
// Chromium, so a fresh Debian/Ubuntu machine gets Debian's `chromium` package installed here
// instead of failing those tests. Set CHROMIUM_PATH to use a browser somewhere else.

import { execFileSync } from 'node:child_process';
import { findChromium } from '../test/helpers/browser.js';

/** The commands that install Chromium on this machine, or null when we do not know how. */
export function installCommands(isRoot: boolean, hasApt: boolean): string[][] | null {
  if (!hasApt) return null;
  const sudo = isRoot ? [] : ['sudo', '-n'];
  return [
    [...sudo, 'apt-get', 'update', '-qq'],
    [...sudo, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', 'chromium'],
  ];
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function main(dryRun: boolean): void {
  const found = findChromium();
  if (found) return;
  const cmds = installCommands(process.getuid?.() === 0, hasCommand('apt-get'));
  if (!cmds) {
    console.error('ensure-chromium: no Chromium found and no apt-get to install it; install Chromium and set CHROMIUM_PATH');
    process.exit(1);
  }
  console.error(`ensure-chromium: no Chromium found; the report tests need one. Installing Debian's chromium:\n  ${cmds.map((c) => c.join(' ')).join('\n  ')}`);
  if (dryRun) return;
  for (const c of cmds) execFileSync(c[0]!, c.slice(1), { stdio: 'inherit' });
  if (!findChromium()) {
    console.error('ensure-chromium: chromium was installed but is not at /usr/bin/chromium; set CHROMIUM_PATH');
    process.exit(1);
  }
}

if (process.argv[1]?.endsWith('ensure-chromium.ts')) main(process.argv.includes('--dry-run'));
