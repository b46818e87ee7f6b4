import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Every workspace package's name and scripts. */
function workspacePackages(): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const group of ['packages', 'apps', 'tools'])
    for (const entry of readdirSync(join(root, group), { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      try {
        const manifest = JSON.parse(readFileSync(join(root, group, entry.name, 'package.json'), 'utf8'));
        out.set(manifest.name, manifest.scripts ?? {});
      } catch {
        // not a package
      }
    }
  return out;
}

describe('root scripts (the README’s commands)', () => {
  it('every `pnpm --filter X run Y` names a workspace package that has script Y', () => {
    const scripts: Record<string, string> = JSON.parse(
      readFileSync(join(root, 'package.json'), 'utf8'),
    ).scripts;
    const packages = workspacePackages();
    let checked = 0;
    for (const [name, command] of Object.entries(scripts))
      for (const m of command.matchAll(/pnpm --filter (\S+) run (\S+)/g)) {
        expect(packages.has(m[1]), `script '${name}': no workspace package '${m[1]}'`).toBe(true);
        expect(packages.get(m[1])?.[m[2]], `script '${name}': ${m[1]} has no script '${m[2]}'`).toBeDefined();
        checked++;
      }
    expect(checked).toBeGreaterThanOrEqual(2); // start and bench
  });
});
