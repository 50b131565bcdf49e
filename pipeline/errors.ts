/**
 * A mistake the user can fix (bad input, bad config, missing file). The CLI prints it as one
 * `error: <message>` line on stderr, exits non-zero, and shows no stack trace unless `--debug`.
 * The message must name the file, column or parameter at fault and say what to do.
 */
export class UserError extends Error {
  /** @param message one line: what is wrong, where (file / column / parameter), what to do. */
  constructor(message: string) {
    super(message);
    this.name = "UserError";
  }
}

/** True when `e` is a {@link UserError}. */
export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
