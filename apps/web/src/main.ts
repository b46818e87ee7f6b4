/**
 * The page: load a model (URL or picked files), put it on WebGPU (or the CPU reference), generate greedily; an
 * ONNX export runs on onnxruntime-web instead (its WebGPU EP, else WASM).
 * `document.body.dataset.state` says what the page is doing, so a person and a test see the same thing.
 */
import { generate, LlamaModel } from '@blastkit/models';
import { type BackendPreference, type ChosenBackend, chooseBackend } from './backend-choice.js';
import { CompressPanel } from './compress-panel.js';
import {
  addPickedFiles,
  fetchModel,
  type OpenedModel,
  type OpenedOnnx,
  openModel,
  withReadProgress,
} from './model-files.js';
import { OnnxDecoder } from './onnx-model.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  urlForm: $<HTMLFormElement>('url-form'),
  url: $<HTMLInputElement>('model-url'),
  loadUrl: $<HTMLButtonElement>('load-url'),
  files: $<HTMLInputElement>('model-files'),
  folder: $<HTMLInputElement>('model-folder'),
  backend: $<HTMLSelectElement>('backend'),
  progress: $<HTMLProgressElement>('load-progress'),
  loadStatus: $('load-status'),
  backendStatus: $('backend-status'),
  fallback: $('fallback-reason'),
  prompt: $<HTMLTextAreaElement>('prompt'),
  maxTokens: $<HTMLInputElement>('max-tokens'),
  generate: $<HTMLButtonElement>('generate'),
  stop: $<HTMLButtonElement>('stop'),
  output: $('output'),
  speed: $('speed'),
};

type PageState = 'idle' | 'loading' | 'ready' | 'generating' | 'compressing' | 'comparing' | 'error';

interface LoadedLlama {
  kind: 'llama';
  opened: OpenedModel;
  chosen: ChosenBackend;
  model: LlamaModel;
}
interface LoadedOnnx {
  kind: 'onnx';
  opened: OpenedOnnx;
  decoder: OnnxDecoder;
}
let loaded: LoadedLlama | LoadedOnnx | undefined;
let stopper: AbortController | undefined;
const panel = new CompressPanel({
  // an ONNX export is run, not compressed: the compress and compare cards see no model
  loaded: () => (loaded?.kind === 'llama' ? loaded : undefined),
  setState,
  prompt: () => ({
    text: ui.prompt.value,
    maxTokens: Math.max(1, Math.min(256, Number(ui.maxTokens.value) || 32)),
  }),
});

function setState(state: PageState): void {
  document.body.dataset.state = state;
  ui.generate.disabled = state !== 'ready' || !loaded;
  ui.stop.disabled = state !== 'generating';
  const busy =
    state === 'loading' || state === 'generating' || state === 'compressing' || state === 'comparing';
  for (const el of [ui.url, ui.loadUrl, ui.files, ui.folder, ui.backend]) el.disabled = busy;
  panel.refresh(state);
}

function status(el: HTMLElement, text: string, kind: '' | 'warn' | 'error' = ''): void {
  el.textContent = text;
  el.className = `status${kind ? ` ${kind}` : ''}`;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

async function unload(): Promise<void> {
  if (!loaded) return;
  const was = loaded;
  loaded = undefined;
  if (was.kind === 'onnx') return was.decoder.release();
  was.model.dispose();
  await was.chosen.backend.close?.();
  await was.opened.source.close();
}

/** Shows the line of the backend that answered, and why WebGPU was not used when it was not. */
function showBackend(line: string, name: string, fallbackReason: string | undefined): void {
  status(ui.backendStatus, `Backend: ${line}`);
  ui.backendStatus.dataset.backend = name;
  ui.fallback.hidden = fallbackReason === undefined;
  if (fallbackReason) status(ui.fallback, `WebGPU not used: ${fallbackReason}`, 'warn');
}

/** Opens an ONNX export's graph in onnxruntime-web. */
async function loadOnnx(opened: OpenedOnnx): Promise<void> {
  status(ui.loadStatus, `Starting onnxruntime-web on ${mib(opened.model.size)} of ONNX…`);
  const bytes = new Uint8Array(await opened.model.arrayBuffer());
  const decoder = await OnnxDecoder.create(bytes, opened.shape, ui.backend.value as BackendPreference);
  showBackend(decoder.line, `ort-${decoder.provider}`, decoder.fallbackReason);
  loaded = { kind: 'onnx', opened, decoder };
  const s = opened.shape;
  status(
    ui.loadStatus,
    `Loaded ${opened.description}: ${s.numLayers} layers, vocab ${s.vocabSize}, on onnxruntime-web (${decoder.provider}).`,
  );
}

/** Reads the model in `folder` onto the chosen backend, showing each step. */
async function loadFolder(folder: () => Promise<string>): Promise<void> {
  setState('loading');
  ui.output.textContent = '';
  ui.speed.textContent = '';
  try {
    await unload();
    ui.progress.removeAttribute('value');
    const dir = await folder();
    status(ui.loadStatus, 'Opening the model…');
    const opened = await openModel(dir);
    if (opened.kind === 'onnx') {
      await loadOnnx(opened);
      setState('ready');
      return;
    }
    const chosen = await chooseBackend(ui.backend.value as BackendPreference);
    showBackend(chosen.line, chosen.backend.describe().name, chosen.fallbackReason);
    const source = withReadProgress(opened.source, (read, total) => {
      ui.progress.max = total;
      ui.progress.value = read;
      status(
        ui.loadStatus,
        `Putting weights on ${chosen.backend.describe().name}: ${read} / ${total} tensors`,
      );
    });
    const model = await LlamaModel.load(source, opened.config, {
      backend: chosen.backend,
      replacements: opened.replacements,
      biases: opened.biases,
      file: opened.description,
    });
    loaded = { kind: 'llama', opened, chosen, model };
    const c = opened.config;
    status(
      ui.loadStatus,
      `Loaded ${opened.description}: ${c.numLayers} layers, dim ${c.hiddenSize}, vocab ${c.vocabSize}, ` +
        `${(model.linearParameterCount() / 1e6).toFixed(2)} M linear parameters.`,
    );
    setState('ready');
  } catch (err) {
    status(ui.loadStatus, `Could not load the model: ${(err as Error).message}`, 'error');
    setState('error');
  }
}

ui.urlForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void loadFolder(() =>
    fetchModel(ui.url.value.trim(), (done, total, what) => {
      if (total) {
        ui.progress.max = total;
        ui.progress.value = done;
      }
      status(ui.loadStatus, `Reading ${what}: ${mib(done)}${total ? ` of ${mib(total)}` : ''}`);
    }),
  );
});

for (const input of [ui.files, ui.folder])
  input.addEventListener('change', () => {
    const files = [...(input.files ?? [])];
    if (files.length > 0) void loadFolder(async () => addPickedFiles(files));
  });

ui.backend.addEventListener('change', () => {
  const folder = loaded?.opened.folder;
  if (folder) void loadFolder(async () => folder);
});

ui.generate.addEventListener('click', async () => {
  if (!loaded) return;
  const run = loaded;
  const tokenizer = run.opened.tokenizer;
  setState('generating');
  stopper = new AbortController();
  const prompt = tokenizer.encode(ui.prompt.value, { bos: true });
  const promptText = tokenizer.decode(prompt);
  const tokens: number[] = [];
  ui.output.replaceChildren();
  const promptEl = document.createElement('span');
  promptEl.className = 'prompt';
  promptEl.textContent = promptText;
  const continuation = document.createElement('span');
  ui.output.append(promptEl, continuation);
  ui.output.dataset.tokens = '[]';
  ui.speed.textContent = '';
  delete ui.speed.dataset.seconds;
  const start = performance.now();
  try {
    const options = {
      maxTokens: Math.max(1, Math.min(256, Number(ui.maxTokens.value) || 32)),
      signal: stopper.signal,
      onToken: (token: number) => {
        tokens.push(token);
        ui.output.dataset.tokens = JSON.stringify(tokens);
        // the whole continuation each time: a piece can be half of a multi-byte character
        continuation.textContent = tokenizer.decode([...prompt, ...tokens]).slice(promptText.length);
        const seconds = (performance.now() - start) / 1000;
        status(ui.speed, `${tokens.length} tokens, ${(tokens.length / seconds).toFixed(1)} tokens/s`);
      },
    };
    if (run.kind === 'onnx') await run.decoder.generate(prompt, options);
    else await generate(run.model, prompt, { ...options, temperature: 0 });
    const seconds = (performance.now() - start) / 1000;
    const on =
      run.kind === 'onnx' ? `onnxruntime-web ${run.decoder.provider}` : run.chosen.backend.describe().name;
    status(
      ui.speed,
      `${tokens.length} tokens in ${seconds.toFixed(2)} s: ${(tokens.length / seconds).toFixed(1)} tokens/s on ${on}`,
    );
    // the figures, unrounded, for whoever records them (the test's bench JSON)
    ui.speed.dataset.tokens = String(tokens.length);
    ui.speed.dataset.seconds = String(seconds);
  } catch (err) {
    if (!stopper.signal.aborted) status(ui.speed, `Generation failed: ${(err as Error).message}`, 'error');
    else status(ui.speed, `Stopped after ${tokens.length} tokens.`);
  }
  setState('ready');
});

ui.stop.addEventListener('click', () => stopper?.abort(new Error('stopped')));

// `?model=URL` loads at once (a link that opens a model; how the test starts the page)
const initial = new URLSearchParams(location.search);
const backendParam = initial.get('backend');
if (backendParam === 'cpu' || backendParam === 'webgpu' || backendParam === 'auto')
  ui.backend.value = backendParam;
const modelParam = initial.get('model');
setState('idle');
if (modelParam) {
  ui.url.value = modelParam;
  ui.urlForm.requestSubmit();
}
