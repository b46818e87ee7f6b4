import { describe, expect, it } from 'vitest';
import { buildProgram, runDemo } from '../src/index.js';

describe('blastkit demo', () => {
  it('compresses to the budget with a small error and the BLAST path agrees', () => {
    const r = runDemo({ rows: 96, cols: 48, ratio: 0.5, seed: 3 });
    const [lowRank, asBlast] = r.methods;
    expect(lowRank.compressionRatio).toBeLessThanOrEqual(0.5);
    // a rank-16 fit of a BLAST matrix of total rank 32 leaves a real but bounded error (~0.16 here)
    expect(lowRank.relativeError).toBeGreaterThan(0.01);
    expect(lowRank.relativeError).toBeLessThan(0.5);
    expect(asBlast.relativeError).toBeCloseTo(lowRank.relativeError, 4);
  });
  it('prints one JSON object with --json', async () => {
    let out = '';
    await buildProgram({ out: (s) => (out += s) }).parseAsync([
      'node',
      'blastkit',
      'demo',
      '--rows',
      '32',
      '--cols',
      '16',
      '--json',
    ]);
    const parsed = JSON.parse(out);
    expect(parsed.shape).toEqual([32, 16]);
  });
  it('rejects a bad ratio with a clear error', async () => {
    const program = buildProgram({ out: () => {} });
    program.configureOutput({ writeErr: () => {} });
    await expect(program.parseAsync(['node', 'blastkit', 'demo', '--ratio', '2'])).rejects.toThrow(
      /ratio in \(0, 1\]/,
    );
  });
});
