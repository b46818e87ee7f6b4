// The README's `js example` blocks, run against this package's build the way the release check runs them
// against the installed package: each prints `true` for every property it checks, never `false`.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const examples = [
  ...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/```js example\n([\s\S]*?)```/g),
].map((m) => m[1]);

describe('README examples', () => {
  it('has one', () => expect(examples.length).toBeGreaterThan(0));
  examples.forEach((example, i) => {
    it(`example ${i + 1} prints only true`, async () => {
      // beside the package, so its other imports resolve as they would for a user
      const dir = await mkdtemp(join(root, '.readme-'));
      try {
        const file = join(dir, 'example.mjs');
        const dist = pathToFileURL(join(root, 'dist', 'index.js')).href;
        await writeFile(file, example.replaceAll("'@blastkit/queue'", `'${dist}'`));
        const out = execFileSync(process.execPath, [file], { encoding: 'utf8' });
        expect(out).not.toMatch(/\bfalse\b/);
        expect(out).toMatch(/\btrue\b/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
