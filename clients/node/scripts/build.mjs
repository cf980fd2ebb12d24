// Builds the two forms of the package from src/: ESM into dist/ and
// CommonJS into dist-cjs/, each with its .d.ts files. dist-cjs/ gets a
// package.json saying "commonjs", because the package itself is "module".
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

for (const dir of ['dist', 'dist-cjs']) rmSync(join(root, dir), { recursive: true, force: true });
for (const project of ['tsconfig.json', 'tsconfig.cjs.json']) {
  const run = spawnSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
writeFileSync(join(root, 'dist-cjs', 'package.json'), JSON.stringify({ type: 'commonjs' }, null, 2) + '\n');
