/** Exit codes of the `blastkit` command, documented in the README; scripts rely on them. */
export const EXIT = {
  ok: 0,
  /** Something unexpected: a bug, or an I/O failure outside the user's control. */
  failure: 1,
  /** Bad arguments or bad input files: the message says what to fix. */
  usage: 2,
  /** Ctrl-C (SIGINT): nothing half-written was left behind. */
  interrupted: 130,
} as const;

/** A problem with what the user asked for (arguments, files); exits with EXIT.usage. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The run was stopped by the user; exits with EXIT.interrupted. */
export class InterruptedError extends Error {
  constructor(message = 'interrupted') {
    super(message);
    this.name = 'InterruptedError';
  }
}
