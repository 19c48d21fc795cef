import type { Command } from 'commander';
import { ConfigurationError, GateFailedError } from '../errors.ts';
import { gateFails } from '../gate/judge.ts';
import { renderGateReport, runGate, writeVerdict } from '../gate/run-gate.ts';
import { checkOutputFile } from '../util/output-path.ts';
import type { CliIo } from './io.ts';

interface GateFlags {
  budgets?: string;
  out?: string;
  json?: boolean;
  failOn: string;
  label: string[];
  acceptLabel?: string;
  markdown?: string;
}

export function registerGate(program: Command, io: CliIo): void {
  program
    .command('gate')
    .description('judge bench results against budgets; exit 1 when the gate fails')
    .argument('<results...>', "bench result files, folders or globs (quote globs: 'results/**/*.json')")
    .option(
      '--budgets <file>',
      'budgets file (YAML or JSON, slmops.budgets/v1); default budgets when omitted',
    )
    .option('--out <file>', 'write verdict.json here')
    .option('--markdown <file>', 'write the Markdown report (PR comment text) here')
    .option(
      '--fail-on <what>',
      'fail (a clear regression fails) or inconclusive (an unclear result fails too)',
      'fail',
    )
    .option('--label <name...>', 'labels of the pull request (for the acceptance label)', [])
    .option('--accept-label <name>', 'label that accepts a regression (overrides the budgets file)')
    .option('--json', 'print the verdict as JSON')
    .action(async (patterns: string[], flags: GateFlags) => {
      if (flags.failOn !== 'fail' && flags.failOn !== 'inconclusive') {
        throw new ConfigurationError(`--fail-on "${flags.failOn}" is not one of fail, inconclusive`, {
          subject: 'slmops gate',
        });
      }
      if (flags.out) checkOutputFile(flags.out, '--out');
      if (flags.budgets !== undefined && flags.budgets.trim() === '') {
        throw new ConfigurationError('--budgets is empty', {
          subject: 'slmops gate',
          fix: 'Name a budgets file, or leave the option out to use the default budgets',
        });
      }
      const { verdict, results, onInconclusive } = await runGate({
        results: patterns,
        ...(flags.budgets ? { budgets: flags.budgets } : {}),
        labels: flags.label,
        ...(flags.acceptLabel ? { acceptLabel: flags.acceptLabel } : {}),
      });
      if (flags.out) writeVerdict(verdict, flags.out);
      const report = renderGateReport(verdict, results);
      if (flags.markdown) {
        const { writeFileSync } = await import('node:fs');
        writeFileSync(flags.markdown, `${report}\n`);
      }
      io.out(flags.json ? JSON.stringify(verdict, null, 2) : report);
      if (gateFails(verdict, flags.failOn, onInconclusive)) {
        throw new GateFailedError(`the gate ${verdict.overall === 'fail' ? 'failed' : 'was inconclusive'}`);
      }
    });
}
