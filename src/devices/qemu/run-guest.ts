/** Starts arm64 programs under qemu-user: the guest Node script of a check, and the quick hwcap probe of a model. */
import { spawn } from 'node:child_process';
import { parseTargetSignal } from './disasm.ts';
import { decodeHwcaps } from './features.ts';
import type { Arm64Emulator } from './sysroot.ts';

export interface GuestExit {
  code: number | null;
  /** The host signal that ended qemu (qemu re-raises the guest's fatal signal on itself). */
  signal: NodeJS.Signals | null;
  /** The guest's fatal signal, as qemu reports it on stderr. */
  targetSignal?: { number: number; name: string; description: string };
  timedOut: boolean;
  stdout: string;
  stderr: string;
  /** The last `slmops-guest: <stage>` line (`sample 3/8`). */
  stage?: string;
  seconds: number;
}

export interface GuestCommand {
  emulator: Pick<Arm64Emulator, 'qemu'>;
  /** `QEMU_LD_PREFIX`: the sysroot, or a per-run root linking it (./sysroot.ts `guestRoot`). */
  root: string;
  qemuCpu: string;
  /** The guest program (a host path inside the root, e.g. `<sysroot>/usr/bin/node`) and its arguments. */
  program: string;
  args: readonly string[];
  cwd: string;
  /** Extra environment (QEMU_LOG …). */
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** The environment of a guest: the host's, without Node options meant for the host's Node. */
export function guestEnv(base: NodeJS.ProcessEnv, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of Object.keys(env)) {
    if (/^(NODE_OPTIONS|NODE_PATH|NODE_EXTRA_CA_CERTS|VITEST.*|SLMOPS_CHILD.*)$/.test(name)) delete env[name];
  }
  return { ...env, ...extra };
}

/** Runs one guest program under qemu and collects how it ended. */
export function runGuest(command: GuestCommand): Promise<GuestExit> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command.emulator.qemu, [command.program, ...command.args], {
      cwd: command.cwd,
      env: guestEnv(process.env, {
        QEMU_CPU: command.qemuCpu,
        QEMU_LD_PREFIX: command.root,
        ...command.env,
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.length > 1_000_000) stdout = stdout.slice(-500_000);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.length > 1_000_000) stderr = stderr.slice(-500_000);
    });
    let timedOut = false;
    const timer =
      command.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, command.timeoutMs);
    child.on('error', (error) => {
      if (timer) clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const stages = [...stderr.matchAll(/^slmops-guest: (.*)$/gm)].map((m) => m[1]!);
      const stage = stages.filter((s) => !s.startsWith('probe ')).pop();
      const targetSignal = parseTargetSignal(stderr);
      resolve({
        code,
        signal,
        ...(targetSignal ? { targetSignal } : {}),
        timedOut,
        stdout,
        stderr,
        ...(stage ? { stage } : {}),
        seconds: (performance.now() - started) / 1000,
      });
    });
  });
}

/**
 * The Linux feature flags a QEMU CPU model gives its guests (AT_HWCAP/AT_HWCAP2), read in a fraction of a second:
 * the guest's glibc loader prints its auxiliary vector with LD_SHOW_AUXV=1 (running libc.so.6 itself, which prints
 * its banner). Undefined when qemu refuses the model (`unable to find CPU model`) or a property.
 */
export async function probeHwcaps(
  emulator: Pick<Arm64Emulator, 'qemu' | 'libc' | 'sysroot'>,
  qemuCpu: string,
  cwd: string,
): Promise<{ flags: string[]; hwcap: string; hwcap2: string } | { error: string }> {
  const exit = await runGuest({
    emulator,
    root: emulator.sysroot,
    qemuCpu,
    program: emulator.libc,
    args: [],
    cwd,
    env: { LD_SHOW_AUXV: '1' },
    timeoutMs: 60_000,
  });
  const hwcap = /^AT_HWCAP:\s*(?:0x)?([0-9a-f]+)/im.exec(exit.stdout)?.[1];
  const hwcap2 = /^AT_HWCAP2:\s*(?:0x)?([0-9a-f]+)/im.exec(exit.stdout)?.[1] ?? '0';
  if (!hwcap) {
    const why = exit.stderr.trim().split('\n').pop() ?? `exit code ${exit.code}`;
    return { error: why.replace(/^qemu-aarch64(-static)?:\s*/, '') };
  }
  return { flags: decodeHwcaps(`0x${hwcap}`, `0x${hwcap2}`), hwcap: `0x${hwcap}`, hwcap2: `0x${hwcap2}` };
}
