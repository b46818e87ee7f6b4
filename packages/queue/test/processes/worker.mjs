// `blastkit worker` on the library: takes matrix jobs until SIGTERM, one JSON line per event on stdout. Short
// locks so that a killed worker's job goes to another within seconds in the tests.
// node worker.mjs QUEUE_URL NAME [CONCURRENCY]
import { startWorker } from '../../dist/index.js';

const [url, name, concurrency] = process.argv.slice(2);
const worker = await startWorker({
  url,
  name,
  concurrency: Number(concurrency ?? 1),
  lockDuration: 2000,
  stalledInterval: 1000,
  onEvent: (e) => process.stdout.write(`${JSON.stringify({ worker: name, ...e })}\n`),
});
process.stdout.write(`${JSON.stringify({ worker: name, type: 'ready' })}\n`);
process.on('SIGTERM', async () => {
  await worker.close();
  process.exit(0);
});
