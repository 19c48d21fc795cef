import * as core from '@actions/core';
import type { Logger } from './logger.ts';

/** The logger of the actions: workflow commands through `@actions/core` (annotations for warnings and errors). */
export const coreLogger: Logger = {
  info: (message) => core.info(message),
  warning: (message) => core.warning(message),
  error: (message) => core.error(message),
  debug: (message) => core.debug(message),
  group: (name, fn) => core.group(name, fn),
};
