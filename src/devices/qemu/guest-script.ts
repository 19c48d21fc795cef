/**
 * The script the arm64 guest runs under qemu-user, with the Node 18 of the Debian/Ubuntu sysroot: plain CommonJS,
 * no bundle of ours. It is kept here as text (the bundles carry no loose files) and written next to each job.
 *
 * `node guest.cjs <job.json>`; the job names the onnxruntime folder, the model, the feeds, the output to keep and
 * the flags the profile's device has. The guest:
 * 1. reads what it runs on, before loading onnxruntime: the `Features` line of /proc/cpuinfo and AT_HWCAP/AT_HWCAP2
 *    from /proc/self/auxv (what onnxruntime's kernel selection reads), writes them to `probe.json`, and stops
 *    without running anything when the dispatch flags differ from the profile's (`stopOnMismatch`);
 * 2. loads onnxruntime-node from the folder, opens the model with slmops's session settings (1 thread, no
 *    spinning, all graph optimizations), runs every sample, appends the kept output's bytes to `outputs.bin` and
 *    writes `result.json` describing them.
 * Progress goes to stderr as `slmops-guest: <stage>` lines, so a crash can be placed (load, session, sample i).
 */
export const GUEST_SCRIPT = String.raw`'use strict';
// slmops arm64 guest (Node 18, CommonJS). Written by slmops next to each job; see src/devices/qemu/guest-script.ts.
const fs = require('fs');
const path = require('path');

const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const started = Date.now();

function stage(name) {
  fs.writeSync(2, 'slmops-guest: ' + name + '\n');
}
function writeJson(name, value) {
  fs.writeFileSync(path.join(job.outDir, name), JSON.stringify(value));
}
function featuresLine(text) {
  const match = /^Features\s*:\s*(.*)$/m.exec(text);
  return match ? match[1].trim().split(/\s+/).filter(Boolean) : [];
}
function readHwcaps() {
  let buffer;
  try {
    buffer = fs.readFileSync('/proc/self/auxv');
  } catch (error) {
    return { hwcap: '0x0', hwcap2: '0x0', error: String(error && error.message) };
  }
  let hwcap = 0n;
  let hwcap2 = 0n;
  for (let i = 0; i + 16 <= buffer.length; i += 16) {
    const type = buffer.readBigUInt64LE(i);
    const value = buffer.readBigUInt64LE(i + 8);
    if (type === 0n) break;
    if (type === 16n) hwcap = value;
    if (type === 26n) hwcap2 = value;
  }
  return { hwcap: '0x' + hwcap.toString(16), hwcap2: '0x' + hwcap2.toString(16) };
}
function decode(value, names, label) {
  const out = [];
  const big = BigInt(value);
  for (let bit = 0; bit < 64; bit++) {
    if (((big >> BigInt(bit)) & 1n) === 1n) out.push(names[bit] || label + ':' + bit);
  }
  return out;
}

// 1. What this guest runs on.
let cpuinfoText = '';
try {
  cpuinfoText = fs.readFileSync('/proc/cpuinfo', 'utf8');
} catch (error) {
  cpuinfoText = '';
}
const auxv = readHwcaps();
const hwcaps = decode(auxv.hwcap, job.hwcapNames, 'hwcap').concat(decode(auxv.hwcap2, job.hwcap2Names, 'hwcap2'));
const cpuinfo = featuresLine(cpuinfoText);
const part = /^CPU part\s*:\s*(\S+)/m.exec(cpuinfoText);
const expected = new Set(job.features);
const mismatches = [];
for (const flag of job.dispatch) {
  const want = expected.has(flag);
  if (want !== hwcaps.includes(flag)) mismatches.push((want ? 'hwcaps lack ' : 'hwcaps have ') + flag);
  if (want !== cpuinfo.includes(flag)) mismatches.push((want ? 'cpuinfo lacks ' : 'cpuinfo has ') + flag);
}
const probe = {
  node: process.version,
  arch: process.arch,
  cpuinfo: cpuinfo,
  cpuPart: part ? part[1] : null,
  hwcap: auxv.hwcap,
  hwcap2: auxv.hwcap2,
  hwcaps: hwcaps,
  mismatches: mismatches,
};
writeJson('probe.json', probe);
stage('probe ' + JSON.stringify({ cpuinfo: cpuinfo.join(' '), hwcaps: hwcaps.join(' ') }));
if (mismatches.length > 0 && job.stopOnMismatch) {
  writeJson('result.json', { stopped: 'features', mismatches: mismatches });
  process.exit(0);
}

// 2. Load, open, run.
const CTORS = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
};
function typed(type, bytes) {
  const Ctor = CTORS[type];
  if (!Ctor) throw new Error('input type ' + type + ' is not supported by the guest');
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return new Ctor(copy.buffer, 0, bytes.length / Ctor.BYTES_PER_ELEMENT);
}

async function main() {
  stage('load');
  const ort = require(path.join(job.ortDir, 'node_modules', 'onnxruntime-node'));
  const loaded = Date.now();
  stage('session');
  const session = await ort.InferenceSession.create(job.model, {
    intraOpNumThreads: job.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  });
  const opened = Date.now();
  const meta = JSON.parse(fs.readFileSync(job.feeds + '.json', 'utf8'));
  const data = fs.readFileSync(job.feeds + '.bin');
  const out = fs.openSync(path.join(job.outDir, 'outputs.bin'), 'w');
  const samples = [];
  let offset = 0;
  for (let i = 0; i < meta.samples.length; i++) {
    stage('sample ' + (i + 1) + '/' + meta.samples.length);
    const feeds = {};
    for (const input of meta.samples[i]) {
      const bytes = data.subarray(input.offset, input.offset + input.bytes);
      feeds[input.name] = new ort.Tensor(input.type, typed(input.type, bytes), input.dims);
    }
    const results = await session.run(feeds, [job.output]);
    const tensor = results[job.output];
    const view = tensor.data;
    const bytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
    fs.writeSync(out, bytes);
    samples.push({ type: tensor.type, dims: Array.from(tensor.dims), offset: offset, bytes: bytes.length });
    offset += bytes.length;
  }
  fs.closeSync(out);
  await session.release();
  writeJson('result.json', {
    samples: samples,
    onnxruntime: require(path.join(job.ortDir, 'node_modules', 'onnxruntime-node', 'package.json')).version,
    wallSeconds: { load: (loaded - started) / 1000, session: (opened - loaded) / 1000, run: (Date.now() - opened) / 1000 },
  });
  stage('done');
}

main().catch(function (error) {
  const message = error && error.message ? error.message : String(error);
  fs.writeSync(2, 'slmops-guest: error ' + message.split('\n')[0] + '\n');
  writeJson('result.json', { error: message });
  process.exit(3);
});
`;
