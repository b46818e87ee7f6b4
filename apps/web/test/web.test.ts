import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSafetensors } from '@blastkit/safetensors';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVAL_TEXT } from '../src/eval-text.js';
import {
  expectedComparison,
  expectedContinuation,
  launchChromium,
  type PageComparison,
  runCli,
  type ServedApp,
  screenshot,
  serveBuiltApp,
  unzipStored,
  waitForState,
  writeBenchJson,
} from './harness.js';

const PROMPT = 'Once upon a time';
const TOKENS = 32;
/** Tokens the CPU pages generate: greedy, so they are the first of the 32 (the CPU reference is slow). */
const CPU_TOKENS = 8;
/** BLAST at 50% of two layers, as the page and the CLI are both asked for it. */
const COMPRESSION = { modules: 'q_proj,k_proj', layers: '0', steps: '10', seed: '5' };
const FACTORED = ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.k_proj'];
/**
 * The compressed folder's ONNX exports the page runs: BLAST's two forms with an `If` on the token count,
 * `by-length` (what `auto` writes for stories15M's small blocks) and `per-block` (what it writes for large ones).
 */
const BLAST_ONNX = [
  { name: 'onnx-blast', mixing: 'by-length' },
  { name: 'onnx-blast-per-block', mixing: 'per-block' },
] as const;

/** The raw bytes of every tensor of a safetensors file. */
async function tensorBytes(path: string): Promise<Map<string, Buffer>> {
  const file = await openSafetensors(path);
  try {
    const out = new Map<string, Buffer>();
    for (const name of file.names()) out.set(name, Buffer.from((await file.readRaw(name)).bytes));
    return out;
  } finally {
    await file.close();
  }
}

/** One generation's figures as the page shows them (`#speed`'s data attributes). */
async function speedOf(page: Page): Promise<{ tokens: number; seconds: number; tokensPerSecond: number }> {
  const [tokens, seconds] = await page.$eval('#speed', (el) => [
    Number((el as HTMLElement).dataset.tokens),
    Number((el as HTMLElement).dataset.seconds),
  ]);
  // to the millisecond: the page's clock is coarser than that anyway without cross-origin isolation
  return {
    tokens,
    seconds: Number(seconds.toFixed(3)),
    tokensPerSecond: Number((tokens / seconds).toPrecision(4)),
  };
}

/** Generates `tokens` greedily in the page's generate card and returns the token ids the page shows. */
async function generateInPage(page: Page, tokens: number): Promise<number[]> {
  await page.fill('#prompt', PROMPT);
  await page.fill('#max-tokens', String(tokens));
  await page.click('#generate');
  await waitForState(page, ['generating', 'ready']);
  await waitForState(page, ['ready']);
  return JSON.parse((await page.getAttribute('#output', 'data-tokens')) ?? '[]');
}

/** Loads stories15M into a fresh page on the CPU reference (compression runs in the worker either way). */
async function openCpuPage(browser: Browser, app: ServedApp, width: number, height: number): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height }, acceptDownloads: true });
  await page.goto(`${app.url}?model=models/stories15M/stories15M.bin&backend=cpu`);
  await waitForState(page, ['ready']);
  return page;
}

describe('blastkit web in headless Chromium', () => {
  let app: ServedApp | undefined;
  let browser: Browser | undefined;
  let expected: number[] = [];
  let expectedText = '';
  let work = '';
  /** The page's figures on this machine's software adapter, written as bench JSON at the end. */
  const bench: Record<string, unknown> = {};
  /**
   * Node-side work only some tests need, started in beforeAll and awaited by those tests, so the first browser
   * test need not wait for it: the CLI's compressed folder with @blastkit/eval's comparison on it, and the ONNX
   * export. afterAll waits for both, so no CLI process outlives the test.
   */
  let comparison: Promise<PageComparison> = Promise.reject(new Error('setup failed'));
  let onnxExport: Promise<unknown> = Promise.reject(new Error('setup failed'));
  /** The compressed folder exported to ONNX in both If-based BLAST forms, and its greedy tokens on blastkit. */
  let blastExports: Promise<number[]> = Promise.reject(new Error('setup failed'));
  comparison.catch(() => {});
  onnxExport.catch(() => {});
  blastExports.catch(() => {});

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'blastkit-web-test-'));
    const cliDir = join(work, 'cli');
    // the CLI's factors for the same request, on the same (CPU reference) arithmetic, and what @blastkit/eval
    // says of that compressed model against the dense one on the page's default text
    comparison = runCli([
      'compress',
      'stories15M',
      '--method',
      'blast',
      '--ratio',
      '0.5',
      '--target-modules',
      COMPRESSION.modules,
      '--layers',
      COMPRESSION.layers,
      '--steps',
      COMPRESSION.steps,
      '--seed',
      COMPRESSION.seed,
      '--backend',
      'cpu',
      '--out',
      cliDir,
      '--quiet',
    ]).then(() => expectedComparison(EVAL_TEXT, cliDir));
    onnxExport = runCli(['export', 'stories15M', '--onnx', '--out', join(work, 'onnx'), '--json']);
    blastExports = comparison.then(async () => {
      const exported = BLAST_ONNX.map(({ name, mixing }) =>
        runCli(['export', cliDir, '--onnx', '--out', join(work, name), '--mixing', mixing, '--json']),
      );
      const generated = runCli([
        ...['generate', cliDir, '--prompt', PROMPT, '--max-tokens', String(TOKENS)],
        ...['--temperature', '0', '--backend', 'cpu', '--json'],
      ]);
      // both exports keep the two BLAST layers structured (`modules`), so the page runs BLAST, not dense
      for (const out of await Promise.all(exported)) {
        const { modules } = JSON.parse(out);
        if (modules !== FACTORED.length)
          throw new Error(`an export kept ${modules} layers structured, expected ${FACTORED.length}`);
      }
      return JSON.parse(await generated).tokens as number[];
    });
    // handled where they are awaited; these only keep an early failure from being an unhandled rejection
    comparison.catch(() => {});
    onnxExport.catch(() => {});
    blastExports.catch(() => {});
    // every piece is kept as soon as it exists, and every piece is waited for (allSettled), so that afterAll
    // closes the browser and the server even when another piece failed
    const settled = await Promise.allSettled([
      // the ONNX export is served at /models/onnx/ (the folder is written while the app builds)
      serveBuiltApp({
        BLASTKIT_WEB_MODELS: ['onnx', ...BLAST_ONNX.map((b) => b.name)]
          .map((name) => `${name}=${join(work, name)}`)
          .join(','),
      }).then((a) => {
        app = a;
      }),
      launchChromium().then((b) => {
        browser = b;
      }),
      expectedContinuation(PROMPT, TOKENS).then((c) => {
        expected = c.tokens;
        expectedText = c.text;
      }),
    ]);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  });

  afterAll(async () => {
    try {
      // only a complete set of figures is a bench result
      if (['webgpu', 'cpu', 'onnx', 'compression'].every((k) => k in bench)) {
        const path = await writeBenchJson({
          suite: 'web',
          adapter: 'software adapter',
          note: 'stories15M in headless Chromium on a software WebGPU adapter: speed meaningless, working path proven',
          browser: browser?.version(),
          model: 'stories15M',
          ...bench,
        });
        console.log(`web: figures written to ${path}`);
      }
    } finally {
      await browser?.close();
      await app?.close();
      await Promise.allSettled([comparison, onnxExport, blastExports]);
      if (work) await rm(work, { recursive: true, force: true });
    }
  });

  it("continues 'Once upon a time' on WebGPU exactly as blastkit does on the CPU, 32 tokens", async () => {
    if (!app || !browser) throw new Error('setup failed');
    expect(expected).toHaveLength(TOKENS);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(app.url);
    await screenshot(page, 'start-1280x800');
    await page.fill('#model-url', 'models/stories15M/stories15M.bin');
    await page.click('#load-url');
    await waitForState(page, ['ready']);
    // the software adapter Chromium gives here is SwiftShader (no GPU on this machine)
    expect(await page.getAttribute('#backend-status', 'data-backend')).toBe('webgpu');
    expect(await page.textContent('#backend-status')).toMatch(/navigator\.gpu/);
    expect(await page.isHidden('#fallback-reason')).toBe(true);
    expect(await page.textContent('#load-status')).toMatch(/Loaded stories15M\.bin.*6 layers/);
    await screenshot(page, 'loaded-1280x800');

    await page.fill('#prompt', PROMPT);
    await page.fill('#max-tokens', String(TOKENS));
    await page.click('#generate');
    await waitForState(page, ['generating', 'ready']);
    await waitForState(page, ['ready']);
    const tokens = JSON.parse((await page.getAttribute('#output', 'data-tokens')) ?? '[]');
    expect(tokens).toEqual(expected);
    expect(await page.textContent('#output')).toBe(expectedText);
    const speed = (await page.textContent('#speed')) ?? '';
    expect(speed).toMatch(/^32 tokens in [\d.]+ s: [\d.]+ tokens\/s on webgpu$/);
    const backendLine = (await page.textContent('#backend-status')) ?? '';
    console.log(`web: ${speed} (${backendLine})`);
    bench.webgpu = { backend: backendLine.replace(/^Backend: /, ''), ...(await speedOf(page)) };
    await screenshot(page, 'generated-1280x800');
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'generated-390x844');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('falls back to the CPU reference, with the reason shown, where the browser has no WebGPU', async () => {
    if (!app || !browser) throw new Error('setup failed');
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    // a browser without WebGPU: navigator.gpu is absent before any page script runs
    await context.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
    });
    const page = await context.newPage();
    await page.goto(`${app.url}?model=models/stories15M/stories15M.bin`);
    await waitForState(page, ['ready']);
    expect(await page.getAttribute('#backend-status', 'data-backend')).toBe('cpu');
    expect(await page.textContent('#fallback-reason')).toMatch(/WebGPU not used: .*no navigator\.gpu/);
    // greedy decoding: the first 8 tokens are the first 8 of the 32
    expect(await generateInPage(page, CPU_TOKENS)).toEqual(expected.slice(0, CPU_TOKENS));
    bench.cpu = { backend: 'cpu — TypeScript reference', ...(await speedOf(page)) };
    await screenshot(page, 'cpu-fallback-390x844');
    await context.close();
  });

  it("compresses two layers with BLAST at 50% in a worker, giving the CLI's factors byte for byte", async () => {
    if (!app || !browser) throw new Error('setup failed');
    const page = await openCpuPage(browser, app, 1280, 800);
    await page.selectOption('#method', 'blast');
    await page.fill('#ratio', '0.5');
    await page.fill('#modules', COMPRESSION.modules);
    await page.fill('#layers', COMPRESSION.layers);
    await page.fill('#steps', COMPRESSION.steps);
    await page.fill('#seed', COMPRESSION.seed);
    const started = page.waitForEvent('worker');
    await page.click('#compress');
    const worker = await started;
    const closed = new Promise<void>((resolve) => worker.on('close', () => resolve()));
    await waitForState(page, ['ready']);
    await closed;
    expect(page.workers()).toHaveLength(0);
    expect(await page.textContent('#compress-status')).toMatch(/^Done: 2 matrices/);
    bench.compression = {
      method: 'blast',
      ratio: 0.5,
      matrices: FACTORED,
      steps: Number(COMPRESSION.steps),
      where: 'Web Worker, CPU reference backend',
      seconds: Number(Number(await page.getAttribute('#compress-status', 'data-seconds')).toFixed(3)),
    };
    const rows = await page.$$eval('#layers-table tbody tr', (trs) =>
      trs.map((tr) => ({
        module: (tr as HTMLElement).dataset.module,
        error: Number(tr.children[3].textContent),
      })),
    );
    expect(rows.map((r) => r.module)).toEqual(FACTORED);
    for (const r of rows) expect(r.error).toBeGreaterThan(0);
    for (const r of rows) expect(r.error).toBeLessThan(1);

    // dense vs compressed, side by side (short: 8 tokens on the CPU reference), and scored on the default text
    expect(await page.inputValue('#eval-text')).toBe(EVAL_TEXT);
    await page.fill('#max-tokens', String(CPU_TOKENS));
    await page.click('#compare');
    await waitForState(page, ['comparing', 'ready']);
    await waitForState(page, ['ready']);
    expect(JSON.parse((await page.getAttribute('#dense-output', 'data-tokens')) ?? '[]')).toEqual(
      expected.slice(0, CPU_TOKENS),
    );
    expect(JSON.parse((await page.getAttribute('#compressed-output', 'data-tokens')) ?? '[]')).toHaveLength(
      CPU_TOKENS,
    );
    expect(await page.textContent('#compare-status')).toMatch(/agree on their first \d+ of 8 tokens/);
    // the page's perplexities, KL and top-1 agreement are @blastkit/eval's on the CLI's compressed folder
    const shown = JSON.parse(
      (await page.getAttribute('#metrics', 'data-result')) ?? 'null',
    ) as PageComparison;
    const want = await comparison;
    expect(shown.tokens).toBe(want.tokens);
    expect(shown.tokens).toBeGreaterThan(150);
    for (const key of ['denseNll', 'compressedNll', 'densePerplexity', 'compressedPerplexity'] as const)
      expect(Math.abs(shown[key] - want[key]) / want[key], key).toBeLessThan(1e-6);
    expect(Math.abs(shown.klDivergence - want.klDivergence), 'KL').toBeLessThan(1e-6);
    expect(shown.top1Agreement).toBe(want.top1Agreement);
    // two of 42 matrices at half their parameters: a small but real difference
    expect(want.klDivergence).toBeGreaterThan(0);
    expect(await page.textContent('[data-metric="ppl-dense"]')).toBe(want.densePerplexity.toFixed(3));
    expect(await page.textContent('[data-metric="top1"]')).toBe(`${(100 * want.top1Agreement).toFixed(1)}%`);
    await page.locator('#compare-card').scrollIntoViewIfNeeded();
    await screenshot(page, 'compared-1280x800');

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const zip = unzipStored(await readFile(await download.path()));
    expect([...zip.keys()].sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.bin']);
    const ours = join(work, 'page.safetensors');
    await writeFile(ours, zip.get('model.safetensors') as Buffer);
    const [page_, cli] = await Promise.all([
      tensorBytes(ours),
      tensorBytes(join(work, 'cli', 'model.safetensors')),
    ]);
    expect([...page_.keys()].sort()).toEqual([...cli.keys()].sort());
    const factors = [...cli.keys()].filter((n) => FACTORED.some((m) => n.startsWith(`${m}.`)));
    expect(factors.sort()).toEqual(FACTORED.flatMap((m) => ['B', 'C', 'D'].map((p) => `${m}.${p}`)).sort());
    for (const name of factors) expect(page_.get(name)?.equals(cli.get(name) as Buffer), name).toBe(true);
    // and so is everything else: the same file, byte for byte
    expect(
      (zip.get('model.safetensors') as Buffer).equals(await readFile(join(work, 'cli', 'model.safetensors'))),
    ).toBe(true);
    const config = JSON.parse((zip.get('config.json') as Buffer).toString('utf8'));
    expect(config.compression_config.modules[FACTORED[0]]).toEqual({ kind: 'blast', rank: 49, blocks: 16 });
    await screenshot(page, 'compressed-1280x800');
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'compressed-390x844');
    await page.close();
  });

  it('cancel stops the compression worker', async () => {
    if (!app || !browser) throw new Error('setup failed');
    const page = await openCpuPage(browser, app, 390, 844);
    await page.fill('#steps', '100');
    const started = page.waitForEvent('worker');
    await page.click('#compress');
    const worker = await started;
    const closed = new Promise<void>((resolve) => worker.on('close', () => resolve()));
    // cancelled mid-run: once the first matrix's solver is stepping
    await page.waitForFunction(() =>
      / step \d+ of /.test(document.getElementById('compress-status')?.textContent ?? ''),
    );
    expect(page.workers()).toHaveLength(1);
    expect(await page.getAttribute('body', 'data-state')).toBe('compressing');
    await page.click('#cancel');
    await closed;
    expect(page.workers()).toHaveLength(0);
    expect(await page.getAttribute('body', 'data-state')).toBe('ready');
    expect(await page.textContent('#compress-status')).toMatch(/^Cancelled/);
    expect(await page.isDisabled('#compress')).toBe(false);
    expect(await page.isDisabled('#download')).toBe(true);
    await screenshot(page, 'cancelled-390x844');
    await page.close();
  });

  it("runs an exported ONNX folder on onnxruntime-web (WASM, served by the app) with blastkit's greedy tokens", async () => {
    if (!app || !browser) throw new Error('setup failed');
    await onnxExport;
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    // the page fetches nothing from anywhere but the app: onnxruntime-web's WASM included (no CDN)
    const elsewhere: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(app?.url ?? '') && !r.url().startsWith('data:')) elsewhere.push(r.url());
    });
    // the WASM-only build (no WebGPU wanted): onnxruntime-web's smaller binary, from the app's assets
    const wasm = page.waitForResponse((r) => /\/assets\/ort-wasm-simd-threaded-[^/]*\.wasm$/.test(r.url()));
    // 'cpu' asks for onnxruntime-web's WASM backend (WebGPU EP on a software adapter is not what this checks)
    await page.goto(`${app.url}?model=models/onnx/&backend=cpu`);
    await waitForState(page, ['ready']);
    expect((await wasm).status()).toBe(200);
    expect(await page.getAttribute('#backend-status', 'data-backend')).toBe('ort-wasm');
    // no cross-origin isolation here (no COOP/COEP headers), so onnxruntime-web runs one thread
    expect(await page.textContent('#backend-status')).toMatch(
      /^Backend: onnxruntime-web 1\.31\.1 — WASM \(chosen\), 1 thread: the page is not cross-origin isolated$/,
    );
    expect(await page.textContent('#load-status')).toMatch(
      /^Loaded ONNX export \(model\.onnx, llama\): 6 layers/,
    );
    // an ONNX export is run, not compressed
    expect(await page.isDisabled('#compress')).toBe(true);
    expect(await generateInPage(page, TOKENS)).toEqual(expected);
    expect(await page.textContent('#output')).toBe(expectedText);
    expect(await page.textContent('#speed')).toMatch(
      /^32 tokens in [\d.]+ s: [\d.]+ tokens\/s on onnxruntime-web wasm$/,
    );
    bench.onnx = {
      backend: ((await page.textContent('#backend-status')) ?? '').replace(/^Backend: /, ''),
      ...(await speedOf(page)),
    };
    await screenshot(page, 'onnx-1280x800');
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'onnx-390x844');
    expect(elsewhere).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });
  it("runs the compressed model exported with BLAST kept structured on onnxruntime-web, to blastkit's greedy tokens", async () => {
    if (!app || !browser) throw new Error('setup failed');
    const tokens = await blastExports;
    for (const { name } of BLAST_ONNX) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.goto(`${app.url}?model=models/${name}/&backend=cpu`);
      await waitForState(page, ['ready']);
      expect(await page.getAttribute('#backend-status', 'data-backend')).toBe('ort-wasm');
      expect(await page.textContent('#load-status')).toMatch(
        /^Loaded ONNX export \(model\.onnx, llama\): 6 layers/,
      );
      expect(await generateInPage(page, TOKENS), name).toEqual(tokens);
      expect(errors).toEqual([]);
      await page.close();
    }
  });
});
