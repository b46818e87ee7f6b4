import { NotImplementedOnBackendError } from '../errors.js';
import { BACKEND_SPECIFICATION_VERSION, type Backend, type BackendDescription } from './backend.js';
import { KERNEL_NAMES, type KernelName } from './kernel-names.js';

/** The operations of the Backend interface, as methods: what a backend's kernel table provides. */
export type KernelMethods = Pick<Backend, KernelName>;

/**
 * One operation of the Backend interface as a function of the backend's runtime (its device, pool, queue)
 * followed by the interface's own arguments.
 */
export type Kernel<Ctx, K extends KernelName> = (
  ctx: Ctx,
  ...args: Parameters<Backend[K]>
) => ReturnType<Backend[K]>;

/**
 * A declared gap: the backend does not implement the operation, for the reason given. It throws
 * NotImplementedOnBackendError naming the operation, the backend and the reason, the same on every backend.
 */
export interface KernelGap {
  readonly notImplemented: string;
}

/** Declares a gap in a kernel table (see KernelGap); the reason is shown in the error. */
export function notImplemented(reason: string): KernelGap {
  return { notImplemented: reason };
}

/**
 * Every operation of the Backend interface, each a kernel or a declared gap. A mapped type over KernelName:
 * a table that misses an operation, or has one with the wrong signature, does not compile.
 */
export type KernelTable<Ctx> = { readonly [K in KernelName]: Kernel<Ctx, K> | KernelGap };

/**
 * A backend as data: its name, what answered (read off its runtime) and its kernels. The class around it
 * (see TableBackend) adds only memory management and whatever goes beyond the interface.
 */
export interface BackendDefinition<Ctx> {
  /** As `--backend` takes it. */
  readonly name: string;
  /** What answered, in the words every backend uses. */
  describe(ctx: Ctx): BackendDescription;
  readonly kernels: KernelTable<Ctx>;
}

/** Checks a definition's types; `kernels` must name every operation (a missing one is a compile error). */
export function defineBackend<Ctx>(definition: BackendDefinition<Ctx>): BackendDefinition<Ctx> {
  return definition;
}

// Backend members that are not kernels. The check below fails to compile when an operation is added to the
// Backend interface without a name in KERNEL_NAMES (and so without a row in every kernel table).
type NonKernelMember =
  | 'specificationVersion'
  | 'name'
  | 'describe'
  | 'upload'
  | 'download'
  | 'dispose'
  | 'reshape'
  | 'close';
type UnnamedOperation = Exclude<keyof Backend, NonKernelMember | KernelName>;
const everyOperationIsNamed: [UnnamedOperation] extends [never] ? true : UnnamedOperation = true;
void everyOperationIsNamed;

/** The members a TableBackend has from its definition. */
export interface TableBackendMembers extends KernelMethods {
  readonly specificationVersion: typeof BACKEND_SPECIFICATION_VERSION;
  readonly name: string;
  describe(): BackendDescription;
}

// biome-ignore lint/suspicious/noExplicitAny: the kernels are called with the interface's own arguments
type AnyKernel = (ctx: unknown, ...args: any[]) => unknown;

/** The methods of a kernel table bound to one runtime (a gap becomes a method that throws). */
function bindKernels<Ctx>(definition: BackendDefinition<Ctx>, ctx: Ctx): KernelMethods {
  const methods: Record<string, unknown> = {};
  for (const op of KERNEL_NAMES) {
    const entry = definition.kernels[op] as AnyKernel | KernelGap;
    if (typeof entry === 'function') {
      methods[op] = (...args: unknown[]) => entry(ctx, ...args);
    } else {
      methods[op] = () => {
        throw new NotImplementedOnBackendError(op, definition.name, entry.notImplemented);
      };
    }
  }
  return methods as unknown as KernelMethods;
}

/**
 * The base of a backend declared as data: `name`, `describe()` and every operation come from the definition,
 * bound to the runtime passed in; the subclass implements `upload`, `download`, `dispose`, `reshape` (and
 * `close`), which are about its memory rather than arithmetic.
 */
export const TableBackend = class {
  readonly specificationVersion = BACKEND_SPECIFICATION_VERSION;
  readonly name: string;
  readonly describe: () => BackendDescription;
  constructor(definition: BackendDefinition<unknown>, ctx: unknown) {
    this.name = definition.name;
    this.describe = () => definition.describe(ctx);
    Object.assign(this, bindKernels(definition, ctx));
  }
} as unknown as abstract new <Ctx>(
  definition: BackendDefinition<Ctx>,
  ctx: Ctx,
) => TableBackendMembers;
