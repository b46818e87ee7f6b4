import { describe, expect, it } from 'vitest';
import { parseQueueUrl, QueueUrlError, redactUrl } from '../src/url.js';

describe('parseQueueUrl', () => {
  it('reads host, port, database, user and password; rediss turns TLS on', () => {
    const plain = parseQueueUrl('redis://10.0.0.5:6380/2');
    expect(plain.connection).toMatchObject({ host: '10.0.0.5', port: 6380, db: 2 });
    expect(plain.connection).not.toHaveProperty('tls');
    const tls = parseQueueUrl('rediss://worker:s%40cret@queue.example:6390');
    expect(tls.connection).toMatchObject({
      host: 'queue.example',
      port: 6390,
      db: 0,
      username: 'worker',
      password: 's@cret',
      tls: { servername: 'queue.example' },
    });
    expect(parseQueueUrl('redis://[::1]').connection).toMatchObject({ host: '::1', port: 6379 });
  });

  it('never shows the password: display, redaction of client messages, errors', () => {
    const t = parseQueueUrl('rediss://:hunter2%2Fx@h:1/0');
    expect(t.display).toBe('rediss://:***@h:1/0');
    expect(t.redact('WRONGPASS hunter2%2Fx / hunter2/x rejected')).toBe('WRONGPASS *** / *** rejected');
    for (const bad of ['http://:hunter2@h', 'redis://:hunter2@h/x', 'redis://:hunter2@:6379']) {
      const err = (() => {
        try {
          parseQueueUrl(bad);
        } catch (e) {
          return e as Error;
        }
      })();
      expect(err, bad).toBeInstanceOf(QueueUrlError);
      expect(err?.message).toContain('***');
      expect(err?.message).not.toContain('hunter2');
    }
  });

  it('names what it expected', () => {
    expect(() => parseQueueUrl('localhost:6379')).toThrow(/expected redis or rediss/);
    expect(() => parseQueueUrl('redis://h/-1')).toThrow(/database '-1', expected a number ≥ 0/);
  });
});

describe('redactUrl', () => {
  it('hides passwords, with or without a user, and leaves URLs without one alone', () => {
    expect(redactUrl('redis://u:p@ss:w/rd@h:1')).toBe('redis://u:***@h:1');
    expect(redactUrl('redis://:p@h')).toBe('redis://:***@h');
    expect(redactUrl('redis://h:6379/1')).toBe('redis://h:6379/1');
  });
});
