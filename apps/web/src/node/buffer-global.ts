import { Buffer } from 'buffer';

// The llama2.c reader sizes its header with Node's Buffer (alloc, readInt32LE); the `buffer` package is the
// same API over a Uint8Array.
const g = globalThis as { Buffer?: unknown };
g.Buffer ??= Buffer;
