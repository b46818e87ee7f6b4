import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelFormatError } from '../tensor-source.js';

/** What generation and evaluation need from a tokenizer; the llama2.c and Hugging Face ones both fit. */
export interface TextTokenizer {
  encode(text: string, options?: { bos?: boolean }): number[];
  decode(tokens: readonly number[]): string;
}

/**
 * A Hugging Face `tokenizer.json` (with its `tokenizer_config.json` when present), through
 * `@huggingface/tokenizers` (pure JS; ids identical to the Python `tokenizers` library). Special tokens are
 * left to the caller: `bos: true` prepends the config's BOS token id, as llama2.c's encode does.
 */
export class HfTokenizer implements TextTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly bosId: number | undefined,
    readonly eosId: number | undefined,
    readonly path: string,
  ) {}

  /** From a tokenizer.json path, or a folder holding one. Every problem is a ModelFormatError naming the file. */
  static async load(path: string): Promise<HfTokenizer> {
    const file = (await stat(path).catch(() => undefined))?.isDirectory()
      ? join(path, 'tokenizer.json')
      : path;
    const json = await readJsonObject(file, 'a tokenizer.json');
    const configPath = join(file, '..', 'tokenizer_config.json');
    const config = existsSync(configPath) ? await readJsonObject(configPath, 'a tokenizer_config.json') : {};
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, config);
    } catch (err) {
      throw new ModelFormatError(file, `not a tokenizer @huggingface/tokenizers can build: ${describe(err)}`);
    }
    const idOf = (key: 'bos_token' | 'eos_token', fallback: string) => {
      const token = config[key] ?? fallback;
      const text =
        typeof token === 'string'
          ? token
          : typeof token === 'object' && token !== null
            ? (token as { content?: unknown }).content
            : undefined;
      if (text === undefined) return undefined;
      if (typeof text !== 'string')
        throw new ModelFormatError(configPath, `${key} must be a string or { "content": string }`);
      let ids: number[];
      try {
        ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
      } catch (err) {
        throw new ModelFormatError(
          file,
          `cannot encode the ${key} ${JSON.stringify(text)}: ${describe(err)}`,
        );
      }
      return ids.length === 1 ? ids[0] : undefined;
    };
    return new HfTokenizer(tokenizer, idOf('bos_token', '<s>'), idOf('eos_token', '</s>'), file);
  }

  encode(text: string, options: { bos?: boolean } = {}): number[] {
    let ids: number[];
    try {
      ids = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    } catch (err) {
      // a tokenizer.json the library builds can still fail on text (a malformed model section): name the file
      throw new ModelFormatError(this.path, `cannot encode text: ${describe(err)}`);
    }
    return options.bos && this.bosId !== undefined ? [this.bosId, ...ids] : ids;
  }

  decode(tokens: readonly number[]): string {
    if (tokens.length === 0) return ''; // the library refuses an empty list
    try {
      return this.tokenizer.decode([...tokens], { skip_special_tokens: true });
    } catch (err) {
      throw new ModelFormatError(this.path, `cannot decode token ids: ${describe(err)}`);
    }
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A JSON file that must hold an object; unreadable, invalid or non-object files are ModelFormatErrors. */
async function readJsonObject(file: string, what: string): Promise<Record<string, unknown>> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new ModelFormatError(
      file,
      `cannot read ${what} (${(err as NodeJS.ErrnoException).code ?? describe(err)})`,
    );
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new ModelFormatError(file, `is not ${what}: expected a JSON object`);
  return json as Record<string, unknown>;
}
