/** The `slmops` command line: one command per capability, each calling the same functions as the actions. */

import { Command, CommanderError } from 'commander';
import {
  ConfigurationError,
  ExitCode,
  exitCodeOf,
  GateFailedError,
  GitHubUnavailableError,
} from '../errors.ts';
import { VERSION } from '../version.ts';
import { registerBench } from './bench-command.ts';
import { registerCalibrate } from './calibrate-command.ts';
import { registerCompress } from './compress-command.ts';
import { registerFunctional } from './functional-command.ts';
import { registerGate } from './gate-command.ts';
import { registerInspect } from './inspect-command.ts';
import { type CliIo, processIo } from './io.ts';
import { registerPack } from './pack-command.ts';
import { registerProfiles } from './profiles-command.ts';
import { registerPromote } from './promote-command.ts';
import { registerPublish } from './publish-command.ts';
import { registerPull } from './pull-command.ts';
import { registerVerify } from './verify-command.ts';

export function buildProgram(io: CliIo): Command {
  const program = new Command('slmops')
    .description('compress, benchmark, gate and publish ONNX models for edge devices')
    .version(VERSION)
    .option('--debug', 'print stack traces of errors')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  registerInspect(program, io);
  registerCompress(program, io);
  registerBench(program, io);
  registerProfiles(program, io);
  registerGate(program, io);
  registerCalibrate(program, io);
  registerFunctional(program, io);
  registerPack(program, io);
  registerPublish(program, io);
  registerPromote(program, io);
  registerPull(program, io);
  registerVerify(program, io);
  return program;
}

/** Runs the CLI and returns the exit code (0 ok, 1 gate failed, 2 usage or input error, 3 internal error). */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ExitCode.Success;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end through here with exit code 0; usage errors were already printed by commander.
      return error.exitCode === 0 ? ExitCode.Success : ExitCode.UsageOrInput;
    }
    const debug = argv.includes('--debug') || process.env.SLMOPS_DEBUG === '1';
    const code = exitCodeOf(error);
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof GateFailedError) io.err(message);
    else if (error instanceof ConfigurationError) io.err(`error: ${message}`);
    else if (error instanceof GitHubUnavailableError) io.err(`error: ${message}. Try again later`);
    else io.err(`internal error: ${message}${debug ? '' : ' (run with --debug for the stack trace)'}`);
    if (debug && error instanceof Error && error.stack) io.err(error.stack);
    return code;
  }
}
