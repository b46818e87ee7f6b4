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

  /** From a tokenizer.json path, or a folder holding one. */
  static async load(path: string): Promise<HfTokenizer> {
    const file = (await stat(path).catch(() => undefined))?.isDirectory()
      ? join(path, 'tokenizer.json')
      : path;
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new ModelFormatError(
        file,
        `cannot read a tokenizer.json (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
    const configPath = join(file, '..', 'tokenizer_config.json');
    const config: Record<string, unknown> = existsSync(configPath)
      ? JSON.parse(await readFile(configPath, 'utf8'))
      : {};
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, config);
    } catch (err) {
      throw new ModelFormatError(
        file,
        `not a tokenizer @huggingface/tokenizers can build: ${(err as Error).message}`,
      );
    }
    const idOf = (token: unknown) => {
      const text = typeof token === 'string' ? token : (token as { content?: string } | undefined)?.content;
      if (text === undefined) return undefined;
      const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
      return ids.length === 1 ? ids[0] : undefined;
    };
    return new HfTokenizer(
      tokenizer,
      idOf(config.bos_token ?? '<s>'),
      idOf(config.eos_token ?? '</s>'),
      file,
    );
  }

  encode(text: string, options: { bos?: boolean } = {}): number[] {
    const ids = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    return options.bos && this.bosId !== undefined ? [this.bosId, ...ids] : ids;
  }

  decode(tokens: readonly number[]): string {
    if (tokens.length === 0) return ''; // the library refuses an empty list
    return this.tokenizer.decode([...tokens], { skip_special_tokens: true });
  }
}
