import type { ConnectionOptions } from 'bullmq';

/** A queue URL that cannot be used: the message names the URL with its password hidden. */
export class QueueUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueUrlError';
  }
}

/** What `--queue` names, read once: how to connect, and how to show it without its secret. */
export interface QueueTarget {
  /** ioredis options for BullMQ (password included: never print this object). */
  connection: ConnectionOptions;
  /** The URL with its password replaced by `***`, safe for messages and logs. */
  display: string;
  /** Hides the password wherever it appears in `text` (error messages from the client or Redis). */
  redact(text: string): string;
}

const HIDDEN = '***';

/**
 * Reads `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS, the server name checked against the
 * host) into connection options. Commands wait across a Redis restart instead of failing (a restarted Redis
 * with persistence keeps the queue, so the run goes on).
 */
export function parseQueueUrl(url: string): QueueTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new QueueUrlError(
      `--queue: '${redactUrl(url)}' is not a URL (expected redis://[user:password@]host[:port][/db] or rediss://…)`,
    );
  }
  const display = redactUrl(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new QueueUrlError(
      `--queue: '${display}' has scheme '${u.protocol.slice(0, -1)}', expected redis or rediss (TLS)`,
    );
  if (u.hostname === '') throw new QueueUrlError(`--queue: '${display}' names no host`);
  const db = u.pathname === '' || u.pathname === '/' ? 0 : Number(u.pathname.slice(1));
  if (!(Number.isInteger(db) && db >= 0))
    throw new QueueUrlError(
      `--queue: '${display}' has database '${u.pathname.slice(1)}', expected a number ≥ 0`,
    );
  const port = u.port === '' ? 6379 : Number(u.port);
  const password = u.password === '' ? undefined : decodeURIComponent(u.password);
  const username = u.username === '' ? undefined : decodeURIComponent(u.username);
  // IPv6 hosts come bracketed from URL; ioredis wants them bare
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const connection: ConnectionOptions = {
    host,
    port,
    db,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(u.protocol === 'rediss:' ? { tls: { servername: host } } : {}),
    // BullMQ workers need this; the coordinator too, so its polls wait out a Redis restart
    maxRetriesPerRequest: null,
  };
  const secrets = [u.password, password].filter((s): s is string => !!s);
  return {
    connection,
    display,
    redact: (text) => secrets.reduce((t, s) => t.split(s).join(HIDDEN), text),
  };
}

/** The URL with any password replaced by `***` (also for strings that do not parse). */
export function redactUrl(url: string): string {
  // by hand, not with URL: a malformed URL must be hidden too (an unencoded @ or / in the password: up to the
  // last @), and URL would re-encode the rest
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):.*@/i, `$1:${HIDDEN}@`);
}
