import type { AdapterChoice } from '../src/index.js';

/**
 * The adapter the tests run on: the software one (OpenGL ES over Mesa's llvmpipe, what CI has) unless
 * BLASTKIT_WEBGPU_TEST_ADAPTER=auto asks for the platform's default — Vulkan on a GPU machine, or Mesa 25's
 * lavapipe where that is installed (the README's "Tests" section says how).
 */
export const TEST_ADAPTER: AdapterChoice =
  process.env.BLASTKIT_WEBGPU_TEST_ADAPTER === 'auto' ? 'auto' : 'software';

/** What the adapter description must show: OpenGL ES for the software path; anything for 'auto'. */
export const EXPECTED_ADAPTER = TEST_ADAPTER === 'software' ? /opengles/ : /./;
