/**
 * A compressed model as a blastkit folder in memory (config.json with `compression_config`, model.safetensors,
 * the tokenizer), zipped for download: the layout `blastkit compress` writes, so the CLI opens the result.
 */

import type { StructuredMatrix } from '@blastkit/core';
import {
  COMPRESSION_FORMAT_VERSION,
  type CompressionConfig,
  describeStructure,
  llamaConfigToHf,
} from '@blastkit/models';
import type { OpenedModel } from './model-files.js';
import { getFile } from './virtual-files.js';
import { zipStore } from './zip.js';

interface Entry {
  name: string;
  shape: readonly number[];
  load: () => Promise<Float32Array>;
}

/** The UTF-8 byte order of two strings (the safetensors layout sorts names so). */
function compareUtf8(a: string, b: string): number {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/**
 * float32 tensors as safetensors bytes in the layout `@blastkit/safetensors`' writer (and the reference
 * library) uses: tensors by name, the header with `__metadata__` first, padded with spaces to 8 bytes. Each
 * tensor is read when its turn comes, so one dense tensor at a time is in memory besides the Blob's parts.
 */
export async function safetensorsBlob(entries: Entry[], metadata: Record<string, string>): Promise<Blob> {
  const sorted = [...entries].sort((a, b) => compareUtf8(a.name, b.name));
  let offset = 0;
  const parts: string[] = [];
  const keys = Object.keys(metadata).sort(compareUtf8);
  parts.push(
    `"__metadata__":{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',')}}`,
  );
  for (const e of sorted) {
    const bytes = 4 * e.shape.reduce((a, b) => a * b, 1);
    parts.push(
      `${JSON.stringify(e.name)}:{"dtype":"F32","shape":[${e.shape.join(',')}],"data_offsets":[${offset},${offset + bytes}]}`,
    );
    offset += bytes;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const header = new Uint8Array(json.length + ((8 - (json.length % 8)) % 8)).fill(0x20);
  header.set(json);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(header.length), true);
  const blobParts: BlobPart[] = [prefix, header];
  // float32 arrays are little-endian on every platform a browser runs WebGPU on; checked, not assumed
  if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1)
    throw new Error('big-endian hosts are not supported');
  for (const e of sorted) {
    const data = await e.load();
    const bytes = new Uint8Array(data.byteLength);
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    blobParts.push(bytes);
  }
  return new Blob(blobParts);
}

/** The compressed model's folder as a zip: config.json, model.safetensors and the tokenizer beside them. */
export async function compressedFolderZip(
  opened: OpenedModel,
  replacements: ReadonlyMap<string, StructuredMatrix>,
  info: { method: string; ratio: number; blocks: number | null; seed: number },
): Promise<Blob> {
  const entries: Entry[] = [];
  const modules: CompressionConfig['modules'] = {};
  for (const name of opened.source.names()) {
    const module = name.endsWith('.weight') ? name.slice(0, -'.weight'.length) : undefined;
    const structured = module === undefined ? undefined : replacements.get(module);
    if (module === undefined || structured === undefined) {
      entries.push({
        name,
        shape: opened.source.shapeOf(name),
        load: async () => (await opened.source.readTensor(name)).data,
      });
      continue;
    }
    for (const [part, t] of Object.entries(structured.toNamedTensors()))
      entries.push({ name: `${module}.${part}`, shape: t.shape, load: async () => t.data });
    modules[module] = describeStructure(structured);
  }
  const config = {
    ...llamaConfigToHf(opened.config),
    compression_config: {
      format_version: COMPRESSION_FORMAT_VERSION,
      ...info,
      source_model: opened.description,
      modules,
    },
  };
  const files: [string, Blob][] = [
    ['config.json', new Blob([`${JSON.stringify(config, null, 2)}\n`])],
    ['model.safetensors', await safetensorsBlob(entries, { format: 'pt' })],
  ];
  for (const tokenizer of ['tokenizer.bin', 'tokenizer.json']) {
    const blob = getFile(`${opened.folder}/${tokenizer}`);
    if (blob) files.push([tokenizer, blob]);
  }
  return zipStore(files);
}
