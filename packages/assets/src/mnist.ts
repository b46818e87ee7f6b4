import { readFile } from 'node:fs/promises';
import { type FetchOptions, fetchAsset } from './fetch.js';
import { IdxFormatError, parseIdx } from './idx.js';

/** One MNIST split: `count` images of rows×cols bytes (0 = background, 255 = ink), one label 0–9 each. */
export interface MnistSplit {
  count: number;
  rows: number;
  cols: number;
  /** count·rows·cols bytes, image after image, row-major. */
  images: Uint8Array;
  labels: Uint8Array;
}

/**
 * Pairs an IDX image file (uint8, [count, rows, cols]) with its IDX label file (uint8, [count], values 0–9),
 * checking that they agree. `name` goes into error messages.
 */
export function mnistSplitFromIdx(
  imageBytes: Uint8Array,
  labelBytes: Uint8Array,
  name = 'MNIST',
): MnistSplit {
  const images = parseIdx(imageBytes, `${name} images`);
  const labels = parseIdx(labelBytes, `${name} labels`);
  if (images.type !== 'uint8' || images.shape.length !== 3)
    throw new IdxFormatError(
      `${name} images: expected uint8 [count, rows, cols], got ${images.type} [${images.shape.join(', ')}]`,
    );
  if (labels.type !== 'uint8' || labels.shape.length !== 1)
    throw new IdxFormatError(
      `${name} labels: expected uint8 [count], got ${labels.type} [${labels.shape.join(', ')}]`,
    );
  const [count, rows, cols] = images.shape;
  if (labels.shape[0] !== count)
    throw new IdxFormatError(`${name}: ${count} images but ${labels.shape[0]} labels`);
  const data = labels.data as Uint8Array;
  const bad = data.findIndex((l) => l > 9);
  if (bad >= 0) throw new IdxFormatError(`${name} labels: label ${bad} is ${data[bad]}, expected 0–9`);
  return { count, rows, cols, images: images.data as Uint8Array, labels: data };
}

/** The MNIST training (60,000) and test (10,000) splits, fetched through the pinned `mnist` asset. */
export async function loadMnist(
  options: FetchOptions = {},
): Promise<{ train: MnistSplit; test: MnistSplit }> {
  const files = await fetchAsset('mnist', options);
  const split = async (images: string, labels: string, name: string) =>
    mnistSplitFromIdx(await readFile(files[images]), await readFile(files[labels]), `MNIST ${name}`);
  return {
    train: await split('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 'train'),
    test: await split('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte', 'test'),
  };
}
