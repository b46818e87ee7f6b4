/**
 * A request a suite cannot run as asked (an unknown suite or backend name, a bad option): the caller's
 * mistake, which a command line reports as a usage error rather than a failure.
 */
export class SuiteUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SuiteUsageError';
  }
}
