import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { renderSuite } from '../src/report/page.js';
import { runQueueScale } from '../src/suites/queue-scale.js';

// Keeps the suite runnable: a quick run (4 matrices of stories15M, 1 and 2 worker processes, a real
// redis-server) measures every figure. Timings are not asserted (they belong to the bench JSON); what must hold
// is that every job was done by the workers, its factors hash as the one-process run's, and the result renders.
// Needs Debian's redis-server: skipped where it is missing, except under CI (CI=true), which installs it.
const haveRedis = spawnSync('redis-server', ['--version']).status === 0;

describe.skipIf(!haveRedis && process.env.CI !== 'true')('queue-scale suite: a quick run', () => {
  it('runs the queued jobs on 1 and 2 workers, identical to one process, and renders', async () => {
    const r = await runQueueScale({ quick: true });
    expect(r).toMatchObject({ suite: 'queue-scale', quick: true, jobs: 4, identicalToOneProcess: true });
    expect(r.runs.map((x) => x.workers)).toEqual([1, 2]);
    for (const x of r.runs) {
      expect(x.seconds).toBeGreaterThan(0);
      expect(x.jobSecondsSum).toBeGreaterThan(0);
      // every job finished by one of this run's workers
      expect(Object.values(x.jobsByWorker).reduce((a, b) => a + b, 0)).toBe(4);
      for (const name of Object.keys(x.jobsByWorker)) expect(name).toMatch(new RegExp(`^w[1-${x.workers}]$`));
    }
    expect(r.overhead.perJobMs).toBeGreaterThan(0);
    const section = renderSuite(r);
    expect(section.markdown).toMatch(/\| one process \|/);
    expect(section.markdown).toContain('hashes the same as');
  }, 60_000);
});
