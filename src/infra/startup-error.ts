/**
 * A problem the operator fixes in the settings or on the machine (a key that
 * does not open the stored keys, a database that does not exist, a port in
 * use). Its message is the whole story: the daemon logs it as one line
 * without a stack, and authctl prints it as its one-sentence error.
 */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StartupError";
  }
}
