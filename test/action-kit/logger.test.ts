import { describe, expect, it } from 'vitest';
import { recordingLogger } from '../../src/action-kit/logger.ts';

describe('the recording logger', () => {
  it('records every message with its level, including groups, and returns the group result', async () => {
    const log = recordingLogger();
    log.info('one');
    const result = await log.group('install', async () => {
      log.warning('two');
      return 42;
    });
    log.debug('three');
    expect(result).toBe(42);
    expect(log.records).toEqual([
      { level: 'info', message: 'one' },
      { level: 'group', message: 'install' },
      { level: 'warning', message: 'two' },
      { level: 'debug', message: 'three' },
    ]);
    expect(log.messages('warning')).toEqual(['two']);
  });
});
