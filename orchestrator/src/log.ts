import { pino, type Logger } from 'pino';

// JSON lines on stdout; components log through children: log.child({ component: 'memif' }).
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'memswitchd' }, timestamp: pino.stdTimeFunctions.isoTime });
}
export type { Logger };
