/**
 * publish: packing, publishing and pulling a large bundle stays streaming (not CI: it needs about 4 × the bundle
 * size of disk).
 *
 * Generates a model of `--size` bytes (default 3 GiB: a small model.onnx whose initializers live in one external
 * data file of float weights), then, each step in a fresh process whose peak RSS is reported:
 *   pack     → bundle.tar.gz (+ verify of the archive as it streams);
 *   publish  → a release on a local disk-backed stand-in of GitHub's release API (uploads streamed to disk,
 *              `digest` reported), the data file split into parts below 2 GiB;
 *   pull     → download, reassemble the parts, check every digest, rename into place.
 * Target: peak RSS ≤ 300 MB in every step, and the pulled file byte-identical to the source.
 *
 *   node benchmarks/run.mjs publish [--size 3GiB] [--dir /tmp/slmops-publish-bench] [--keep] [--skip-pack]
 *   node benchmarks/run.mjs publish --gzip [--files a.onnx,b.onnx]   # gzip level 1 vs 6 on models and generated weights
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { constants } from 'node:zlib';
import { silentLogger } from '../../src/action-kit/logger.ts';
import { createGitHubClient } from '../../src/github/client.ts';
import { createTensorProto, encodeModelProto, type ModelProto } from '../../src/onnx/proto.ts';
import { releasePort } from '../../src/publish/github-releases.ts';
import { packBundle } from '../../src/publish/pack.ts';
import { publishBundle } from '../../src/publish/publish.ts';
import { pull } from '../../src/publish/pull.ts';
import { type TarSource, writeTarGz } from '../../src/publish/tar.ts';
import { verifyArchive, verifyDir } from '../../src/publish/verify.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const self = fileURLToPath(import.meta.url);
const repo = resolve(dirname(self), '..', '..');
const MB = 1e6;
const MiB = 2 ** 20;
const ENV = {
  GITHUB_REPOSITORY: 'bench/models',
  GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
  GITHUB_REF: 'refs/tags/v1.0.0',
  SOURCE_DATE_EPOCH: '1795953600',
};

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i.exec(text.trim());
  if (!m) throw new Error(`--size ${text}: use e.g. 3GiB, 512MiB or a byte count`);
  const units: Record<string, number> = {
    b: 1,
    kib: 2 ** 10,
    mib: 2 ** 20,
    gib: 2 ** 30,
    kb: 1e3,
    mb: 1e6,
    gb: 1e9,
  };
  return Math.round(Number(m[1]) * (units[(m[2] ?? 'b').toLowerCase()] ?? 1));
}

function peakRssMB(): number {
  return (process.resourceUsage().maxRSS * 1024) / MB;
}

// ---------------------------------------------------------------------------------------------------------------
// The model: float weights (pseudo-normal, so they compress like real fp32 weights) in one external data file.

/** 64 MiB of pseudo-normal float32 values (sum of four uniforms), the block the data file repeats. */
function weightBlock(): Buffer {
  const values = new Float32Array((64 * MiB) / 4);
  let s = 0x9e3779b9;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  for (let i = 0; i < values.length; i++) values[i] = (next() + next() + next() + next() - 2) * 0.05;
  return Buffer.from(values.buffer);
}

async function generateModel(dir: string, bytes: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const block = weightBlock();
  const total = bytes - (bytes % 4);
  const tensors = Math.max(1, Math.ceil(total / (256 * MiB)));
  const data = createWriteStream(join(dir, 'model.onnx.data'));
  let written = 0;
  let counter = 0;
  while (written < total) {
    const n = Math.min(block.length, total - written);
    // Vary each block a little so no two are identical (a real file has no repeats either).
    block.writeUInt32LE(counter++, 0);
    if (!data.write(Buffer.from(block.subarray(0, n))))
      await new Promise<void>((r) => data.once('drain', () => r()));
    written += n;
  }
  await new Promise<void>((r, j) => data.end((e?: Error | null) => (e ? j(e) : r())));
  const initializer = [];
  const per = Math.floor(total / tensors / 4) * 4;
  for (let t = 0, offset = 0; t < tensors; t++) {
    const length = t === tensors - 1 ? total - offset : per;
    initializer.push(
      createTensorProto({
        name: `w${t}`,
        dataType: 1,
        dims: [length / 4],
        dataLocation: 1,
        externalData: [
          { key: 'location', value: 'model.onnx.data' },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(length) },
        ],
      }),
    );
    offset += length;
  }
  const proto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'slmops-benchmark',
    graph: {
      name: 'weights',
      node: [{ input: ['x'], output: ['y'], name: 'id', opType: 'Identity', domain: '', attribute: [] }],
      initializer,
      input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }] } } } }],
    },
  } as unknown as ModelProto;
  writeFileSync(join(dir, 'model.onnx'), encodeModelProto(proto));
}

// ---------------------------------------------------------------------------------------------------------------
// A disk-backed stand-in of GitHub's release API: the operations publish and pull use, assets streamed to disk.

interface Asset {
  id: number;
  name: string;
  size: number;
  sha256: string;
  file: string;
}
interface Release {
  id: number;
  tag: string;
  name: string;
  body: string;
  draft: boolean;
  prerelease: boolean;
  assets: Asset[];
}

async function startStandIn(storage: string): Promise<{ url: string; close: () => Promise<void> }> {
  mkdirSync(storage, { recursive: true });
  const releases: Release[] = [];
  let nextId = 100;
  let base = '';
  const assetJson = (a: Asset) => ({
    id: a.id,
    name: a.name,
    size: a.size,
    state: 'uploaded',
    digest: `sha256:${a.sha256}`,
  });
  const releaseJson = (r: Release) => ({
    id: r.id,
    tag_name: r.tag,
    name: r.name,
    body: r.body,
    draft: r.draft,
    prerelease: r.prerelease,
    html_url: `${base}/web/releases/${r.id}`,
    upload_url: `${base}/uploads/releases/${r.id}/assets{?name,label}`,
    published_at: r.draft ? null : new Date().toISOString(),
    assets: r.assets.map(assetJson),
  });
  const readJson = async (req: http.IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {};
  };
  const send = (res: http.ServerResponse, status: number, body?: unknown) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    res
      .writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      .end(text);
  };
  const findAsset = (id: number) =>
    releases.flatMap((r) => r.assets.map((a) => ({ r, a }))).find((x) => x.a.id === id);
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', base);
      const p = url.pathname;
      const method = req.method ?? 'GET';
      if (method === 'GET' && p === '/repos/bench/models/releases')
        return send(res, 200, url.searchParams.get('page') === '2' ? [] : releases.map(releaseJson));
      if (method === 'POST' && p === '/repos/bench/models/releases') {
        const b = await readJson(req);
        if (!b.draft && releases.some((r) => !r.draft && r.tag === b.tag_name))
          return send(res, 422, { message: 'Validation Failed', errors: [{ code: 'already_exists' }] });
        const r: Release = {
          id: nextId++,
          tag: b.tag_name,
          name: b.name ?? '',
          body: b.body ?? '',
          draft: !!b.draft,
          prerelease: !!b.prerelease,
          assets: [],
        };
        releases.push(r);
        return send(res, 201, releaseJson(r));
      }
      const m1 = /^\/repos\/bench\/models\/releases\/tags\/(.+)$/.exec(p);
      if (m1) {
        const r = releases.find((x) => !x.draft && x.tag === decodeURIComponent(m1![1]!));
        return r ? send(res, 200, releaseJson(r)) : send(res, 404, { message: 'Not Found' });
      }
      const m2 = /^\/repos\/bench\/models\/releases\/(\d+)$/.exec(p);
      if (m2) {
        const r = releases.find((x) => x.id === Number(m2![1]));
        if (!r) return send(res, 404, { message: 'Not Found' });
        if (method === 'PATCH') {
          const b = await readJson(req);
          Object.assign(r, {
            body: b.body ?? r.body,
            draft: b.draft ?? r.draft,
            prerelease: b.prerelease ?? r.prerelease,
          });
          return send(res, 200, releaseJson(r));
        }
        if (method === 'DELETE') {
          releases.splice(releases.indexOf(r), 1);
          return send(res, 204);
        }
        return send(res, 200, releaseJson(r));
      }
      const m3 = /^\/repos\/bench\/models\/releases\/(\d+)\/assets$/.exec(p);
      if (m3) {
        const r = releases.find((x) => x.id === Number(m3![1]));
        return r
          ? send(res, 200, url.searchParams.get('page') === '2' ? [] : r.assets.map(assetJson))
          : send(res, 404, {});
      }
      const m4 = /^\/uploads\/releases\/(\d+)\/assets$/.exec(p);
      if (method === 'POST' && m4) {
        const r = releases.find((x) => x.id === Number(m4![1]));
        const name = url.searchParams.get('name') ?? '';
        if (!r) return send(res, 404, {});
        if (r.assets.some((a) => a.name === name)) {
          for await (const _ of req) {
            // drain
          }
          return send(res, 422, {
            message: 'Validation Failed',
            errors: [{ resource: 'ReleaseAsset', code: 'already_exists', field: 'name' }],
          });
        }
        const id = nextId++;
        const file = join(storage, String(id));
        const hash = createHash('sha256');
        let size = 0;
        await pipeline(
          req,
          async function* (source: AsyncIterable<Buffer>) {
            for await (const c of source) {
              hash.update(c);
              size += c.length;
              yield c;
            }
          },
          createWriteStream(file),
        );
        const asset: Asset = { id, name, size, sha256: hash.digest('hex'), file };
        r.assets.push(asset);
        return send(res, 201, assetJson(asset));
      }
      const m5 = /^\/repos\/bench\/models\/releases\/assets\/(\d+)$/.exec(p);
      if (m5) {
        const found = findAsset(Number(m5[1]));
        if (!found) return send(res, 404, { message: 'Not Found' });
        if (method === 'DELETE') {
          found.r.assets.splice(found.r.assets.indexOf(found.a), 1);
          await rm(found.a.file, { force: true });
          return send(res, 204);
        }
        if (String(req.headers.accept).includes('octet-stream')) {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': found.a.size });
          await pipeline(createReadStream(found.a.file), res);
          return;
        }
        return send(res, 200, assetJson(found.a));
      }
      if (/^\/repos\/bench\/models\/(git\/ref\/|commits\/)/.test(p))
        return send(res, 404, { message: 'Not Found' });
      return send(res, 404, { message: `stand-in: no route for ${method} ${p}` });
    } catch (error) {
      if (!res.headersSent) send(res, 500, { message: String(error) });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url: base, close: () => new Promise((r) => server.close(() => r())) };
}

// ---------------------------------------------------------------------------------------------------------------
// Steps, each in a child process that prints one JSON line.

async function runChild(step: string, rest: string[]): Promise<Record<string, unknown>> {
  const started = performance.now();
  const result: Record<string, unknown> = {};
  const [a = '', b = ''] = rest;
  const partBytes = Number(process.env.SLMOPS_PART_BYTES) || undefined;
  if (step === 'pack') {
    const { archive } = await packBundle({ dir: a, out: b, env: ENV, ...(partBytes ? { partBytes } : {}) });
    result.bytes = archive.bytes;
  } else if (step === 'verify-archive') {
    const report = await verifyArchive(a);
    result.ok = report.ok;
  } else if (step === 'publish') {
    const client = createGitHubClient({ token: 'bench', baseUrl: b });
    const outcome = await publishBundle({
      dir: a,
      env: ENV,
      draft: false,
      releases: releasePort(client, { owner: 'bench', repo: 'models' }),
      log: silentLogger,
      ...(partBytes ? { partBytes } : {}),
    });
    result.result = outcome.result;
    result.assets = outcome.assets.map((x) => `${x.name} ${x.bytes}`);
  } else if (step === 'pull') {
    const client = createGitHubClient({ token: 'bench', baseUrl: a });
    const outcome = await pull({
      releases: releasePort(client, { owner: 'bench', repo: 'models' }),
      repository: 'bench/models',
      out: b,
      version: '1.0.0',
      log: silentLogger,
    });
    result.files = outcome.files.length;
  } else if (step === 'verify-dir') {
    result.ok = (await verifyDir(a)).ok;
  }
  result.ms = performance.now() - started;
  result.peakRssMB = peakRssMB();
  return result;
}

/** Runs a step in a fresh process (asynchronously: the stand-in server lives in this one and must keep serving). */
function child(step: string, rest: string[]): Promise<Record<string, number | string | boolean>> {
  return new Promise((resolvePromise, reject) => {
    const proc = spawn(process.execPath, [self, '--child', step, ...rest], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    proc.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) reject(new Error(`${step} failed (${code}):\n${stdout}\n${stderr}`));
      else resolvePromise(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}'));
    });
  });
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function gzipLevels(): Promise<void> {
  const dir = join(tmpdir(), 'slmops-publish-gzip');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const generated = join(dir, 'weights.bin');
  writeFileSync(generated, weightBlock());
  const inputs: [string, string][] = [
    ['digits-cnn (fp32 CNN)', join(repo, 'test/fixtures/models/digits-cnn/model.onnx')],
    ['tiny-shakespeare-kv (fp32 LM)', join(repo, 'test/fixtures/models/tiny-shakespeare-kv/model.onnx')],
    [
      'tiny-shakespeare-lm data (fp32)',
      join(repo, 'test/fixtures/models/tiny-shakespeare-lm/external/model.onnx.data'),
    ],
    ['generated fp32 weights, 64 MiB', generated],
  ];
  for (const extra of flag('files', '').split(',').filter(Boolean)) inputs.push([extra, extra]);
  const runs = Number(flag('runs', '3'));
  const rows: string[] = [
    '| input | bytes | level | compressed | ratio | MB/s (median of ' + runs + ') |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [name, file] of inputs) {
    if (!existsSync(file)) continue;
    const bytes = statSync(file).size;
    const entry: TarSource = {
      path: 'model.bin',
      bytes,
      open: () => createReadStream(file, { highWaterMark: 4 * MiB }),
    };
    for (const level of [constants.Z_BEST_SPEED, 6]) {
      const times: number[] = [];
      let size = 0;
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        const out = await writeTarGz(join(dir, `l${level}.tar.gz`), [entry], { mtime: new Date(0), level });
        times.push(performance.now() - t);
        size = out.bytes;
      }
      times.sort((x, y) => x - y);
      const ms = times[Math.floor(times.length / 2)] ?? 0;
      rows.push(
        `| ${name} | ${bytes} | ${level} | ${size} | ${(size / bytes).toFixed(4)} | ${(bytes / MB / (ms / 1000)).toFixed(1)} |`,
      );
    }
  }
  process.stdout.write(`${rows.join('\n')}\n`);
  rmSync(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  if (args[0] === '--child') {
    const out = await runChild(args[1] ?? '', args.slice(2));
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  if (args.includes('--gzip')) return gzipLevels();

  const size = parseSize(flag('size', '3GiB'));
  const dir = resolve(flag('dir', join(tmpdir(), 'slmops-publish-bench')));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  const needed = size * 4.2;
  process.stdout.write(
    `bundle of ${(size / 2 ** 30).toFixed(2)} GiB in ${dir} (free ${(free / 2 ** 30).toFixed(1)} GiB, needs about ${(needed / 2 ** 30).toFixed(1)} GiB)\n`,
  );
  if (free < needed) {
    process.stdout.write(
      `not enough disk: rerun with a smaller --size (e.g. --size ${Math.floor(free / 4.2 / 2 ** 30)}GiB)\n`,
    );
    process.exitCode = 2;
    return;
  }

  const rows: string[] = [];
  const report = (step: string, bytes: number, r: Record<string, unknown>) => {
    const ms = Number(r.ms);
    const rss = Number(r.peakRssMB);
    rows.push(
      `| ${step} | ${(ms / 1000).toFixed(1)} | ${(bytes / MB / (ms / 1000)).toFixed(0)} | ${rss.toFixed(0)} | ${rss <= 300 ? 'ok' : 'OVER'} |`,
    );
    process.stdout.write(`${step}: ${(ms / 1000).toFixed(1)} s, peak RSS ${rss.toFixed(0)} MB\n`);
  };

  const models = join(dir, 'models');
  let t = performance.now();
  await generateModel(models, size);
  const dataFile = join(models, 'model.onnx.data');
  const dataBytes = (await stat(dataFile)).size;
  process.stdout.write(
    `generated ${dataBytes} bytes of weights in ${((performance.now() - t) / 1000).toFixed(1)} s\n`,
  );
  t = performance.now();
  const sourceSha = await sha256Of(dataFile);
  process.stdout.write(`sha256 of the source: ${((performance.now() - t) / 1000).toFixed(1)} s\n`);

  if (!args.includes('--skip-pack')) {
    const bundle = join(dir, 'bundle.tar.gz');
    const packed = await child('pack', [models, bundle]);
    report('pack (hash + tar + gzip level 1)', dataBytes, packed);
    report('verify archive (gunzip + hash)', dataBytes, await child('verify-archive', [bundle]));
    await rm(bundle, { force: true });
  }

  const standIn = await startStandIn(join(dir, 'server'));
  try {
    const published = await child('publish', [models, standIn.url]);
    report('publish (hash + upload + verify)', dataBytes, published);
    process.stdout.write(`assets: ${(published.assets as unknown as string[]).join(', ')}\n`);
    const out = join(dir, 'device');
    report('pull (download + reassemble + check)', dataBytes, await child('pull', [standIn.url, out]));
    report('verify pulled folder', dataBytes, await child('verify-dir', [out]));
    t = performance.now();
    const pulledSha = await sha256Of(join(out, 'model.onnx.data'));
    const identical =
      pulledSha === sourceSha && (await stat(join(out, 'model.onnx.data'))).size === dataBytes;
    const cmp = spawnSync('cmp', ['-s', dataFile, join(out, 'model.onnx.data')]);
    process.stdout.write(
      `pulled model.onnx.data: sha256 ${identical ? 'equal' : 'DIFFERENT'}, cmp ${cmp.status === 0 ? 'byte-identical' : `differs (${cmp.status})`}\n`,
    );
  } finally {
    await standIn.close();
  }
  process.stdout.write(
    `\n| step | s | MB/s | peak RSS MB | ≤ 300 MB |\n| --- | ---: | ---: | ---: | --- |\n${rows.join('\n')}\n`,
  );
  if (!args.includes('--keep')) rmSync(dir, { recursive: true, force: true });
}

await main();
