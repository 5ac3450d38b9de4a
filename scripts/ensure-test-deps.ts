// `npm test` runs this first (the `pretest` script) so that the README's test command works as
// written on a fresh Debian/Ubuntu machine: the report and dashboard tests render in a real headless
// Chromium, the notebook tests execute notebooks through Jupyter's nbconvert, and the cross-checks
// load our files with the real torch.load and compare our directions with scikit-learn's. What is
// missing is installed from Debian's packages (the only source besides npm this project may use).
// Set CHROMIUM_PATH to use a browser somewhere else.

import { execFileSync, spawnSync } from 'node:child_process';
import { findChromium } from '../test/helpers/browser.js';
import { hasPythonModule } from '../test/helpers/python.js';

/** What the tests need from outside npm: a check and the Debian packages that satisfy it. */
export const TEST_DEPS = [
  { name: 'Chromium', why: 'the report and dashboard tests need one', packages: ['chromium'], present: () => findChromium() !== null },
  {
    name: 'Jupyter (nbconvert)',
    why: 'the notebook tests execute notebooks/*.ipynb with it',
    packages: ['jupyter-nbconvert', 'python3-nbclient', 'python3-ipykernel'],
    present: () => hasPythonModule('nbconvert, nbclient, nbformat, jupyter_client'),
  },
  // On Debian 12 python3-torch is 157 packages over a system with the above, 131 MB to download.
  { name: 'PyTorch', why: 'the .pt tests load our files with the real torch.load', packages: ['python3-torch'], present: () => hasPythonModule('torch') },
  { name: 'scikit-learn', why: 'the extraction-method tests compare our directions with its PCA and LogisticRegression', packages: ['python3-sklearn'], present: () => hasPythonModule('sklearn') },
] as const;

/** The commands that install these Debian packages on this machine, or null when we do not know how. */
export function installCommands(packages: readonly string[], isRoot: boolean, hasApt: boolean): string[][] | null {
  if (!hasApt) return null;
  const sudo = isRoot ? [] : ['sudo', '-n'];
  return [
    [...sudo, 'apt-get', 'update', '-qq'],
    [...sudo, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...packages],
  ];
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

function main(dryRun: boolean): void {
  const missing = TEST_DEPS.filter((d) => !d.present());
  if (missing.length === 0) return;
  const packages = missing.flatMap((d) => d.packages);
  const cmds = installCommands(packages, process.getuid?.() === 0, hasCommand('apt-get'));
  const what = missing.map((d) => `${d.name} (${d.why})`).join('; ');
  if (!cmds) {
    console.error(`ensure-test-deps: missing ${what}, and no apt-get to install Debian's ${packages.join(' ')}; install them (CHROMIUM_PATH names a browser elsewhere)`);
    process.exit(1);
  }
  console.error(`ensure-test-deps: missing ${what}. Installing from Debian:\n  ${cmds.map((c) => c.join(' ')).join('\n  ')}`);
  if (dryRun) return;
  for (const c of cmds) execFileSync(c[0]!, c.slice(1), { stdio: 'inherit' });
  const still = missing.filter((d) => !d.present());
  if (still.length) {
    console.error(`ensure-test-deps: installed, but still missing: ${still.map((d) => d.name).join(', ')} (a browser outside /usr/bin: set CHROMIUM_PATH)`);
    process.exit(1);
  }
}

if (process.argv[1]?.endsWith('ensure-test-deps.ts')) main(process.argv.includes('--dry-run'));
