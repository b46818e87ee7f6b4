import type { QueueTarget } from './url.js';

/** A BullMQ Queue or Worker, as far as connecting goes. */
interface Client {
  waitUntilReady(): Promise<unknown>;
  on(event: 'error', listener: (err: Error) => void): unknown;
  close(): Promise<void>;
}

/** The queue could not be reached when the run or worker started. */
export class QueueConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueConnectionError';
  }
}

/**
 * Resolves once `client` is connected; after `timeoutMs` without it, closes the client and throws with the
 * last error seen (password hidden). Commands wait for Redis indefinitely once a run is going (a restarted
 * Redis is waited for), so a wrong address or password must be told here, at the start, not as a silent hang.
 */
export async function connectOrFail(
  client: Client,
  target: QueueTarget,
  timeoutMs: number,
  onError: (message: string) => void = () => {},
): Promise<void> {
  let last = 'no answer';
  client.on('error', (err) => {
    last = target.redact(err.message);
    onError(last);
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const outcome = await Promise.race([client.waitUntilReady().then(() => 'ready' as const), timeout]);
    if (outcome === 'ready') return;
  } finally {
    clearTimeout(timer);
  }
  // close() waits for a connection that never comes: give it a moment, then go
  await Promise.race([client.close().catch(() => {}), new Promise((r) => setTimeout(r, 1000))]);
  throw new QueueConnectionError(
    `--queue: cannot reach Redis at ${target.display} within ${timeoutMs / 1000} s (${last})`,
  );
}
