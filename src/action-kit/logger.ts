/**
 * The logging port of slmops. Domain code takes a `Logger` (never `@actions/core`), so the same code logs to the
 * Actions runner (`coreLogger` in ./core-logger.ts), to a terminal, or to a recording for tests.
 */
export interface Logger {
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  debug(message: string): void;
  /** Runs `fn` inside a collapsible group (on the runner) and returns its result. */
  group<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

export type LogLevel = 'info' | 'warning' | 'error' | 'debug' | 'group';

export interface LogRecord {
  readonly level: LogLevel;
  readonly message: string;
}

/** A logger that records every message, for tests (like codeql-action's `getRecordingLogger`). */
export interface RecordingLogger extends Logger {
  readonly records: LogRecord[];
  /** The messages of one level, in order. */
  messages(level: LogLevel): string[];
}

export function recordingLogger(): RecordingLogger {
  const records: LogRecord[] = [];
  const add = (level: LogLevel) => (message: string) => {
    records.push({ level, message });
  };
  return {
    records,
    info: add('info'),
    warning: add('warning'),
    error: add('error'),
    debug: add('debug'),
    async group<T>(name: string, fn: () => Promise<T>): Promise<T> {
      records.push({ level: 'group', message: name });
      return fn();
    },
    messages: (level) => records.filter((r) => r.level === level).map((r) => r.message),
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  info() {},
  warning() {},
  error() {},
  debug() {},
  group: (_name, fn) => fn(),
};
