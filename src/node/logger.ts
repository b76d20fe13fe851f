// Structured JSON logs (pino) to stdout, for journald.
import { pino, type Logger } from "pino";

export type { Logger };

/** A logger writing JSON lines to stdout at the given level. */
export function createLogger(level: string, destination: NodeJS.WritableStream | number = 1): Logger {
  const dest = typeof destination === "number" ? pino.destination({ fd: destination, sync: true }) : destination;
  return pino({ level, base: { service: "slowdrip" }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}
