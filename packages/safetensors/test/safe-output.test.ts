import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor } from '@blastkit/core';
import { describe, expect, it } from 'vitest';
import {
  assertOutputApart,
  checkOutputFile,
  discardFolder,
  normalizePath,
  OUTPUT_MARKER,
  OutputSafetyError,
  prepareOutputFolder,
  writeOutputFolder,
  writeSafetensors,
} from '../src/index.js';
import { tempDir } from './helpers.js';

/** The pid of a process that has exited (its temporaries are orphans). */
function deadPid(): number {
  const p = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(p.stdout);
}

const write = (files: Record<string, string>) => async (temp: string) => {
  for (const [name, text] of Object.entries(files)) await writeFile(join(temp, name), text);
};

describe('output paths', () => {
  it('normalizes trailing slashes, . and .., and symlinks (also of a parent that exists)', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'real'));
    await symlink(join(dir, 'real'), join(dir, 'link'));
    const real = normalizePath(join(dir, 'real'));
    expect(normalizePath(`${join(dir, 'real')}/`)).toBe(real);
    expect(normalizePath(`${dir}/./x/../real//`)).toBe(real);
    expect(normalizePath(join(dir, 'link'))).toBe(real);
    expect(normalizePath(`${join(dir, 'link')}/new/deeper/`)).toBe(join(real, 'new', 'deeper'));
  });

  it('refuses an output that is an input, contains one or lies inside one, naming both', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'model'));
    await symlink(join(dir, 'model'), join(dir, 'alias'));
    const input = join(dir, 'model');
    const cases: [string, RegExp][] = [
      [`${input}/`, /is the input/],
      [join(dir, 'alias'), /is the input .*\(both are /],
      [join(input, 'sub'), /lies inside the input/],
      [dir, /contains the input/],
    ];
    for (const [out, why] of cases) {
      const err = (() => {
        try {
          assertOutputApart(out, [input]);
        } catch (e) {
          return e as Error;
        }
      })();
      expect(err).toBeInstanceOf(OutputSafetyError);
      expect(err?.message).toMatch(why);
      expect(err?.message).toContain(out);
      expect(err?.message).toContain(input);
    }
    expect(() => assertOutputApart(join(dir, 'model-out'), [input])).not.toThrow();
  });
});

describe('writeOutputFolder', () => {
  it('writes a new folder whole, with the marker; replaces an empty folder and a folder it wrote', async () => {
    const dir = await tempDir();
    const out = join(dir, 'out');
    expect(await writeOutputFolder(`${out}/`, write({ a: '1' }), { command: 'test' })).toBe(
      normalizePath(out),
    );
    expect(readdirSync(out).sort()).toEqual([OUTPUT_MARKER, 'a']);
    expect(JSON.parse(readFileSync(join(out, OUTPUT_MARKER), 'utf8'))).toEqual({
      tool: 'blastkit',
      marker: 1,
      command: 'test',
    });
    await writeOutputFolder(out, write({ b: '2' }), { command: 'test' });
    expect(readdirSync(out).sort()).toEqual([OUTPUT_MARKER, 'b']);
    await mkdir(join(dir, 'empty'));
    await writeOutputFolder(join(dir, 'empty'), write({ c: '3' }), { command: 'test' });
    expect(readdirSync(join(dir, 'empty')).sort()).toEqual([OUTPUT_MARKER, 'c']);
    expect(readdirSync(dir).sort()).toEqual(['empty', 'out']);
  });

  it('never replaces a folder it did not write, nor a file, and never runs the writer then', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'mine'));
    await writeFile(join(dir, 'mine', 'notes.txt'), 'keep me');
    await writeFile(join(dir, 'file'), 'keep me too');
    let ran = 0;
    const body = async () => {
      ran++;
    };
    await expect(writeOutputFolder(join(dir, 'mine'), body, { command: 'test' })).rejects.toThrow(
      /exists, is not empty and was not written by blastkit \(no \.blastkit-output in it\)/,
    );
    await expect(writeOutputFolder(join(dir, 'file'), body, { command: 'test' })).rejects.toThrow(
      OutputSafetyError,
    );
    // a marker that is not blastkit's does not count
    await writeFile(join(dir, 'mine', OUTPUT_MARKER), 'something else');
    await expect(writeOutputFolder(join(dir, 'mine'), body, { command: 'test' })).rejects.toThrow(
      OutputSafetyError,
    );
    expect(ran).toBe(0);
    expect(readFileSync(join(dir, 'mine', 'notes.txt'), 'utf8')).toBe('keep me');
    expect(readFileSync(join(dir, 'file'), 'utf8')).toBe('keep me too');
  });

  it('a failing writer leaves the old folder as it was and no temporary', async () => {
    const dir = await tempDir();
    const out = join(dir, 'out');
    await writeOutputFolder(out, write({ a: 'old' }), { command: 'test' });
    await expect(
      writeOutputFolder(
        out,
        async (temp) => {
          await writeFile(join(temp, 'a'), 'new');
          throw new Error('disk full');
        },
        { command: 'test' },
      ),
    ).rejects.toThrow('disk full');
    expect(readFileSync(join(out, 'a'), 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['out']);
  });

  it("removes a killed run's temporaries (dead pid) and leaves a running one's alone", async () => {
    const dir = await tempDir();
    const out = join(dir, 'out');
    const dead = deadPid();
    await mkdir(join(dir, `out.tmp-${dead}-0123456789ab`));
    await mkdir(join(dir, `out.old-${dead}-0123456789ab`));
    await writeFile(join(dir, `f.safetensors.tmp-${dead}-0123456789ab`), 'torn');
    const running = `out.tmp-${process.ppid}-0123456789ab`;
    await mkdir(join(dir, running));
    await writeOutputFolder(out, write({ a: '1' }), { command: 'test' });
    await writeSafetensors(join(dir, 'f.safetensors'), { w: new Tensor([2]) });
    expect((await readdir(dir)).sort()).toEqual(['f.safetensors', 'out', running].sort());
  });

  it('refuses an output inside its inputs before writing anything', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'in'));
    await expect(
      writeOutputFolder(join(dir, 'in', 'out'), write({}), { command: 'test', inputs: [join(dir, 'in')] }),
    ).rejects.toThrow(/lies inside the input/);
    expect(await readdir(join(dir, 'in'))).toEqual([]);
  });

  it('SIGTERM during the write removes the temporary and the process still dies of SIGTERM', async () => {
    const dir = await tempDir();
    const lib = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'index.js');
    const script = `
      const { writeOutputFolder } = await import(${JSON.stringify(lib)});
      await writeOutputFolder(${JSON.stringify(join(dir, 'out'))}, async (temp) => {
        process.stdout.write('writing\\n');
        await new Promise(() => setInterval(() => {}, 1000));
      }, { command: 'test' });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'pipe' });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    expect((await readdir(dir)).some((f) => f.startsWith('out.tmp-'))).toBe(true);
    child.kill('SIGTERM');
    const signal = await new Promise((resolve) => child.on('exit', (_code, s) => resolve(s)));
    expect(signal).toBe('SIGTERM');
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('file outputs and other helpers', () => {
  it('checkOutputFile accepts a new name or a file blastkit wrote, refuses anything else', async () => {
    const dir = await tempDir();
    const ours = join(dir, 'f.safetensors');
    await writeSafetensors(ours, { w: new Tensor([2]) }, { format: 'blastkit-factors' });
    await writeSafetensors(join(dir, 'model.safetensors'), { w: new Tensor([2]) }, { format: 'pt' });
    await writeFile(join(dir, 'notes.txt'), 'x');
    expect(await checkOutputFile(join(dir, 'new.safetensors'))).toBe(
      join(normalizePath(dir), 'new.safetensors'),
    );
    expect(await checkOutputFile(ours)).toBe(normalizePath(ours));
    for (const name of ['model.safetensors', 'notes.txt'])
      await expect(checkOutputFile(join(dir, name))).rejects.toThrow(/was not written by blastkit/);
    await expect(checkOutputFile(dir)).rejects.toThrow(/is a folder/);
    await expect(checkOutputFile(ours, [ours])).rejects.toThrow(/is the input/);
  });

  it('prepareOutputFolder marks a new or empty folder, keeps its own, refuses a foreign one', async () => {
    const dir = await tempDir();
    const a = await prepareOutputFolder(join(dir, 'a'), { command: 'bench' });
    expect(readdirSync(a)).toEqual([OUTPUT_MARKER]);
    await writeFile(join(a, 'kernels.json'), '{}');
    expect(await prepareOutputFolder(a, { command: 'bench' })).toBe(a);
    await mkdir(join(dir, 'b'));
    await prepareOutputFolder(join(dir, 'b'), { command: 'bench' });
    expect(existsSync(join(dir, 'b', OUTPUT_MARKER))).toBe(true);
    await mkdir(join(dir, 'c'));
    await writeFile(join(dir, 'c', 'x'), '');
    await expect(prepareOutputFolder(join(dir, 'c'), { command: 'bench' })).rejects.toThrow(
      OutputSafetyError,
    );
    expect(readdirSync(join(dir, 'c'))).toEqual(['x']);
  });

  it('discardFolder removes a folder (moved aside first) and ignores one that is gone', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'ck'));
    await writeFile(join(dir, 'ck', 'x'), '');
    await discardFolder(join(dir, 'ck'));
    await discardFolder(join(dir, 'ck'));
    expect(await readdir(dir)).toEqual([]);
  });
});
