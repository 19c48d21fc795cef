import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigurationError } from '../errors.ts';
import {
  assertVerified,
  problemsOf,
  type VerifyReport,
  verifyArchive,
  verifyDir,
} from '../publish/verify.ts';
import type { CliIo } from './io.ts';

export function registerVerify(program: Command, io: CliIo): void {
  program
    .command('verify')
    .description(
      'check a pulled folder or a bundle archive against its manifest (exit 2 naming any bad file)',
    )
    .argument(
      '<path>',
      'a folder written by slmops pull (or an unpacked bundle), or a .tar.gz from slmops pack',
    )
    .option('--json', 'print the report as JSON')
    .action(async (target: string, flags: { json?: boolean }) => {
      let isDir: boolean;
      try {
        isDir = statSync(target).isDirectory();
      } catch {
        throw new ConfigurationError('no such file or folder', {
          subject: target,
          fix: 'Pass the folder slmops pull wrote, or a bundle written by slmops pack',
        });
      }
      const report: VerifyReport = isDir ? await verifyDir(target) : await verifyArchive(target);
      if (flags.json) io.out(JSON.stringify(report, null, 2));
      else if (report.ok) {
        io.out(
          `${report.name} ${report.version}: ${report.files.length} files verified (identity ${report.identity ?? 'none'})`,
        );
        if (report.extra.length > 0) io.err(`note: files not in the manifest: ${report.extra.join(', ')}`);
      } else for (const line of problemsOf(report)) io.err(line);
      assertVerified(report, target);
    });
}
