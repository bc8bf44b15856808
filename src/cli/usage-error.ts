/** A mistake in how the command was called: exit code 2 and a pointer to the help that explains it. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose --help explains the options, e.g. 'qkv demo --help'. */
    readonly help = 'qkv --help',
  ) {
    super(message);
    this.name = 'UsageError';
  }
}
