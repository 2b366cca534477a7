/**
 * The pino logger factory: JSON lines on stdout with the node id on every line; child loggers
 * add the group (`log.child({ group })`). Level from RAFTKV_LOG_LEVEL (default info).
 */

import { type Logger, pino } from 'pino';

export function createLogger(node: string): Logger {
  return pino({ level: process.env.RAFTKV_LOG_LEVEL ?? 'info', base: { node } });
}
