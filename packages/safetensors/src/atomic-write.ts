import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeError } from './errors.js';

/** Where a writer puts its bytes, in order. Small writes are buffered; large ones go straight to the file. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
}

/**
 * Turns a problem of an atomic write into the error the caller throws. `cause` is the underlying error; when the
 * writer's own body threw an error of the caller's kind, the callback may return it as it is.
 */
export type AtomicWriteErrorFactory = (problem: string, cause: unknown) => Error;

const BUFFER_SIZE = 1 << 20;

/** A temporary name next to `path`: `${path}.tmp-<pid>-<random>`. */
export function temporaryPath(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten}`);
    done += bytesWritten;
  }
}

/**
 * Writes a file atomically: `body` writes to `${path}.tmp-<pid>-<random>` (created exclusively, next to the
 * target so the rename stays on one file system), which is then flushed to disk (fsync) and renamed over
 * `path`. Readers see the old file or the new one, never a part. On any error the temporary file is removed,
 * the target is left untouched, and the error made by `toError` is thrown.
 */
export async function writeFileAtomic(
  path: string,
  body: (sink: ByteSink) => Promise<void>,
  toError: AtomicWriteErrorFactory,
): Promise<void> {
  const tmp = temporaryPath(path);
  let handle: FileHandle;
  try {
    handle = await open(tmp, 'wx');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const problem =
      code === 'ENOENT'
        ? `cannot write: the directory ${dirname(path)} does not exist`
        : code === 'EACCES' || code === 'EPERM'
          ? `cannot write: no permission to create files in ${dirname(path)}`
          : `cannot create the temporary file ${tmp}: ${describeError(err)}`;
    throw toError(problem, err);
  }

  let stage: 'write' | 'commit' = 'write';
  try {
    let position = 0;
    const buffer = new Uint8Array(BUFFER_SIZE);
    let used = 0;
    const flush = async () => {
      if (used === 0) return;
      await writeAll(handle, buffer.subarray(0, used), position);
      position += used;
      used = 0;
    };
    await body({
      async write(bytes: Uint8Array) {
        if (used + bytes.length <= buffer.length) {
          buffer.set(bytes, used);
          used += bytes.length;
          return;
        }
        await flush();
        if (bytes.length < buffer.length) {
          buffer.set(bytes, 0);
          used = bytes.length;
        } else {
          await writeAll(handle, bytes, position);
          position += bytes.length;
        }
      },
    });
    await flush();
    stage = 'commit';
    await handle.sync();
    await handle.close();
    await rename(tmp, path);
  } catch (err) {
    await handle.close().catch(() => {}); // already closed after a failed rename: ignore
    await rm(tmp, { force: true }).catch(() => {});
    const problem =
      stage === 'write'
        ? `write interrupted, the existing file (if any) is untouched: ${describeError(err)}`
        : `cannot commit the write (fsync/rename of ${tmp}), the existing file (if any) is untouched: ${describeError(err)}`;
    throw toError(problem, err);
  }
  // make the rename itself durable; best effort (some platforms cannot open or fsync a directory)
  try {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // ignore
  }
}
