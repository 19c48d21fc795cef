/**
 * TypeScript shapes of the documents slmops reads and writes. Each mirrors a schema under `schemas/` (the schema is
 * the contract; keep both in step). Values of these types come out of `validateDocument` / the loaders in
 * `./load.ts`, so fields the schema requires are present and typed as written here.
 */

/** `[low, high]` */
export type Interval = [number, number];

export interface FileRef {
  path: string;
  sha256: string;
  bytes: number;
}

// ---------------------------------------------------------------------------------------------------------------
// budgets.yml — slmops.budgets/v1

export interface BudgetLimits {
  latency?: { p50Ms?: number; p90Ms?: number; ratioTolerance?: number };
  tokensPerSec?: { min: number };
  sizeBytes?: { max?: number; growth?: number };
  peakRssBytes?: { max: number };
  loadMs?: { max: number };
  perplexity?: { max?: number; increasePct?: number };
  accuracy?: { min?: number; drop?: number };
  agreement?: { min: number };
}

export interface BudgetRule extends BudgetLimits {
  /** A profile id or `*`. */
  profile: string;
  /** A glob over variant ids; omitted: every variant. */
  variant?: string;
}

export interface BudgetsDocument {
  schema: 'slmops.budgets/v1';
  defaults?: BudgetLimits;
  rules: BudgetRule[];
  onInconclusive?: 'warn' | 'fail' | 'rerun';
  acceptLabel?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// recipe files — slmops.recipe/v1 (options as written; `recipeFromDocument` fills the defaults)

export interface SelectionDocument {
  includeOps?: string[];
  excludeOps?: string[];
  includeNames?: string[];
  excludeNames?: string[];
  minElements?: number;
  keepFirstLast?: boolean;
}

export type RecipePassDocument =
  | {
      pass: 'int8';
      options?: { perChannel?: boolean; symmetric?: boolean; reduceRange?: boolean };
      select?: SelectionDocument;
    }
  | {
      pass: 'int4';
      options?: { block?: 16 | 32 | 64 | 128; symmetric?: boolean; accuracyLevel?: number };
      select?: SelectionDocument;
    }
  | { pass: 'fp16'; options?: { keepIo?: boolean; blockOps?: string[] }; select?: SelectionDocument }
  | {
      pass: 'prune';
      options?: { sparsity?: number; pattern?: 'unstructured' | '2:4'; scope?: 'per-tensor' | 'global' };
      select?: SelectionDocument;
    };

export interface RecipeDocument {
  schema: 'slmops.recipe/v1';
  name?: string;
  description?: string;
  passes: RecipePassDocument[];
}

// ---------------------------------------------------------------------------------------------------------------
// slmops.yml — slmops.config/v1

export interface ConfigDocument {
  schema: 'slmops.config/v1';
  /** The model id; default derived from `model` (see `modelId` in src/contracts/ids.ts). */
  name?: string;
  model: string;
  evalData?: string;
  /** Recipe spec strings or recipe file paths (.yml/.yaml/.json). */
  recipes: string[];
  /** Profile ids or profile file paths (.json). */
  profiles: string[];
  budgets?: string;
  baseline?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// device profiles — slmops.profile/v1

export interface ProfileSource {
  /** The cited field as a path (`clusters[0].maxClockGHz`, `peaks.int8GopsPerCore`, `isaFeatures`). */
  field: string;
  value: number | string | boolean;
  /** `assumed`: a chosen or unverified figure; `derivation` says why. */
  kind: 'spec' | 'measured' | 'derived' | 'assumed';
  source: string;
  derivation?: string;
}

/** Peak throughput of one core: an FMA counts as 2 FLOP, an int8 multiply-accumulate as 2 ops. */
export interface ProfilePeaks {
  fp32GflopsPerCore: number;
  int8GopsPerCore: number;
}

export interface ProfileCluster {
  name: string;
  /** Physical cores. */
  cores: number;
  microarchitecture: string;
  maxClockGHz: number;
  /** 2 with SMT / Hyper-Threading; absent: 1. */
  threadsPerCore?: number;
  /** This cluster's per-core peaks; the top-level `peaks` are those of clusters[0]. */
  peaks?: ProfilePeaks;
}

export interface ProfileDocument {
  schema: 'slmops.profile/v1';
  id: string;
  name: string;
  description?: string;
  arch: 'x86_64' | 'arm64';
  /** clusters[0] holds the cores benchmarks run on first; left-out clusters are named in `description`. */
  clusters: ProfileCluster[];
  isaFeatures: string[];
  /** Per-core peaks of clusters[0]. */
  peaks: ProfilePeaks;
  dramBandwidthGBs: number;
  ramBytes: number;
  /** `shared`: dramBandwidthGBs is the whole host's, shared with other tenants (a cloud VM). */
  memory?: { type: string; busWidthBits?: number; transferRateMTs?: number; shared?: boolean };
  /** Substrings of the host fingerprint's cpuModel that identify this device. */
  cpuModels?: string[];
  /** Hints for running this device's code paths elsewhere (same kernels, not the same speed). */
  emulation?: { qemuCpu?: string; note?: string };
  sources: ProfileSource[];
  /** Written by `slmops calibrate --profile`: onnxruntime-measured figures per thread count. */
  calibration?: {
    measuredAt: string;
    onnxruntime?: string;
    fingerprintKey?: string;
    host?: Record<string, unknown>;
    probes?: Record<string, unknown>;
    threads: Record<
      string,
      { fp32Gflops: number; int8Gops: number; bandwidthGBs: number; spread?: Record<string, unknown> }
    >;
    /** Node probes measured on the device (src/devices/node-probes.ts). */
    nodeProbes?: NodeProbes;
  };
}

/** The kinds of graph node the node probes measure: matrix products by kernel family, and everything else. */
export type NodeKind = 'other' | 'fp32' | 'int8' | 'int4';

/** A matrix product as one GEMM: [m, k]·[k, n]. */
export interface GemmDims {
  m: number;
  k: number;
  n: number;
}

export interface NodeProbePoint {
  kind: NodeKind;
  /** Bytes read and written (`other`) or arithmetic ops (matrix kinds) of one node. */
  size: number;
  /** The probe's shape, for people: `add 128x1024`, `matmul 16x256x256`. */
  shape: string;
  /** A matrix probe's product (absent for `other`). */
  dims?: GemmDims;
  /** µs per node, keyed by intra-op thread count. */
  us: Record<string, number>;
}

export interface NodeProbes {
  version: number;
  points: NodeProbePoint[];
  /**
   * What onnxruntime's profiler adds to each node's recorded time (µs, at the lowest thread count): the profiled
   * kernel time per node of the smallest `other` probe, profiled as a model is (a fresh session, 10 runs), minus
   * its wall time per node. The emulator takes it off each profiled node before it splits the measured latency.
   */
  profilerUs: number;
}

// ---------------------------------------------------------------------------------------------------------------
// compress-report.json — slmops.compress/v1

export interface CompressedTensor {
  name: string;
  dtypeBefore: string;
  dtypeAfter: string;
  elementCount: number;
  sqnrDb?: number | null;
  sparsity?: number;
}

export interface CompressReport {
  schema: 'slmops.compress/v1';
  tool: { name: string; version: string };
  modelId: string;
  variantId: string;
  /** `spec` is the canonical recipe spec; `passes` the fully defaulted `PassSpec`s of src/compress/recipe-spec.ts. */
  recipe: {
    spec: string;
    passes: { pass: string; options: Record<string, unknown>; select?: Record<string, unknown> }[];
  };
  input: FileRef;
  output: FileRef & { externalData?: FileRef[]; gzipBytes?: number };
  sizeRatio: number;
  passes: {
    name: string;
    options: Record<string, unknown>;
    elapsedMs: number;
    tensors: CompressedTensor[];
  }[];
  elapsedMs: number;
  /** What the passes did that a reviewer should know. */
  notes?: string[];
  fidelity: {
    status: 'ran' | 'skipped' | 'failed';
    reason?: string;
    samples?: number;
    maxAbsDiff?: number;
    cosine?: number;
    top1Agreement?: number;
    metric?: { name: string; value: number; reference: number };
  };
}

// ---------------------------------------------------------------------------------------------------------------
// bench-result.json — slmops.bench/v1

export interface HostFingerprint {
  cpuModel: string;
  isaFlags: string[];
  physicalCores: number;
  logicalCores: number;
  ramBytes: number;
  os: string;
  kernel: string;
  node: string;
  onnxruntime: string;
  /** CPUs allowed by cpu.max (quota / period) and memory.max in bytes; null: unlimited. */
  cgroup?: { cpuMax?: number | null; memoryMax?: number | null };
}

export type SamplesMs = number[] | { histogram: { binEdgesMs: number[]; counts: number[] } };

export type DecodeResult =
  | { measured?: true; msPerToken: number; tokensPerSec: number }
  | { measured: false; reason: string };

export interface BenchResult {
  schema: 'slmops.bench/v1';
  model: { path: string; sha256: string; bytes: number; params: number };
  modelId: string;
  variantId: string;
  profile: { id: string; mode: 'native' | 'emulated' };
  host: HostFingerprint;
  /** How busy the host was with other work while the timing processes ran (Linux only). */
  hostLoad?: { otherCores: number; stealPercent: number };
  workload: {
    kind: 'generic' | 'prefill' | 'decode';
    batch: number;
    sequenceLength?: number;
    threads: number;
    protocol: 'quick' | 'full';
  };
  latencyMs: {
    p50: number;
    p90: number | null;
    p99: number | null;
    mean: number;
    mad: number;
    n: number;
    /** 95 % confidence interval of the median. */
    ci95: Interval;
  };
  samplesMs: SamplesMs;
  throughput?: { tokensPerSec: number };
  decode?: DecodeResult;
  loadMs: number;
  firstRunMs: number;
  peakRssBytes: number;
  predicted?: {
    p50Ms: number;
    intervalMs: Interval;
    calibrated: boolean;
    /** `node-probes` (host and device node probes, both calibrated) or `roofline` (throughput ratios). */
    method?: 'node-probes' | 'roofline';
    modelError: 'unvalidated' | number;
    /** Caveats of this prediction (different int8 kernel families, a shared-host bandwidth figure…). */
    notes?: string[];
  };
  quality?: {
    metric: string;
    value: number;
    reference: number | null;
    delta: number | null;
    agreement: number | null;
  };
  comparison?: {
    baselineVariantId: string;
    ratioP50: number;
    ci95: Interval;
    baselineBytes?: number;
    baselineSha256?: string;
    baselineP50Ms?: number;
  };
  pullRequest?: { number: number; headSha: string };
  /** Facts a reviewer must see, such as a model that needs more RAM than the profile's device has. */
  findings?: string[];
  /** The arm64 functional check under qemu-user (src/devices/qemu): loads, runs, agrees on the device's features. */
  functional?: FunctionalResult;
  createdAt: string;
}

/**
 * Does the variant load, run and agree with x86-64 on the device's own CPU features (arm64 under qemu-user)?
 * Agreement and `maxAbsDiff` compare the arm64 run with the x86-64 run of the same variant; `reference` compares it
 * with the x86-64 run of the uncompressed model. `seconds` is the wall time of the whole check: never a latency.
 */
export interface FunctionalResult {
  status: 'passed' | 'failed' | 'skipped';
  profile: string;
  qemuCpu: string | null;
  qemuVersion: string | null;
  /** The profile's Linux feature flags (its /proc/cpuinfo `Features` line). */
  features: string[];
  /** Why it failed or was skipped (names the profile and, for a crash, the signal and the instruction). */
  reason?: string;
  samples: number;
  seconds: number;
  agreement?: number;
  maxAbsDiff?: number;
  /** Accuracy or perplexity on the arm64 run minus the x86-64 run of the same variant. */
  metricDelta?: number;
  metric?: { name: 'accuracy' | 'perplexity'; arm64: number; x86: number };
  reference?: { agreement: number; maxAbsDiff: number; metricDelta?: number };
  /** What the guest saw: its /proc/cpuinfo Features, its hwcaps, and which of the two qemu made up. */
  guest?: { cpuinfo: string[]; hwcaps: string[]; cpuinfoFrom: 'sysroot' | 'qemu' };
  /** The crash: signal, where the run was, and the instruction when it could be read. */
  fault?: { signal: string; stage?: string; instruction?: string; address?: string; feature?: string };
  notes?: string[];
}

// ---------------------------------------------------------------------------------------------------------------
// verdict.json — slmops.verdict/v1

export type RuleVerdict = 'pass' | 'fail' | 'inconclusive' | 'acknowledged';

export interface VerdictRule {
  variantId: string;
  profileId: string;
  /** The budget field checked, e.g. `latency.p50Ms`. */
  metric: string;
  kind: 'absolute' | 'relative';
  limit: number;
  value: number | null;
  baseline?: number | null;
  ci95?: Interval;
  verdict: RuleVerdict;
  reason: string;
}

export interface Verdict {
  schema: 'slmops.verdict/v1';
  overall: 'pass' | 'fail' | 'inconclusive';
  advisory: boolean;
  rules: VerdictRule[];
  inputs: { path: string; sha256: string }[];
  acknowledgedBy?: string;
  createdAt: string;
}

// ---------------------------------------------------------------------------------------------------------------
// manifest.json — slmops.manifest/v1

export interface ManifestFile extends FileRef {
  /** `model` an .onnx file, `data` its external data, `extra` a file added with --include. */
  kind?: 'model' | 'data' | 'extra';
  /** The release asset holding the file (with parts, the stem of the part names). */
  asset?: string;
  parts?: { name: string; sha256: string; bytes: number }[];
}

export interface Manifest {
  schema: 'slmops.manifest/v1';
  name: string;
  version: string;
  /** sha256 over the sorted `<sha256>  <path>` lines of the model and data files: what the release is. */
  identity?: string;
  files: ManifestFile[];
  variants?: {
    id: string;
    path: string;
    /** Bundle paths of the variant's external data files. */
    data?: string[];
    recipe?: { spec: string; passes?: Record<string, unknown>[] };
  }[];
  recipe?: { spec: string; passes?: Record<string, unknown>[] };
  source: { repository: string; commit: string; ref: string };
  tools: { slmops: string; onnxruntime?: string };
  createdAt: string;
}

// ---------------------------------------------------------------------------------------------------------------

/** The document kinds and their TypeScript types. */
export interface DocumentTypes {
  budgets: BudgetsDocument;
  recipe: RecipeDocument;
  config: ConfigDocument;
  profile: ProfileDocument;
  compress: CompressReport;
  bench: BenchResult;
  verdict: Verdict;
  manifest: Manifest;
}

export type DocumentKind = keyof DocumentTypes;
