import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { publicPackages } from '../src/packages.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

describe('pending changesets', () => {
  it('every changeset has front matter naming public workspace packages and a bump', () => {
    const names = new Set(publicPackages(root).map((p) => p.name));
    names.add('@blastkit/bench'); // private, but changesets may still version it
    const files = readdirSync(join(root, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md');
    for (const file of files) {
      const text = readFileSync(join(root, '.changeset', file), 'utf8');
      // exactly the form @changesets/parse accepts: '---', one "name": bump per line, '---'
      const m = /^---\n((?:"[^"]+": (?:major|minor|patch)\n)+)---\n\n\S/.exec(text);
      expect(m, `${file}: front matter`).not.toBeNull();
      for (const line of (m as RegExpExecArray)[1].trim().split('\n')) {
        const name = /^"([^"]+)"/.exec(line)?.[1] as string;
        expect(names.has(name), `${file}: unknown package ${name}`).toBe(true);
      }
    }
  });

  it('changesets itself reads them (the release tool, not just our regex)', () => {
    const out = execFileSync(process.execPath, [changesetBin(), 'status'], { cwd: root, encoding: 'utf8' });
    expect(out).not.toMatch(/error/i);
  });
});

function changesetBin(): string {
  return join(root, 'node_modules', '@changesets', 'cli', 'bin.js');
}
