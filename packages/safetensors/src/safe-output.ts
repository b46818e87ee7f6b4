import { randomBytes } from 'node:crypto';
import { mkdirSync, realpathSync, rmSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { openSafetensors } from './reader.js';

/**
 * Output safety, shared by every command that writes: paths are normalized (trailing slashes, `.`, `..`,
 * symlinks) before they are compared; an output may not be, contain or lie inside an input; nothing is ever
 * deleted that blastkit did not write — a folder it wrote carries {@link OUTPUT_MARKER}, a file it wrote says
 * `format: blastkit-…` in its safetensors metadata; a folder appears whole (written to a sibling temporary and
 * renamed into place); a temporary is removed on failure and on SIGINT/SIGTERM, and one left behind by
 * `kill -9` is removed by the next write of the same path (its process is gone).
 */

/** The file that marks a folder as written by blastkit (JSON: tool, marker version, command). */
export const OUTPUT_MARKER = '.blastkit-output';

/** An output that would overwrite or delete something blastkit must not touch; the message names both paths. */
export class OutputSafetyError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'OutputSafetyError';
  }
}

/** A temporary name next to `path`: `${path}.tmp-<pid>-<random>` (the pid lets a later run find orphans). */
export function temporaryPath(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

function asidePath(path: string): string {
  return `${path}.old-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/**
 * The absolute path `path` names, with symlinks resolved: trailing slashes, `.` and `..` are dropped and the
 * longest existing prefix is replaced by its real path (the rest does not exist yet, so has no links).
 */
export function normalizePath(path: string): string {
  const absolute = resolve(path);
  const rest: string[] = [];
  let head = absolute;
  for (;;) {
    try {
      return join(realpathSync(head), ...rest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      const parent = dirname(head);
      if (parent === head) return absolute;
      rest.unshift(basename(head));
      head = parent;
    }
  }
}

function within(path: string, folder: string): boolean {
  return path.startsWith(folder.endsWith(sep) ? folder : `${folder}${sep}`);
}

/**
 * Throws an {@link OutputSafetyError} when `output` is one of `inputs`, contains one, or lies inside one
 * (after normalizing all of them). `label` names the output in the message, e.g. `--out`.
 */
export function assertOutputApart(output: string, inputs: readonly string[], label = '--out'): void {
  const out = normalizePath(output);
  for (const input of inputs) {
    const inp = normalizePath(input);
    const problem =
      out === inp
        ? 'is the input'
        : within(inp, out)
          ? 'contains the input'
          : within(out, inp)
            ? 'lies inside the input'
            : undefined;
    if (!problem) continue;
    const resolved =
      out === output && inp === input ? '' : out === inp ? ` (both are ${out})` : ` (${out}, ${inp})`;
    throw new OutputSafetyError(
      out,
      `${label} ${output} ${problem} ${input}${resolved}; write the output somewhere else`,
    );
  }
}

/** What is at an output folder's path: nothing, an empty folder, or a folder blastkit wrote. */
export type OutputState = 'absent' | 'empty' | 'blastkit';

/**
 * Whether an output folder may be (re)written. Anything else there — a file, a non-empty folder without
 * {@link OUTPUT_MARKER} — is refused with an {@link OutputSafetyError}: blastkit does not delete what it did
 * not write, with or without --force.
 */
export async function outputFolderState(dir: string, label = '--out'): Promise<OutputState> {
  let entries: string[];
  try {
    const s = await stat(dir);
    if (!s.isDirectory())
      throw new OutputSafetyError(
        dir,
        `${label} ${dir} exists and is a file, not a folder blastkit wrote; refusing to replace it`,
      );
    entries = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
  if (entries.length === 0) return 'empty';
  if (entries.includes(OUTPUT_MARKER) && (await readMarker(join(dir, OUTPUT_MARKER)))) return 'blastkit';
  throw new OutputSafetyError(
    dir,
    `${label} ${dir} exists, is not empty and was not written by blastkit (no ${OUTPUT_MARKER} in it); ` +
      'refusing to replace it — choose another folder, or remove it yourself',
  );
}

async function readMarker(path: string): Promise<boolean> {
  try {
    return JSON.parse(await readFile(path, 'utf8')).tool === 'blastkit';
  } catch {
    return false;
  }
}

function markerText(command: string): string {
  return `${JSON.stringify({ tool: 'blastkit', marker: 1, command })}\n`;
}

/**
 * Checks that a file output may be written: apart from every input, and either absent or a safetensors file
 * that blastkit wrote (its metadata `format` starts with `blastkit-`). Returns the normalized path.
 */
export async function checkOutputFile(
  path: string,
  inputs: readonly string[] = [],
  label = '--out',
): Promise<string> {
  assertOutputApart(path, inputs, label);
  const target = normalizePath(path);
  let isFile: boolean;
  try {
    isFile = (await stat(target)).isFile();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return target;
    throw err;
  }
  if (!isFile)
    throw new OutputSafetyError(target, `${label} ${path} is a folder; give a file name (.safetensors)`);
  let format: string | undefined;
  try {
    const file = await openSafetensors(target);
    format = file.metadata.format;
    await file.close();
  } catch {
    format = undefined;
  }
  if (!format?.startsWith('blastkit-'))
    throw new OutputSafetyError(
      target,
      `${label} ${path} exists and was not written by blastkit; refusing to replace it — choose another name, or remove it yourself`,
    );
  return target;
}

// ---------------------------------------------------------------------------------------------------------
// Temporaries: removed on failure, on SIGINT/SIGTERM, and (when orphaned by kill -9) by the next run.

const active = new Set<string>();
let committing = 0;
let pending: NodeJS.Signals | undefined;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

function onSignal(signal: NodeJS.Signals): void {
  // a commit is two renames: let it finish, then handle the signal (never leave neither old nor new)
  if (committing > 0) {
    pending = signal;
    return;
  }
  for (const path of active) removeNow(path);
  active.clear();
  uninstall();
  // another handler (the CLI's Ctrl-C → AbortSignal) stops the run itself; otherwise do what the signal does
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

/**
 * Removes a temporary from a signal handler. Writes still in flight in the thread pool may add a file to a
 * folder while it is being removed (ENOTEMPTY): retried. A failure must not throw out of the handler.
 */
function removeNow(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true, maxRetries: 10, retryDelay: 5 });
  } catch {
    // the next run removes what is left (its process is gone)
  }
}

function install(): void {
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  for (const s of SIGNALS) process.removeListener(s, onSignal);
}

/**
 * Creates a temporary folder synchronously: a signal handler runs between event-loop tasks, so it sees the
 * folder either not yet made or made (and removes it) — never a creation still in flight in the thread pool
 * that would land after the handler's sweep.
 */
export function createTemporaryFolder(path: string): void {
  mkdirSync(path);
}

/** Registers a temporary (file or folder) to be removed if the process gets SIGINT or SIGTERM. */
export function trackTemporary(path: string): void {
  if (active.size === 0) install();
  active.add(path);
}

/** Unregisters a temporary (committed or removed). */
export function untrackTemporary(path: string): void {
  if (!active.delete(path)) return;
  if (active.size === 0) uninstall();
}

async function duringCommit<T>(fn: () => Promise<T>): Promise<T> {
  committing++;
  try {
    return await fn();
  } finally {
    committing--;
    if (committing === 0 && pending) {
      const signal = pending;
      pending = undefined;
      onSignal(signal);
    }
  }
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Removes what a killed run left next to `path`: `${path}.tmp-<pid>-…` and `${path}.old-<pid>-…` whose
 * process no longer exists (a running process's temporaries are left alone). Returns the names removed.
 */
export async function removeStaleTemporaries(path: string): Promise<string[]> {
  const dir = dirname(path);
  const pattern = new RegExp(`^${escapeRegExp(basename(path))}\\.(?:tmp|old)-(\\d+)-[0-9a-f]+$`);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = pattern.exec(name);
    if (!match || processAlive(Number(match[1]))) continue;
    await rm(join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** Removes every orphaned temporary file in `dir` (`*.tmp-<dead pid>-…`), e.g. torn checkpoint writes. */
export async function removeStaleTemporariesIn(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const match = /\.(?:tmp|old)-(\d+)-[0-9a-f]+$/.exec(name);
    if (match && !processAlive(Number(match[1]))) await rm(join(dir, name), { recursive: true, force: true });
  }
}

async function syncPath(path: string): Promise<void> {
  // best effort: some platforms cannot open or fsync a directory
  try {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // ignore
  }
}

export interface OutputFolderOptions {
  /** Recorded in the marker: which command wrote the folder. */
  command: string;
  /** Paths the run reads: the output may not be, contain or lie inside any of them. */
  inputs?: readonly string[];
  /** Names the output in messages (default `--out`). */
  label?: string;
}

/**
 * Writes a folder at once: `write` fills a fresh sibling temporary (`${dir}.tmp-<pid>-<random>`), the marker is
 * added, and the temporary is renamed into place — over nothing, over an empty folder, or over a folder
 * blastkit wrote (moved aside first, removed after). Anything else at `dir` is refused before `write` runs.
 * On any error or signal the temporary is removed and `dir` is as it was. Returns the normalized path.
 */
export async function writeOutputFolder(
  dir: string,
  write: (temp: string) => Promise<void>,
  options: OutputFolderOptions,
): Promise<string> {
  const label = options.label ?? '--out';
  assertOutputApart(dir, options.inputs ?? [], label);
  const target = normalizePath(dir);
  await removeStaleTemporaries(target);
  await outputFolderState(target, label);
  await mkdir(dirname(target), { recursive: true });
  const temp = temporaryPath(target);
  trackTemporary(temp);
  try {
    createTemporaryFolder(temp);
    await write(temp);
    await writeFile(join(temp, OUTPUT_MARKER), markerText(options.command));
    await syncPath(temp);
    // checked again: the folder may have changed while this run worked
    const state = await outputFolderState(target, label);
    let aside: string | undefined;
    await duringCommit(async () => {
      if (state === 'blastkit') {
        aside = asidePath(target);
        await rename(target, aside);
        trackTemporary(aside);
      }
      // rename(2) replaces an empty folder
      await rename(temp, target);
    });
    untrackTemporary(temp);
    await syncPath(dirname(target));
    if (aside) {
      await rm(aside, { recursive: true, force: true });
      untrackTemporary(aside);
    }
    return target;
  } catch (err) {
    await rm(temp, { recursive: true, force: true }).catch(() => {});
    untrackTemporary(temp);
    throw err;
  }
}

/**
 * Makes `dir` a blastkit output folder that files are added to one by one (e.g. `bench --out`): created with
 * its marker (atomically) when absent, marked when empty, used as it is when blastkit wrote it, refused
 * otherwise. Returns the normalized path.
 */
export async function prepareOutputFolder(dir: string, options: OutputFolderOptions): Promise<string> {
  const label = options.label ?? '--out';
  assertOutputApart(dir, options.inputs ?? [], label);
  const target = normalizePath(dir);
  await removeStaleTemporaries(target);
  const state = await outputFolderState(target, label);
  if (state === 'blastkit') return target;
  if (state === 'empty') {
    await writeFile(join(target, OUTPUT_MARKER), markerText(options.command));
    return target;
  }
  try {
    return await writeOutputFolder(target, async () => {}, options);
  } catch (err) {
    // another process made it meanwhile: fine if it is ours
    if ((await outputFolderState(target, label).catch(() => undefined)) === 'blastkit') return target;
    throw err;
  }
}

/**
 * Removes a folder this tool wrote (e.g. a finished run's checkpoints) so that a kill at any moment leaves it
 * whole or gone: it is renamed aside first (an orphan is removed by the next run), then deleted.
 */
export async function discardFolder(dir: string): Promise<void> {
  const aside = asidePath(dir);
  try {
    await duringCommit(async () => {
      await rename(dir, aside);
      trackTemporary(aside);
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    await rm(aside, { recursive: true, force: true });
  } finally {
    untrackTemporary(aside);
  }
}
