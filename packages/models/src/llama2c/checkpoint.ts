import { type FileHandle, open } from 'node:fs/promises';
import { Tensor } from '@blastkit/core';
import { type LlamaConfig, llamaWeightShapes, validateLlamaConfig } from '../llama/config.js';
import { expectFiniteWeights, ModelFormatError, type TensorSource } from '../tensor-source.js';

const MAGIC_V1 = 0x616b3432; // "ak42"
/** The most bytes one read asks for: Node's fs.read refuses more than 2 GiB − 1 at once. */
export const READ_CHUNK_BYTES = 1 << 30;
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
const V1_HEADER_BYTES = 256;
const V0_HEADER_BYTES = 7 * 4;

interface Placement {
  offset: number;
  shape: number[];
  /** Rows to un-interleave for Hugging Face's RoPE layout (q and k projections): the head count. */
  permuteHeads?: number;
}

/**
 * A llama2.c checkpoint (`run.c`'s legacy v0 header or `export.py`'s v1 format, float32) as a TensorSource
 * under Hugging Face LlamaForCausalLM names. Tensors are read one at a time from the file handle.
 *
 * llama2.c rotates adjacent pairs (2i, 2i+1) of each head (Meta's layout); Hugging Face rotates (i, i + d/2).
 * q_proj and k_proj rows are permuted here exactly as transformers' convert_llama_weights_to_hf does, so the
 * model is always in Hugging Face's layout and saves as a checkpoint transformers loads.
 */
export class Llama2cCheckpoint implements TensorSource {
  /** Largest single read, in bytes (Node refuses reads over 2 GiB − 1); tests set it small. */
  chunkBytes = READ_CHUNK_BYTES;

  private constructor(
    readonly path: string,
    readonly config: LlamaConfig,
    readonly version: 0 | 1,
    private handle: FileHandle | undefined,
    private readonly placements: Map<string, Placement>,
  ) {}

  static async open(path: string): Promise<Llama2cCheckpoint> {
    const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
      throw new ModelFormatError(path, `cannot open: ${err.code ?? err.message}`);
    });
    try {
      const size = (await handle.stat()).size;
      if (size < V0_HEADER_BYTES)
        throw new ModelFormatError(path, `${size} bytes is too short for a llama2.c header`);
      const head = Buffer.alloc(Math.min(V1_HEADER_BYTES, size));
      await handle.read(head, 0, head.length, 0);
      const version = head.readUInt32LE(0) === MAGIC_V1 ? 1 : 0;
      let ints: number[];
      let shared: boolean;
      if (version === 1) {
        if (size < V1_HEADER_BYTES) throw new ModelFormatError(path, 'truncated v1 header (needs 256 bytes)');
        const fileVersion = head.readInt32LE(4);
        if (fileVersion !== 1)
          throw new ModelFormatError(
            path,
            `llama2.c format version ${fileVersion} is not supported (0 and 1 are; 2 is int8)`,
          );
        ints = Array.from({ length: 7 }, (_, i) => head.readInt32LE(8 + 4 * i));
        shared = head[36] === 1;
      } else {
        ints = Array.from({ length: 7 }, (_, i) => head.readInt32LE(4 * i));
        shared = ints[5] > 0; // v0 marks an untied head with a negative vocab size
        ints[5] = Math.abs(ints[5]);
      }
      const [dim, hidden, layers, heads, kvHeads, vocab, seqLen] = ints;
      const names = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'];
      ints.forEach((v, i) => {
        if (!(v > 0 && v < 1 << 24))
          throw new ModelFormatError(
            path,
            `header field ${names[i]} = ${v} is not plausible (not a llama2.c checkpoint?)`,
          );
      });
      if (dim % heads !== 0)
        throw new ModelFormatError(path, `dim ${dim} is not a multiple of n_heads ${heads}`);
      const config: LlamaConfig = {
        modelType: 'llama',
        hiddenSize: dim,
        intermediateSize: hidden,
        numLayers: layers,
        numHeads: heads,
        numKvHeads: kvHeads,
        headDim: dim / heads,
        vocabSize: vocab,
        maxPositionEmbeddings: seqLen,
        rmsNormEps: 1e-5, // run.c's rmsnorm
        ropeTheta: 10000,
        tieWordEmbeddings: shared,
        bosTokenId: 1,
        eosTokenId: 2,
      };
      validateLlamaConfig(config, path);
      // the size first: a header of implausible but in-range fields (16M layers) must not build a huge layout
      const end = expectedSize(config, version);
      if (end !== size)
        throw new ModelFormatError(
          path,
          `is ${size} bytes but its header (v${version}: dim ${dim}, hidden ${hidden}, ${layers} layers, vocab ${vocab}, ` +
            `${shared ? 'tied' : 'untied'} head) implies ${end}${size < end ? ' (truncated?)' : ''}`,
        );
      return new Llama2cCheckpoint(path, config, version, handle, layout(config, version).placements);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  names(): string[] {
    return [...this.placements.keys()];
  }

  shapeOf(name: string): readonly number[] {
    return this.placement(name).shape;
  }

  async readTensor(name: string): Promise<Tensor> {
    const { offset, shape, permuteHeads } = this.placement(name);
    if (this.handle === undefined) throw new ModelFormatError(this.path, 'checkpoint is closed');
    const count = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(count);
    const bytes = new Uint8Array(data.buffer);
    const bytesRead = await readChunked(this.handle, bytes, offset, this.chunkBytes);
    if (bytesRead !== bytes.length)
      throw new ModelFormatError(
        this.path,
        `short read of tensor '${name}': ${bytesRead} of ${bytes.length} bytes (truncated after it was opened?)`,
      );
    if (!LITTLE_ENDIAN) {
      const view = new DataView(data.buffer);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, true);
    }
    const tensor = new Tensor(shape, permuteHeads ? metaToHfRows(data, shape, permuteHeads) : data);
    expectFiniteWeights(this.path, name, tensor);
    return tensor;
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    await h?.close();
  }

  private placement(name: string): Placement {
    const p = this.placements.get(name);
    if (p === undefined) throw new ModelFormatError(this.path, `has no tensor '${name}'`);
    return p;
  }
}

/**
 * Reads `out.length` bytes at `position` in reads of at most `chunk` bytes (a tensor of 2 GiB or more needs
 * several). Returns the bytes read: fewer than asked only when the file ends first.
 */
export async function readChunked(
  handle: Pick<FileHandle, 'read'>,
  out: Uint8Array,
  position: number,
  chunk: number = READ_CHUNK_BYTES,
): Promise<number> {
  let done = 0;
  while (done < out.length) {
    const { bytesRead } = await handle.read(out, done, Math.min(chunk, out.length - done), position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** The size in bytes a v0 or v1 file of this config has: the header, every weight, v0's RoPE tables. */
function expectedSize(c: LlamaConfig, version: 0 | 1): number {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const perLayer =
    2 * c.hiddenSize + 2 * q * c.hiddenSize + 2 * kv * c.hiddenSize + 3 * c.intermediateSize * c.hiddenSize;
  const embed = c.vocabSize * c.hiddenSize;
  let floats = c.numLayers * perLayer + c.hiddenSize + embed + (c.tieWordEmbeddings ? 0 : embed);
  if (version === 0) floats += c.maxPositionEmbeddings * c.headDim; // freq_cis_real and _imag, headDim/2 each
  return (version === 1 ? V1_HEADER_BYTES : V0_HEADER_BYTES) + 4 * floats;
}

/** Where every tensor sits in a v0 or v1 file, and where the file must end. */
function layout(c: LlamaConfig, version: 0 | 1): { placements: Map<string, Placement>; end: number } {
  const shapes = llamaWeightShapes(c);
  const placements = new Map<string, Placement>();
  let offset = version === 1 ? V1_HEADER_BYTES : V0_HEADER_BYTES;
  const put = (name: string, permuteHeads?: number) => {
    const shape = shapes.get(name) ?? (name === 'lm_head.weight' ? [c.vocabSize, c.hiddenSize] : undefined);
    if (shape === undefined) throw new Error(`llama2c layout: no shape for ${name}`);
    placements.set(name, { offset, shape, ...(permuteHeads ? { permuteHeads } : {}) });
    offset += 4 * shape.reduce((a, b) => a * b, 1);
  };
  const perLayer = (suffix: string, permuteHeads?: number) => {
    for (let l = 0; l < c.numLayers; l++) put(`model.layers.${l}.${suffix}`, permuteHeads);
  };
  const projections = () => {
    perLayer('self_attn.q_proj.weight', c.numHeads);
    perLayer('self_attn.k_proj.weight', c.numKvHeads);
    perLayer('self_attn.v_proj.weight');
    perLayer('self_attn.o_proj.weight');
  };
  const mlp = () => {
    perLayer('mlp.gate_proj.weight'); // w1
    perLayer('mlp.down_proj.weight'); // w2
    perLayer('mlp.up_proj.weight'); // w3
  };
  if (version === 0) {
    put('model.embed_tokens.weight');
    perLayer('input_layernorm.weight');
    projections();
    perLayer('post_attention_layernorm.weight');
    mlp();
    put('model.norm.weight');
    offset += 2 * 4 * c.maxPositionEmbeddings * (c.headDim / 2); // legacy RoPE tables (freq_cis_real/imag)
  } else {
    perLayer('input_layernorm.weight');
    perLayer('post_attention_layernorm.weight');
    put('model.norm.weight');
    put('model.embed_tokens.weight');
    projections();
    mlp();
  }
  if (!c.tieWordEmbeddings) put('lm_head.weight');
  return { placements, end: offset };
}

/**
 * Meta's q/k row order (per head, rows 2j and 2j+1 are a rotary pair) → Hugging Face's (rows j and j + d/2):
 * HF row h·d + t·d/2 + j = Meta row h·d + 2j + t, as in transformers' `permute`.
 */
function metaToHfRows(data: Float32Array, shape: number[], heads: number): Float32Array {
  const [rows, cols] = shape;
  const d = rows / heads;
  const half = d / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++)
    for (let t = 0; t < 2; t++)
      for (let j = 0; j < half; j++) {
        const src = (h * d + 2 * j + t) * cols;
        out.set(data.subarray(src, src + cols), (h * d + t * half + j) * cols);
      }
  return out;
}
