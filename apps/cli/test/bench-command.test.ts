import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import { cliBin as bin, runCli as run } from './cli-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'blastkit-bench-cmd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('blastkit bench', () => {
  it('--list names the suites of @blastkit/bench, kernels among them', async () => {
    const { out } = await run(['bench', '--list', '--json']);
    const list = JSON.parse(out) as { name: string; description: string }[];
    expect(list.map((s) => s.name)).toEqual(expect.arrayContaining(['kernels', 'core-cpu', 'factorize-cpu']));
    const text = (await run(['bench', '--list'])).out;
    expect(text).toMatch(/^kernels +dense vs BLAST/m);
  });

  it('runs a suite: one JSON object with --json, the same result written atomically under --out', async () => {
    const { out, err } = await run([
      'bench',
      'kernels',
      '--quick',
      '--backends',
      'cpu',
      '--json',
      '--out',
      dir,
    ]);
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(1);
    const result = JSON.parse(lines[0]);
    expect(result.suite).toBe('kernels');
    expect(result.quick).toBe(true);
    expect(result.backends.map((b: { name: string }) => b.name)).toEqual(['cpu']);
    expect(result.results).toHaveLength(2);
    expect(err).toMatch(/running kernels \(quick\)/);
    const saved = JSON.parse(readFileSync(join(dir, 'kernels.json'), 'utf8'));
    expect(saved.suite).toBe('kernels');
    expect(saved.shapes).toEqual(result.shapes);
  }, 120_000);

  it('prints tables for people without --json', async () => {
    const { out, err } = await run(['bench', 'convergence-cpu', '--quick', '--quiet']);
    expect(out).toMatch(/^Convergence: PrecGD vs GD/);
    expect(out).toMatch(/\| method \| rank \| final error \| seconds \|/);
    expect(err).toBe('');
  }, 60_000);

  it('rejects an unknown suite before running anything, naming the known ones', async () => {
    await expect(run(['bench', 'kernel'])).rejects.toThrow(UsageError);
    await expect(run(['bench', 'kernel'])).rejects.toThrow(/unknown suite 'kernel'; available: .*kernels/);
  });

  it('reports an unknown backend as a usage error', async () => {
    await expect(run(['bench', 'kernels', '--quick', '--backends', 'cpu,cuda9'])).rejects.toThrow(UsageError);
    await expect(run(['bench', 'kernels', '--quick', '--backends', 'cuda9'])).rejects.toThrow(
      /unknown backend 'cuda9'/,
    );
  });

  it('exits 2 for an unknown suite, 0 for --help (the installed command)', () => {
    const bad = spawnSync(process.execPath, [bin, 'bench', 'nope'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown suite 'nope'/);
    const help = execFileSync(process.execPath, [bin, 'bench', '--help'], { encoding: 'utf8' });
    expect(help).toMatch(/Usage: blastkit bench \[options\] \[suite\]/);
    expect(help).toContain('--quick');
  });
});
