// A queue-scale worker process: `@blastkit/queue`'s worker with its default processor (llama2.c checkpoints and
// safetensors, backends by name), one job at a time, until SIGTERM. Prints {"type":"ready"} once connected.
// node queue-scale-worker.js QUEUE_URL NAME
import { startWorker } from '@blastkit/queue';

const [url, name] = process.argv.slice(2);
if (!url || !name) {
  process.stderr.write('usage: queue-scale-worker.js QUEUE_URL NAME\n');
  process.exit(2);
}
const worker = await startWorker({ url, name });
process.stdout.write(`${JSON.stringify({ type: 'ready', worker: name })}\n`);
process.on('SIGTERM', async () => {
  await worker.close();
  process.exit(0);
});
