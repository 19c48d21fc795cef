/**
 * Runs quantization jobs (./kernel-runner.ts) on worker threads, or in this thread.
 *
 * Workers are started from source text (`new Worker(code, { eval: true })`) built from the self-contained
 * `wasmEngine` and `createRunner` and given the compiled kernel module, so they work the same from the TypeScript
 * sources (tests), the esbuild bundles (CLI, action) and anything that embeds them: no worker file to locate. Each
 * worker reads its tensor's bytes itself and runs one job at a time. A pass's results are written into shared
 * buffers the pool hands out again once the pass has written them away (`runAll`, `release`): fresh memory for
 * every result would cost page faults and frees on both sides. Jobs are deterministic, so which worker runs which
 * job never changes a result.
 *
 * If a worker cannot start or fails, its jobs (and every later one) run in this thread instead: a real error (a
 * truncated data file) then surfaces with its real cause.
 */

import * as fs from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { TensorProto } from '../onnx/proto.ts';
import { createRunner, type KernelJob, type KernelResult, resultBytes, wasmEngine } from './kernel-runner.ts';
import { jsEngine } from './kernels-js.ts';
import { kernelModule } from './wasm-kernels.ts';

/** Below this many weights in a pass, workers cost more to start than they save. */
export const PARALLEL_MIN_ELEMENTS = 8_000_000;

export function defaultWorkerCount(): number {
  return Math.min(availableParallelism(), 4);
}

interface Pending {
  job: KernelJob;
  /** Lease a reusable result buffer for it (see `runAll`). */
  lease: boolean;
  /** The buffer it writes its result into (chosen when it starts). */
  out?: ArrayBufferLike;
  resolve: (result: KernelResult) => void;
  reject: (error: unknown) => void;
}

interface Slot {
  worker: Worker;
  /** Jobs posted to it, by id (it runs them one after the other). */
  jobs: Map<number, Pending>;
}

/**
 * Jobs posted to a worker ahead of time, so that it starts the next as soon as one ends instead of waiting for this
 * thread (busy hashing and writing results away) to hand it one: at least 2, and up to 6 while they hold fewer
 * than 32 M weights (each has a result buffer meanwhile).
 */
const QUEUE_MIN = 2;
const QUEUE_MAX = 6;
const QUEUE_ELEMENTS = 32_000_000;

function jobElements(job: KernelJob): number {
  return job.kind === 'int4' ? job.k * job.n : job.rows * job.cols;
}

function workerSource(): string {
  return [
    "'use strict';",
    "const { parentPort, workerData } = require('node:worker_threads');",
    "const fs = require('node:fs');",
    // Some transforms wrap named functions in __name(…) (esbuild keepNames); make it harmless.
    'const __name = (f) => f;',
    `const wasmEngine = (${wasmEngine.toString()});`,
    `const createRunner = (${createRunner.toString()});`,
    'const run = createRunner(wasmEngine(workerData.module), fs);',
    'parentPort.on("message", ({ id, job, out }) => {',
    '  let result;',
    '  try { result = run(job, out); } catch (error) {',
    '    parentPort.postMessage({ id, error: String((error && error.stack) || error) });',
    '    return;',
    '  }',
    // Arrays in a shared `out` are shared as they are; others are moved.
    '  const transfer = [result.packed, result.scales, result.zeroPoints, result.values]',
    '    .filter((a) => a !== undefined && !(a.buffer instanceof SharedArrayBuffer)).map((a) => a.buffer);',
    '  parentPort.postMessage({ id, result }, [...new Set(transfer)]);',
    '});',
  ].join('\n');
}

export class KernelPool {
  private runner: ((job: KernelJob, out?: ArrayBufferLike) => KernelResult) | undefined;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 0;
  private broken = false;
  private doneInWorkers = 0;
  /** Result buffers given back by `release`, for later jobs (fresh memory costs page faults on every job). */
  private readonly spare: ArrayBufferLike[] = [];
  private readonly leased = new WeakMap<KernelResult, ArrayBufferLike>();

  /** `workers` 0: every job in this thread. */
  constructor(workers: number) {
    const module = workers > 0 ? kernelModule() : null;
    if (!module) return;
    const source = workerSource();
    for (let i = 0; i < workers; i++) {
      try {
        const worker = new Worker(source, { eval: true, workerData: { module } });
        worker.unref();
        const slot: Slot = { worker, jobs: new Map() };
        worker.on('message', (message: { id: number; result?: KernelResult; error?: string }) =>
          this.settled(slot, message),
        );
        worker.on('error', () => this.fail(slot));
        worker.on('exit', () => this.fail(slot));
        this.slots.push(slot);
      } catch {
        this.broken = true;
      }
    }
  }

  get workers(): number {
    return this.broken ? 0 : this.slots.length;
  }

  /** Jobs completed on worker threads so far. */
  get workerJobs(): number {
    return this.doneInWorkers;
  }

  /** Runs `job`; results are the same whichever thread runs it. */
  run(job: KernelJob): Promise<KernelResult> {
    return this.submit(job, false);
  }

  private submit(job: KernelJob, lease: boolean): Promise<KernelResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, lease, resolve, reject });
      this.dispatch();
    });
  }

  /**
   * Runs `jobs` and returns their results in the same order. The largest job is started first (so it does not end
   * last on one thread while the others idle), then the rest in order, so that results come back roughly in the
   * order the caller uses them. Failures are reported when the caller awaits that result.
   *
   * The results' arrays are views of buffers the pool reuses: once done with a result, pass it to `release`
   * with the tensors made from it (those still holding its bytes get a copy of their own).
   */
  runAll<R extends KernelResult>(jobs: { job: KernelJob; elements: number }[]): Promise<R>[] {
    const results: Promise<R>[] = new Array(jobs.length);
    let largest = 0;
    jobs.forEach((j, i) => {
      if (j.elements > jobs[largest]!.elements) largest = i;
    });
    const order = [...jobs.keys()];
    if (this.workers > 0 && jobs.length > 0) order.unshift(...order.splice(largest, 1));
    for (const i of order) {
      const result = this.submit(jobs[i]!.job, true) as Promise<R>;
      result.catch(() => {}); // awaited by the caller, perhaps after a later one has failed
      results[i] = result;
    }
    return results;
  }

  /** Gives a result of `runAll` back: `tensors` that still hold its bytes get a copy of their own. */
  release(result: KernelResult, tensors: TensorProto[]): void {
    const buffer = this.leased.get(result);
    if (!buffer) return;
    this.leased.delete(result);
    for (const t of tensors) if (t.rawData.buffer === buffer) t.rawData = new Uint8Array(t.rawData);
    this.spare.push(buffer);
  }

  /** A buffer of at least `bytes` for a leased job: the smallest spare that fits, else a new one. */
  private bufferFor(bytes: number): ArrayBufferLike {
    let best = -1;
    this.spare.forEach((b, i) => {
      if (b.byteLength >= bytes && (best < 0 || b.byteLength < this.spare[best]!.byteLength)) best = i;
    });
    if (best >= 0) return this.spare.splice(best, 1)[0]!;
    // None fits: drop the smallest spare (they would pile up) and make one.
    if (this.spare.length) {
      let smallest = 0;
      this.spare.forEach((b, i) => {
        if (b.byteLength < this.spare[smallest]!.byteLength) smallest = i;
      });
      this.spare.splice(smallest, 1);
    }
    const size = Math.ceil(bytes / 2 ** 20) * 2 ** 20;
    return this.slots.length && !this.broken ? new SharedArrayBuffer(size) : new ArrayBuffer(size);
  }

  private resolved(pending: Pending, result: KernelResult): void {
    const out = pending.out;
    if (out) {
      // Arrays from a worker are views of its copy of the shared buffer: view ours instead, so that `release`
      // recognises them.
      const on = <T extends Uint8Array | Int8Array | Float32Array>(a: T): T =>
        a.buffer === out || !(a.buffer instanceof SharedArrayBuffer)
          ? a
          : new (a.constructor as new (b: ArrayBufferLike, o: number, n: number) => T)(
              out,
              a.byteOffset,
              a.length,
            );
      if (result.kind === 'int4') {
        result.packed = on(result.packed);
        result.scales = on(result.scales);
        if (result.zeroPoints) result.zeroPoints = on(result.zeroPoints);
      } else {
        result.values = on(result.values);
        result.scales = on(result.scales);
        result.zeroPoints = on(result.zeroPoints);
      }
      this.leased.set(result, out);
    }
    pending.resolve(result);
  }

  /** Stops the workers (jobs still queued run in this thread). */
  async close(): Promise<void> {
    this.broken = true;
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
    this.drainHere();
  }

  /**
   * Runs a job in this thread, in a task of its own: the caller handles each result (and frees it) before the next
   * job runs, so results do not pile up.
   */
  private runHere(pending: Pending): void {
    setImmediate(() => {
      try {
        if (!this.runner) {
          const module = kernelModule();
          this.runner = createRunner(module ? wasmEngine(module) : jsEngine(), fs);
        }
        if (pending.lease) pending.out ??= this.bufferFor(resultBytes(pending.job));
        this.resolved(pending, this.runner(pending.job, pending.out));
      } catch (error) {
        pending.reject(error);
      }
    });
  }

  private dispatch(): void {
    if (this.broken || this.slots.length === 0) {
      this.drainHere();
      return;
    }
    // Breadth first: every worker gets a job before any gets a second.
    for (let depth = 1; depth <= QUEUE_MAX; depth++) {
      for (const slot of this.slots) {
        if (slot.jobs.size >= depth) continue;
        const queued = [...slot.jobs.values()].reduce((sum, p) => sum + jobElements(p.job), 0);
        if (depth > QUEUE_MIN && queued >= QUEUE_ELEMENTS) continue;
        const next = this.queue.shift();
        if (!next) return;
        const id = this.nextId++;
        if (next.lease) next.out = this.bufferFor(resultBytes(next.job));
        slot.jobs.set(id, next);
        slot.worker.ref();
        // Bytes in memory are usually a view of the whole model file: posting the view would copy all of it. (A
        // Buffer's slice() is a view: copy with the constructor.)
        const { source } = next.job;
        const bytes = 'bytes' in source ? new Uint8Array(source.bytes) : undefined;
        const job = bytes ? { ...next.job, source: { bytes } } : next.job;
        slot.worker.postMessage({ id, job, out: next.out }, bytes ? [bytes.buffer] : []);
      }
    }
  }

  private settled(slot: Slot, message: { id: number; result?: KernelResult; error?: string }): void {
    const pending = slot.jobs.get(message.id);
    if (!pending) return;
    slot.jobs.delete(message.id);
    if (slot.jobs.size === 0) slot.worker.unref();
    if (message.result) {
      this.doneInWorkers += 1;
      this.resolved(pending, message.result);
    } else {
      // Run it here: a genuine error is raised again with its real type, anything else is worked around.
      this.broken = true;
      this.runHere(pending);
    }
    this.dispatch();
  }

  private fail(slot: Slot): void {
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
    this.broken = true;
    const lost = [...slot.jobs.values()];
    slot.jobs.clear();
    for (const pending of lost) this.runHere(pending);
    this.drainHere();
  }

  private drainHere(): void {
    for (let next = this.queue.shift(); next; next = this.queue.shift()) this.runHere(next);
  }
}
