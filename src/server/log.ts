/**
 * The pino logger factory: JSON lines on stdout with the node id on every line; child loggers
 * add the group (`log.child({ group })`). Level from RAFTKV_LOG_LEVEL (default info). On a
 * terminal the lines are printed readable (pino-pretty, a development dependency) when it can be
 * loaded, else as JSON; RAFTKV_LOG_FORMAT=json or pretty decides instead.
 */

import { createRequire } from 'node:module';
import { type DestinationStream, type Logger, pino } from 'pino';

type PrettyFactory = (o: Record<string, unknown>) => DestinationStream;

export function createLogger(node: string): Logger {
  const options = { level: process.env.RAFTKV_LOG_LEVEL ?? 'info', base: { node } };
  const format = process.env.RAFTKV_LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json');
  const pretty = format === 'pretty' ? loadPretty() : null;
  if (pretty === null) return pino(options);
  return pino(
    options,
    pretty({
      colorize: process.stdout.isTTY === true,
      translateTime: 'HH:MM:ss.l',
      ignore: 'pid,hostname',
      singleLine: true,
      sync: true,
    }),
  );
}

/** pino-pretty if it is installed (it is not in a production install). */
function loadPretty(): PrettyFactory | null {
  try {
    const required = createRequire(import.meta.url)('pino-pretty') as
      | PrettyFactory
      | { default: PrettyFactory };
    return typeof required === 'function' ? required : required.default;
  } catch {
    return null;
  }
}
