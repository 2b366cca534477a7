/**
 * The logging seam of the core: a minimal pino-compatible shape (object first, short phrase),
 * so the core needs no logging package. The shell passes a pino child logger.
 */

export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Drops everything; the default when no logger is given. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
};
