import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchAsset } from '@blastkit/assets';
import { CpuBackend } from '@blastkit/core';
import { compareModels, defaultProtocol } from '@blastkit/eval';
import { generate, Llama2cCheckpoint, Llama2cTokenizer, LlamaModel, openLlamaFolder } from '@blastkit/models';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build, type PreviewServer, preview } from 'vite';

export const APP_DIR = fileURLToPath(new URL('..', import.meta.url));
export const SCREENSHOT_DIR = join(APP_DIR, '.screenshots');
/** Where the test writes the page's figures as bench JSON (git-ignored, as every package's .reports/). */
export const BENCH_JSON = join(APP_DIR, '.reports', 'bench-web.json');

const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/**
 * The flag that gives headless Debian Chromium (150–156) a WebGPU adapter with no GPU: SwiftShader's Vulkan,
 * which Chromium ships. (Vulkan/ANGLE flags change nothing here, and Mesa's lavapipe is not offered to pages.)
 */
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu'];

/** The Chromium to drive: $CHROMIUM_PATH, else Debian's. Throws with the install line when there is none. */
export function chromiumPath(): string {
  const path = process.env.CHROMIUM_PATH ?? CHROMIUM_CANDIDATES.find((p) => existsSync(p));
  if (!path || !existsSync(path))
    throw new Error(
      `no Chromium found (CHROMIUM_PATH, ${CHROMIUM_CANDIDATES.join(', ')}): apt-get install -y chromium`,
    );
  return path;
}

/** The app built into a temporary folder and served by `vite preview` on loopback, as a user runs it. */
export interface ServedApp {
  url: string;
  close(): Promise<void>;
}

/** Builds the app (vite build, the package's own config) and serves the result on 127.0.0.1. */
export async function serveBuiltApp(env: Record<string, string> = {}): Promise<ServedApp> {
  const outDir = await mkdtemp(join(tmpdir(), 'blastkit-web-'));
  const configFile = join(APP_DIR, 'vite.config.ts');
  const saved = { ...process.env };
  Object.assign(process.env, env);
  let server: PreviewServer | undefined;
  // whatever fails on the way, nothing is left behind: no listening server, no build folder
  const close = async () => {
    await server?.close();
    await rm(outDir, { recursive: true, force: true });
  };
  try {
    await build({ root: APP_DIR, configFile, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
    server = await preview({
      root: APP_DIR,
      configFile,
      logLevel: 'warn',
      build: { outDir },
      preview: { host: '127.0.0.1', port: 0, strictPort: false },
    });
    const address = server.httpServer.address();
    if (!address || typeof address === 'string') throw new Error('vite preview gave no TCP address');
    return { url: `http://127.0.0.1:${address.port}/`, close };
  } catch (err) {
    await close();
    throw err;
  } finally {
    process.env = saved;
  }
}

/**
 * Headless Chromium with WebGPU on its software adapter. Async, so that a missing Chromium is a rejection
 * beside the other setup promises (which are then still waited for and closed), not a throw that skips them.
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: WEBGPU_FLAGS });
}

/**
 * blastkit's own greedy continuation of `prompt` on stories15M — what `blastkit generate --backend cpu` runs —
 * as tokens and as the text the page should show (prompt included).
 */
export async function expectedContinuation(
  prompt: string,
  maxTokens: number,
): Promise<{ tokens: number[]; text: string }> {
  const files = await fetchAsset('stories15M');
  const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
  try {
    const tokenizer = await Llama2cTokenizer.load(files['tokenizer.bin'], ck.config.vocabSize);
    const model = await LlamaModel.load(ck, ck.config, { backend: new CpuBackend() });
    const ids = tokenizer.encode(prompt, { bos: true });
    const tokens = await generate(model, ids, { maxTokens, temperature: 0 });
    model.dispose();
    return { tokens, text: tokenizer.decode([...ids, ...tokens]) };
  } finally {
    await ck.close();
  }
}

/** The comparison the page's compare card shows, as the test reads it from `#metrics[data-result]`. */
export interface PageComparison {
  tokens: number;
  denseNll: number;
  compressedNll: number;
  densePerplexity: number;
  compressedPerplexity: number;
  klDivergence: number;
  top1Agreement: number;
}

/**
 * What the compare card should show for `text`: @blastkit/eval's comparison of stories15M against the
 * compressed folder the CLI wrote (`compressedDir`), on the CPU backend, with the model's default protocol.
 */
export async function expectedComparison(text: string, compressedDir: string): Promise<PageComparison> {
  const files = await fetchAsset('stories15M');
  const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
  const folder = await openLlamaFolder(compressedDir);
  try {
    const tokenizer = await Llama2cTokenizer.load(files['tokenizer.bin'], ck.config.vocabSize);
    const backend = new CpuBackend();
    const dense = await LlamaModel.load(ck, ck.config, { backend });
    const small = await LlamaModel.load(folder.source, folder.config, {
      backend,
      replacements: folder.replacements,
      biases: folder.biases,
    });
    const r = await compareModels(
      dense,
      small,
      tokenizer.encode(text, { bos: true }),
      defaultProtocol(dense),
    );
    dense.dispose();
    small.dispose();
    return {
      tokens: r.tokens,
      denseNll: r.reference.nll,
      compressedNll: r.candidate.nll,
      densePerplexity: r.reference.perplexity,
      compressedPerplexity: r.candidate.perplexity,
      klDivergence: r.klDivergence,
      top1Agreement: r.top1Agreement,
    };
  } finally {
    await folder.source.close();
    await ck.close();
  }
}

/** Writes the page's figures as bench JSON under .reports/ (git-ignored). */
export async function writeBenchJson(result: Record<string, unknown>): Promise<string> {
  await mkdir(dirname(BENCH_JSON), { recursive: true });
  await writeFile(BENCH_JSON, `${JSON.stringify(result, null, 2)}\n`);
  return BENCH_JSON;
}

/** Waits until the page is in one of `states` (body[data-state]); a load or generation error fails at once. */
export async function waitForState(page: Page, states: string[], timeout = 240_000): Promise<string> {
  const handle = await page.waitForFunction(
    (wanted) => {
      const s = document.body.dataset.state ?? '';
      return wanted.includes(s) || s === 'error' ? s : false;
    },
    states,
    { timeout, polling: 100 },
  );
  const state = (await handle.jsonValue()) as string;
  if (state === 'error' && !states.includes('error'))
    throw new Error(`the page went to 'error': ${await page.textContent('#load-status')}`);
  return state;
}

/** Saves a screenshot of the whole page under .screenshots/ (git-ignored), to be looked at. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The `blastkit` command of this workspace (apps/cli, built). */
export function cliBin(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@blastkit/cli/package.json');
  return join(dirname(pkg), JSON.parse(readFileSync(pkg, 'utf8')).bin.blastkit);
}

/** Runs `blastkit <args>`; rejects with its stderr when it fails. */
export function runCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cliBin(), ...args], { maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`blastkit ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

/** The entries of a zip written with stored (uncompressed) entries, as the page writes them. */
export function unzipStored(zip: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let at = 0;
  while (zip.readUInt32LE(at) === 0x04034b50) {
    const method = zip.readUInt16LE(at + 8);
    const size = zip.readUInt32LE(at + 18);
    const nameLength = zip.readUInt16LE(at + 26);
    const extra = zip.readUInt16LE(at + 28);
    const name = zip.subarray(at + 30, at + 30 + nameLength).toString('utf8');
    if (method !== 0) throw new Error(`zip entry ${name}: method ${method}, expected stored (0)`);
    const start = at + 30 + nameLength + extra;
    files.set(name, zip.subarray(start, start + size));
    at = start + size;
  }
  return files;
}
