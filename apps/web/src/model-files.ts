import type { StructuredMatrix, Tensor } from '@blastkit/core';
import {
  HfTokenizer,
  Llama2cCheckpoint,
  Llama2cTokenizer,
  type LlamaConfig,
  openLlamaFolder,
  type TensorSource,
  type TextTokenizer,
} from '@blastkit/models';
import { type OnnxDecoderShape, onnxDecoderShape } from './onnx-model.js';
import { filesUnder, getFile, putFile, removeFolder } from './virtual-files.js';

/** Bytes so far of what is being read, and the total when known. */
export type ProgressFn = (done: number, total: number | undefined, what: string) => void;

/** A model opened from the page's virtual files: weights not read yet. */
export interface OpenedModel {
  kind: 'llama';
  description: string;
  /** The virtual folder the model's files live in (what a worker needs to open it again). */
  folder: string;
  config: LlamaConfig;
  source: TensorSource;
  replacements: Map<string, StructuredMatrix>;
  biases: Map<string, Tensor>;
  tokenizer: TextTokenizer;
  /** Compression method when the folder is a blastkit compressed folder. */
  method?: string;
}

/** An exported ONNX decoder folder (`blastkit export … --onnx`): run by onnxruntime-web, not compressed here. */
export interface OpenedOnnx {
  kind: 'onnx';
  description: string;
  folder: string;
  shape: OnnxDecoderShape;
  /** The .onnx file (onnxruntime-web takes the model's bytes whole). */
  model: Blob;
  tokenizer: TextTokenizer;
}

let folders = 0;

/** A fresh virtual folder for one model's files. */
function newFolder(kind: string): string {
  folders += 1;
  return `/${kind}/${folders}`;
}

/**
 * Fetches one URL into a Blob chunk by chunk (the body is streamed, so progress is known as it arrives), or
 * undefined on a 404 when `optional`.
 */
async function fetchBlob(url: string, onProgress: ProgressFn, optional = false): Promise<Blob | undefined> {
  const response = await fetch(url);
  if (optional && response.status === 404) return undefined;
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`);
  const length = Number(response.headers.get('content-length'));
  const total = Number.isFinite(length) && length > 0 ? length : undefined;
  const name = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? url);
  if (!response.body) return response.blob();
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let done = 0;
  onProgress(0, total, name);
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    chunks.push(value);
    done += value.length;
    onProgress(done, total, name);
  }
  return new Blob(chunks as BlobPart[]);
}

/**
 * Fetches a model from a URL into the page's files: a llama2.c `.bin` (its tokenizer.bin beside it), or a
 * folder URL ending in '/' holding config.json, model.safetensors (or its shard index and shards) and
 * tokenizer.bin or tokenizer.json. Returns the virtual folder.
 */
export async function fetchModel(url: string, onProgress: ProgressFn): Promise<string> {
  const base = new URL(url, location.href);
  const folder = newFolder('url');
  const put = async (name: string, optional = false) => {
    const blob = await fetchBlob(new URL(name, base).href, onProgress, optional);
    if (blob) putFile(`${folder}/${name}`, blob);
    return blob !== undefined;
  };
  try {
    if (base.pathname.endsWith('/')) {
      await put('config.json');
      const config = JSON.parse(await (getFile(`${folder}/config.json`) as Blob).text());
      const onnx = onnxFileOf(config);
      if (onnx) {
        // an ONNX export: the graph under onnx/, and the tokenizer.json transformers.js reads
        await put(`onnx/${onnx}`);
        await put('tokenizer.json');
      } else if (await put('model.safetensors.index.json', true)) {
        const index = JSON.parse(await (getFile(`${folder}/model.safetensors.index.json`) as Blob).text());
        const shards = new Set(Object.values(index.weight_map ?? {}) as string[]);
        for (const shard of shards) await put(shard);
      } else await put('model.safetensors');
      if (!(await put('tokenizer.bin', true))) await put('tokenizer.json', true);
    } else {
      const name = decodeURIComponent(base.pathname.split('/').pop() ?? '');
      if (!name.endsWith('.bin'))
        throw new Error(`${url}: expected a llama2.c .bin or a folder URL ending in '/'`);
      await put(name);
      await put('tokenizer.bin');
    }
  } catch (err) {
    removeFolder(folder);
    throw err;
  }
  return folder;
}

/**
 * The ONNX file an exported folder's config.json names (transformers.js's `dtype` → file name), or undefined
 * when the folder is not an ONNX export.
 */
function onnxFileOf(config: Record<string, unknown>): string | undefined {
  const tjs = config['transformers.js_config'] as { dtype?: string } | undefined;
  if (!tjs) return undefined;
  const byDtype: Record<string, string> = { q8: 'model_quantized.onnx', q4: 'model_q4.onnx' };
  return byDtype[tjs.dtype ?? ''] ?? 'model.onnx';
}

/**
 * Puts files the user picked (a folder's files, or a .bin with its tokenizer.bin) into a virtual folder. A
 * picked folder's files carry their relative paths; only the folder's own files count, by name, and .onnx
 * files, which an export keeps under onnx/.
 */
export function addPickedFiles(files: Iterable<File>): string {
  const folder = newFolder('picked');
  for (const file of files)
    putFile(`${folder}/${file.name.endsWith('.onnx') ? 'onnx/' : ''}${file.name}`, file);
  return folder;
}

/** Opens an exported ONNX folder: the decoder's shape from config.json, the tokenizer, the .onnx file. */
async function openOnnx(folder: string, names: string[]): Promise<OpenedOnnx> {
  const config = JSON.parse(await (getFile(`${folder}/config.json`) as Blob).text());
  const wanted = onnxFileOf(config) ?? 'model.onnx';
  const file = names.includes(`onnx/${wanted}`) ? wanted : undefined;
  if (!file)
    throw new Error(`this ONNX export's config.json names onnx/${wanted}, which is not among its files`);
  if (!names.includes('tokenizer.json')) throw new Error('an ONNX export needs its tokenizer.json beside it');
  const shape = onnxDecoderShape(config);
  return {
    kind: 'onnx',
    description: `ONNX export (${file}, ${String(config.model_type ?? 'decoder')})`,
    folder,
    shape,
    model: getFile(`${folder}/onnx/${file}`) as Blob,
    tokenizer: await HfTokenizer.load(`${folder}/tokenizer.json`),
  };
}

/**
 * Opens the model in a virtual folder: a blastkit / Hugging Face Llama folder, a llama2.c checkpoint, or an
 * ONNX export.
 */
export async function openModel(folder: string): Promise<OpenedModel | OpenedOnnx> {
  const names = filesUnder(folder).map(([path]) => path.slice(folder.length + 1));
  if (names.includes('config.json') && names.some((n) => n.startsWith('onnx/') && n.endsWith('.onnx')))
    return openOnnx(folder, names);
  return openLlama(folder, names);
}

/** Opens a blastkit / Hugging Face Llama folder, or a llama2.c checkpoint. */
export async function openLlama(folder: string, names?: string[]): Promise<OpenedModel> {
  names ??= filesUnder(folder).map(([path]) => path.slice(folder.length + 1));
  const tokenizerName = names.includes('tokenizer.bin')
    ? 'tokenizer.bin'
    : names.includes('tokenizer.json')
      ? 'tokenizer.json'
      : undefined;
  if (!tokenizerName) throw new Error(`no tokenizer.bin or tokenizer.json among ${names.join(', ')}`);
  if (names.includes('config.json')) {
    const opened = await openLlamaFolder(folder);
    try {
      const tokenizer =
        tokenizerName === 'tokenizer.bin'
          ? await Llama2cTokenizer.load(`${folder}/tokenizer.bin`, opened.config.vocabSize)
          : await HfTokenizer.load(`${folder}/tokenizer.json`);
      const method = opened.compression?.method;
      return {
        kind: 'llama',
        description: method
          ? `Llama folder, compressed (${method}, ${opened.replacements.size} structured layers)`
          : 'Llama folder (dense)',
        folder,
        ...opened,
        tokenizer,
        ...(method ? { method } : {}),
      };
    } catch (err) {
      await opened.source.close();
      throw err;
    }
  }
  const bin = names.find((n) => n.endsWith('.bin') && n !== 'tokenizer.bin');
  if (!bin)
    throw new Error(`expected config.json (a model folder) or a llama2.c .bin among ${names.join(', ')}`);
  const ck = await Llama2cCheckpoint.open(`${folder}/${bin}`);
  try {
    const tokenizer = await Llama2cTokenizer.load(`${folder}/tokenizer.bin`, ck.config.vocabSize);
    return {
      kind: 'llama',
      description: `${bin} (llama2.c v${ck.version})`,
      folder,
      config: ck.config,
      source: ck,
      replacements: new Map(),
      biases: new Map(),
      tokenizer,
    };
  } catch (err) {
    await ck.close();
    throw err;
  }
}

/** A source that reports each tensor as it is read, so loading weights onto the device shows progress. */
export function withReadProgress(
  source: TensorSource,
  onTensor: (read: number, total: number) => void,
): TensorSource {
  const total = source.names().length;
  let read = 0;
  return {
    names: () => source.names(),
    shapeOf: (name) => source.shapeOf(name),
    readTensor: async (name) => {
      const t = await source.readTensor(name);
      read += 1;
      onTensor(read, total);
      return t;
    },
    close: () => source.close(),
  };
}
