/**
 * The queue-scale suite as data: what it measures, how it runs (./queue-scale.ts, imported only when it runs) and
 * how its result reads in the report.
 */
import { escapeHtml, formatNumber } from '../report/format.js';
import { table } from '../report/table.js';
import type { runQueueScale } from './queue-scale.js';
import { defineSuite, type Section } from './suite.js';

/** What a queue-scale run records (the type its renderer reads). */
export type QueueScaleResult = Awaited<ReturnType<typeof runQueueScale>>;

function renderQueueScale(r: QueueScaleResult): Section {
  const t = table(
    ['workers', 'end to end s', 'jobs/s', 'vs one process', 'job s summed', 'assemble s'],
    [
      ['one process', r.localSeconds, r.jobs / r.localSeconds, '1×', '–', '–'],
      ...r.runs.map((x) => [
        String(x.workers),
        x.seconds,
        x.jobsPerSecond,
        `${formatNumber(x.speedupOverOneProcess)}×`,
        x.jobSecondsSum,
        x.assembleSeconds,
      ]),
    ],
  );
  const head =
    `${r.model}: ${r.jobs} matrix jobs (${r.method} at ${r.ratio * 100}%, ${r.backend} backend) on a BullMQ queue ` +
    `(redis-server on loopback), each worker a process running one job at a time, against one process doing ` +
    `the same matrices; ${r.cpus} cores, load average ${r.loadAverage.before[0]} before and ` +
    `${r.loadAverage.after[0]} after. Every queued matrix ${r.identicalToOneProcess ? 'hashes the same as' : 'DIFFERS from'} ` +
    `the one-process run's.`;
  const cold =
    r.localFirstPassSeconds === undefined
      ? ''
      : ` (its first, cold pass: ${formatNumber(r.localFirstPassSeconds)} s — each worker's child process starts cold)`;
  const note =
    `One process: best of two passes${cold}. The queue's own cost, from jobs that compute in ${formatNumber(r.overhead.computeMsPerJob)} ms ` +
    `(${r.overhead.method}): ${formatNumber(r.overhead.perJobMs)} ms per job end to end with one worker ` +
    '(enqueue, pick-up, the child process, the store, the content hash, the coordinator’s polls). ' +
    `With more workers than free cores (${r.cpus} here, shared with other work at that load) each job takes ` +
    'longer — the job seconds summed grow — instead of the run finishing sooner: the cores are the ceiling.';
  return {
    title: 'Compressing on a queue: workers vs one process',
    html: `<p>${escapeHtml(head)}</p>${t.html}<p class="note">${escapeHtml(note)}</p>`,
    markdown: [head, t.markdown, note].join('\n\n'),
  };
}

export const QUEUE_SCALE_SUITE = defineSuite<QueueScaleResult>({
  name: 'queue-scale',
  description:
    'compress on a Redis-backed queue: jobs/s and end-to-end time with 1, 2, 4 worker processes vs one process, per-job overhead; stories15M (needs redis-server; ~2 min)',
  run: async ({ quick, log }) => await (await import('./queue-scale.js')).runQueueScale({ quick, log }),
  render: renderQueueScale,
});
