import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface WorkspacePackage {
  name: string;
  dir: string;
  manifest: Record<string, unknown> & { name: string; private?: boolean };
}

/** The publishable (non-private) packages under packages/ and apps/. */
export function publicPackages(root: string): WorkspacePackage[] {
  const out: WorkspacePackage[] = [];
  for (const group of ['packages', 'apps']) {
    for (const entry of readdirSync(join(root, group), { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const dir = join(root, group, entry.name);
      let manifest: WorkspacePackage['manifest'];
      try {
        manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      } catch {
        continue;
      }
      if (!manifest.private) out.push({ name: manifest.name, dir, manifest });
    }
  }
  return out;
}

/** The code blocks of a README fenced as ```js example — the examples the release test runs. */
export function readmeExamples(readme: string): string[] {
  const blocks: string[] = [];
  const fence = /```js example\n([\s\S]*?)```/g;
  for (let m = fence.exec(readme); m; m = fence.exec(readme)) blocks.push(m[1]);
  return blocks;
}
