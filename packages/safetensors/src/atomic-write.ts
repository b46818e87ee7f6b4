import { closeSync, openSync } from 'node:fs';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeError } from './errors.js';
import { removeStaleTemporaries, temporaryPath, trackTemporary, untrackTemporary } from './safe-output.js';

export { temporaryPath };

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
 * `path`. Readers see the old file or the new one, never a part. On any error, SIGINT or SIGTERM the temporary
 * file is removed and the target is left untouched (on an error, the one made by `toError` is thrown); one
 * orphaned by `kill -9` is removed by the next write of the same path.
 */
export async function writeFileAtomic(
  path: string,
  body: (sink: ByteSink) => Promise<void>,
  toError: AtomicWriteErrorFactory,
): Promise<void> {
  await removeStaleTemporaries(path).catch(() => {});
  const tmp = temporaryPath(path);
  let handle: FileHandle;
  trackTemporary(tmp);
  let created = false;
  try {
    // created synchronously, so that a signal's sweep never races a creation in flight (see safe-output.ts)
    closeSync(openSync(tmp, 'wx'));
    created = true;
    handle = await open(tmp, 'r+');
  } catch (err) {
    if (created) await rm(tmp, { force: true }).catch(() => {});
    untrackTemporary(tmp);
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
    untrackTemporary(tmp);
  } catch (err) {
    await handle.close().catch(() => {}); // already closed after a failed rename: ignore
    await rm(tmp, { force: true }).catch(() => {});
    untrackTemporary(tmp);
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
