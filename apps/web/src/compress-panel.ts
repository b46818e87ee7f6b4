/**
 * The compress and compare cards: factorizes the loaded model's linears in a Web Worker (the page stays
 * responsive; Cancel terminates the worker), lists each layer's error as it finishes, then runs the dense and
 * the compressed model side by side and downloads the compressed folder.
 */
import { type StructuredMatrix, structuredFromNamedTensors, Tensor } from '@blastkit/core';
import { compareModels, defaultProtocol } from '@blastkit/eval';
import { generate, LlamaModel } from '@blastkit/models';
import type { ChosenBackend } from './backend-choice.js';
import {
  type CompressMessage,
  type CompressRequest,
  PAGE_METHODS,
  type PageMethod,
} from './compress-protocol.js';
import { EVAL_TEXT } from './eval-text.js';
import type { OpenedModel } from './model-files.js';
import { compressedFolderZip } from './save-folder.js';
import { filesUnder } from './virtual-files.js';

/** What the panel needs from the page. */
export interface PanelHost {
  loaded(): { opened: OpenedModel; chosen: ChosenBackend; model: LlamaModel } | undefined;
  setState(state: 'ready' | 'compressing' | 'comparing'): void;
  /** The prompt and token count of the generate card. */
  prompt(): { text: string; maxTokens: number };
}

interface Compressed {
  /** The model it was made from. */
  opened: OpenedModel;
  replacements: Map<string, StructuredMatrix>;
  info: { method: PageMethod; ratio: number; blocks: number | null; seed: number };
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** Parses '0, 1' into layer indices; '' is every layer. */
function parseLayers(text: string): number[] {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const layers = parts.map(Number);
  const bad = parts.find((_, i) => !Number.isInteger(layers[i]) || layers[i] < 0);
  if (bad !== undefined) throw new Error(`layers: '${bad}' is not a layer index (e.g. 0,1)`);
  return layers;
}

export class CompressPanel {
  private readonly ui = {
    method: $<HTMLSelectElement>('method'),
    ratio: $<HTMLInputElement>('ratio'),
    blocks: $<HTMLInputElement>('blocks'),
    steps: $<HTMLInputElement>('steps'),
    seed: $<HTMLInputElement>('seed'),
    modules: $<HTMLInputElement>('modules'),
    layers: $<HTMLInputElement>('layers'),
    compress: $<HTMLButtonElement>('compress'),
    cancel: $<HTMLButtonElement>('cancel'),
    progress: $<HTMLProgressElement>('compress-progress'),
    status: $('compress-status'),
    rows: $('layers-table').querySelector('tbody') as HTMLTableSectionElement,
    compare: $<HTMLButtonElement>('compare'),
    download: $<HTMLButtonElement>('download'),
    denseOutput: $('dense-output'),
    denseSpeed: $('dense-speed'),
    compressedOutput: $('compressed-output'),
    compressedSpeed: $('compressed-speed'),
    compareStatus: $('compare-status'),
    evalText: $<HTMLTextAreaElement>('eval-text'),
    metrics: $<HTMLTableElement>('metrics'),
  };
  private worker: Worker | undefined;
  private compressed: Compressed | undefined;

  constructor(private readonly host: PanelHost) {
    this.ui.evalText.value = EVAL_TEXT;
    this.ui.compress.addEventListener('click', () => this.start());
    this.ui.cancel.addEventListener('click', () => this.cancel('Cancelled; the worker was stopped.'));
    this.ui.compare.addEventListener('click', () => void this.compare());
    this.ui.download.addEventListener('click', () => void this.download());
  }

  /** Enables what the page's state allows. */
  refresh(state: string): void {
    const loaded = this.host.loaded();
    const dense = loaded !== undefined && loaded.opened.replacements.size === 0;
    const ours = this.compressed !== undefined && this.compressed.opened === loaded?.opened;
    this.ui.compress.disabled = state !== 'ready' || !dense;
    this.ui.cancel.disabled = state !== 'compressing';
    this.ui.compare.disabled = state !== 'ready' || !ours;
    this.ui.download.disabled = state !== 'ready' || !ours;
    if (loaded && !dense && state === 'ready')
      this.status('This model is already compressed; load a dense model to compress it.');
    else if (!loaded && state === 'ready')
      this.status(
        'An ONNX export runs on onnxruntime-web; load a dense blastkit or llama2.c model to compress it.',
      );
  }

  private status(text: string, kind: '' | 'warn' | 'error' = ''): void {
    this.ui.status.textContent = text;
    this.ui.status.className = `status${kind ? ` ${kind}` : ''}`;
  }

  private request(opened: OpenedModel): CompressRequest {
    const method = this.ui.method.value as PageMethod;
    if (!PAGE_METHODS.includes(method)) throw new Error(`unknown method '${method}'`);
    const ratio = Number(this.ui.ratio.value);
    if (!(ratio > 0 && ratio <= 1)) throw new Error(`ratio must be in (0, 1], got ${this.ui.ratio.value}`);
    const int = (el: HTMLInputElement, what: string, min: number) => {
      const v = Number(el.value);
      if (!Number.isInteger(v) || v < min)
        throw new Error(`${what} must be an integer ≥ ${min}, got ${el.value}`);
      return v;
    };
    return {
      files: filesUnder(opened.folder),
      folder: opened.folder,
      method,
      ratio,
      blocks: int(this.ui.blocks, 'blocks', 1),
      steps: int(this.ui.steps, 'steps', 1),
      seed: int(this.ui.seed, 'seed', 0),
      targetModules: this.ui.modules.value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
      layers: parseLayers(this.ui.layers.value),
    };
  }

  private start(): void {
    const loaded = this.host.loaded();
    if (!loaded || this.worker) return;
    let request: CompressRequest;
    try {
      request = this.request(loaded.opened);
    } catch (err) {
      this.status((err as Error).message, 'error');
      return;
    }
    this.compressed = undefined;
    delete this.ui.status.dataset.seconds;
    this.ui.rows.replaceChildren();
    this.ui.progress.removeAttribute('value');
    this.status('Starting the worker…');
    const worker = new Worker(new URL('./compress-worker.ts', import.meta.url), { type: 'module' });
    this.worker = worker;
    this.host.setState('compressing');
    let total = 0;
    let done = 0;
    worker.onmessage = (event: MessageEvent<CompressMessage>) => {
      const m = event.data;
      switch (m.type) {
        case 'plan':
          total = m.modules.length;
          this.ui.progress.max = total;
          this.ui.progress.value = 0;
          this.status(`Compressing ${total} matrices with ${request.method} at ${request.ratio}…`);
          break;
        case 'step':
          this.ui.progress.value = done + m.step / m.total;
          this.status(`${done + 1} / ${total}: ${m.module}, step ${m.step} of ${m.total}`);
          break;
        case 'matrix': {
          done = m.index + 1;
          this.ui.progress.value = done;
          const row = document.createElement('tr');
          row.dataset.module = m.name;
          row.title = m.name;
          for (const text of [
            // '0.q_proj': the layer and the projection (the full name is the row's data-module and title)
            m.name.replace(/^model\.layers\./, '').replace(/\.(self_attn|mlp)\./, '.'),
            m.shape.join('×'),
            m.rank === null ? '—' : String(m.rank),
            m.relativeError.toFixed(4),
            m.seconds.toFixed(1),
          ]) {
            const cell = document.createElement('td');
            cell.textContent = text;
            row.append(cell);
          }
          this.ui.rows.append(row);
          break;
        }
        case 'done': {
          const replacements = new Map<string, StructuredMatrix>();
          for (const f of m.factors) {
            const parts = Object.fromEntries(
              Object.entries(f.tensors).map(([k, t]) => [k, new Tensor(t.shape, t.data)]),
            );
            replacements.set(f.module, structuredFromNamedTensors(f.kind as StructuredMatrix['kind'], parts));
          }
          const kept = [...replacements.values()].reduce((a, r) => a + r.parameterCount, 0);
          const dense = [...replacements.values()].reduce((a, r) => a + r.shape[0] * r.shape[1], 0);
          this.compressed = {
            opened: loaded.opened,
            replacements,
            info: {
              method: request.method,
              ratio: request.ratio,
              blocks: request.method === 'lowrank' || request.method === 'block-diag' ? null : request.blocks,
              seed: request.seed,
            },
          };
          this.ui.status.dataset.seconds = String(m.seconds);
          this.finish(
            `Done: ${replacements.size} ${replacements.size === 1 ? 'matrix' : 'matrices'} in ${m.seconds.toFixed(1)} s, ` +
              `${kept.toLocaleString('en')} of ${dense.toLocaleString('en')} parameters (${((100 * kept) / dense).toFixed(1)}%).`,
          );
          break;
        }
        case 'error':
          this.finish(`Compression failed: ${m.message}`, 'error');
          break;
      }
    };
    worker.onerror = (event) => this.finish(`The worker failed: ${event.message}`, 'error');
    worker.postMessage(request);
  }

  /** Ends the run: the worker is terminated whether it finished, failed or was cancelled. */
  private finish(text: string, kind: '' | 'warn' | 'error' = ''): void {
    this.worker?.terminate();
    this.worker = undefined;
    this.status(text, kind);
    this.host.setState('ready');
  }

  /** Stops a running compression at once (terminating the worker drops its work). */
  cancel(text: string): void {
    if (!this.worker) return;
    this.ui.progress.value = 0;
    this.finish(text, 'warn');
  }

  private async compare(): Promise<void> {
    const loaded = this.host.loaded();
    const compressed = this.compressed;
    if (!loaded || !compressed || compressed.opened !== loaded.opened) return;
    this.host.setState('comparing');
    const { text, maxTokens } = this.host.prompt();
    const tokenizer = loaded.opened.tokenizer;
    const prompt = tokenizer.encode(text, { bos: true });
    const promptText = tokenizer.decode(prompt);
    let small: LlamaModel | undefined;
    try {
      this.ui.compareStatus.textContent = 'Putting the compressed model on the backend…';
      small = await LlamaModel.load(loaded.opened.source, loaded.opened.config, {
        backend: loaded.chosen.backend,
        replacements: compressed.replacements,
        file: loaded.opened.description,
      });
      const runs: number[][] = [];
      for (const [model, output, speed] of [
        [loaded.model, this.ui.denseOutput, this.ui.denseSpeed],
        [small, this.ui.compressedOutput, this.ui.compressedSpeed],
      ] as const) {
        const tokens: number[] = [];
        output.textContent = promptText;
        speed.textContent = '';
        const start = performance.now();
        await generate(model, prompt, {
          maxTokens,
          temperature: 0,
          onToken: (t) => {
            tokens.push(t);
            output.textContent = tokenizer.decode([...prompt, ...tokens]);
          },
        });
        const seconds = (performance.now() - start) / 1000;
        output.dataset.tokens = JSON.stringify(tokens);
        speed.textContent = `${tokens.length} tokens, ${(tokens.length / seconds).toFixed(1)} tokens/s`;
        runs.push(tokens);
      }
      let agree = 0;
      while (agree < Math.min(runs[0].length, runs[1].length) && runs[0][agree] === runs[1][agree]) agree++;
      const summary = `The continuations agree on their first ${agree} of ${runs[0].length} tokens (linear parameters: dense ${(loaded.model.linearParameterCount() / 1e6).toFixed(2)} M, compressed ${(small.linearParameterCount() / 1e6).toFixed(2)} M).`;
      this.ui.compareStatus.textContent = `${summary} Scoring the text…`;
      await this.scoreText(loaded.model, small, tokenizer.encode(this.ui.evalText.value, { bos: true }));
      this.ui.compareStatus.textContent = summary;
    } catch (err) {
      this.ui.compareStatus.textContent = `Comparison failed: ${(err as Error).message}`;
    } finally {
      small?.dispose();
      this.host.setState('ready');
    }
  }

  /**
   * Perplexity of both models on the text (@blastkit/eval's sliding-window protocol, the model's full context),
   * the mean KL(dense ‖ compressed) of their next-token distributions and how often their top-1 agrees.
   */
  private async scoreText(dense: LlamaModel, small: LlamaModel, ids: number[]): Promise<void> {
    const table = this.ui.metrics;
    delete table.dataset.result;
    const cell = (key: string) => table.querySelector(`[data-metric="${key}"]`) as HTMLElement;
    for (const el of table.querySelectorAll<HTMLElement>('[data-metric]')) el.textContent = '…';
    if (ids.length < 2) throw new Error('the evaluation text needs at least 2 tokens');
    const protocol = defaultProtocol(dense);
    const r = await compareModels(dense, small, ids, protocol);
    cell('ppl-dense').textContent = r.reference.perplexity.toFixed(3);
    cell('ppl-compressed').textContent = r.candidate.perplexity.toFixed(3);
    cell('kl').textContent = r.klDivergence.toFixed(4);
    cell('top1').textContent = `${(100 * r.top1Agreement).toFixed(1)}%`;
    cell('tokens').textContent =
      `${r.tokens} tokens scored (windows of ${protocol.window}, stride ${protocol.stride})`;
    // the unrounded figures, for whoever checks them (the browser test recomputes them in Node)
    table.dataset.result = JSON.stringify({
      tokens: r.tokens,
      denseNll: r.reference.nll,
      compressedNll: r.candidate.nll,
      densePerplexity: r.reference.perplexity,
      compressedPerplexity: r.candidate.perplexity,
      klDivergence: r.klDivergence,
      top1Agreement: r.top1Agreement,
      protocol,
    });
  }

  private async download(): Promise<void> {
    const compressed = this.compressed;
    if (!compressed) return;
    this.ui.download.disabled = true;
    this.ui.compareStatus.textContent = 'Writing the folder…';
    try {
      const zip = await compressedFolderZip(compressed.opened, compressed.replacements, compressed.info);
      const a = document.createElement('a');
      a.href = URL.createObjectURL(zip);
      a.download = `compressed-${compressed.info.method}-${compressed.info.ratio}.zip`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
      this.ui.compareStatus.textContent = `Downloaded ${a.download} (${(zip.size / 2 ** 20).toFixed(1)} MiB).`;
    } catch (err) {
      this.ui.compareStatus.textContent = `Download failed: ${(err as Error).message}`;
    } finally {
      this.ui.download.disabled = false;
    }
  }
}
