import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordingLogger } from '../../src/action-kit/logger.ts';
import { ConfigurationError } from '../../src/errors.ts';
import {
  COMPLETE_MARKER,
  type EnsureOnnxRuntimeOptions,
  ensureOnnxRuntime,
  ORT_DIR_ENV,
  runtimeOptionsFromEnv,
} from '../../src/runtime/install.ts';
import type { LockedRuntime } from '../../src/runtime/lock.ts';
import { DEFAULT_REGISTRY, RuntimeIntegrityError } from '../../src/runtime/sources.ts';
import {
  commonPackageFiles,
  FAKE_VERSION,
  fakeRuntime,
  nodePackageFiles,
  writeTarball,
} from './fake-packages.ts';

const linuxArm = { platform: 'linux', arch: 'arm64', glibc: '2.36' };

let root: string;
let tarballs: string;
let lock: LockedRuntime;
let toolCache: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'slmops-install-'));
  ({ tarballs, lock } = await fakeRuntime(root));
  toolCache = path.join(root, 'tool-cache');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function options(overrides: Partial<EnsureOnnxRuntimeOptions> = {}): EnsureOnnxRuntimeOptions & {
  log: ReturnType<typeof recordingLogger>;
  env: NodeJS.ProcessEnv;
} {
  return {
    toolCache,
    source: { kind: 'tarballs', dir: tarballs },
    lock,
    host: linuxArm,
    env: {},
    ...overrides,
    log: recordingLogger(),
  } as EnsureOnnxRuntimeOptions & { log: ReturnType<typeof recordingLogger>; env: NodeJS.ProcessEnv };
}

const expectedDir = () => path.join(toolCache, 'slmops-onnxruntime', FAKE_VERSION, 'linux-arm64');

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('ensureOnnxRuntime from local tarballs', () => {
  it('installs both packages into the tool cache, keeping only this platform, and sets SLMOPS_ORT_DIR', async () => {
    const opts = options();
    const dir = await ensureOnnxRuntime(opts);
    expect(dir).toBe(expectedDir());
    expect(opts.env[ORT_DIR_ENV]).toBe(dir);
    const napi = path.join(dir, 'node_modules/onnxruntime-node/bin/napi-v6');
    expect(readdirSync(napi)).toEqual(['linux']);
    expect(readdirSync(path.join(napi, 'linux'))).toEqual(['arm64']);
    expect(existsSync(path.join(dir, 'node_modules/onnxruntime-common/package.json'))).toBe(true);
    expect(existsSync(path.join(dir, 'package.json'))).toBe(true);
    const marker = JSON.parse(readFileSync(path.join(dir, COMPLETE_MARKER), 'utf8'));
    expect(
      marker.packages.map((p: { name: string; integrityVerified: boolean }) => [p.name, p.integrityVerified]),
    ).toEqual([
      ['onnxruntime-node', true],
      ['onnxruntime-common', true],
    ]);
    // Nothing but the installed folder is left behind (no temp folders, no tarball copies).
    expect(readdirSync(path.dirname(dir))).toEqual(['linux-arm64']);
    expect(readdirSync(dir).sort()).toEqual(['.complete', 'node_modules', 'package.json']);
  });

  it('reuses a complete folder on the next call and says "cache hit"', async () => {
    await ensureOnnxRuntime(options());
    const second = options({ source: { kind: 'tarballs', dir: path.join(root, 'nowhere') } });
    expect(await ensureOnnxRuntime(second)).toBe(expectedDir());
    expect(second.log.messages('info')).toEqual([
      `onnxruntime-node ${FAKE_VERSION} (linux-arm64): cache hit in ${expectedDir()}`,
    ]);
  });

  it('trusts an empty .complete marker, as written by hand when pre-seeding the tool cache', async () => {
    mkdirSync(expectedDir(), { recursive: true });
    writeFileSync(path.join(expectedDir(), COMPLETE_MARKER), '');
    const opts = options({ source: { kind: 'tarballs', dir: path.join(root, 'nowhere') } });
    expect(await ensureOnnxRuntime(opts)).toBe(expectedDir());
    expect(opts.log.messages('info')[0]).toContain('cache hit');
  });

  it('replaces an incomplete folder (no marker) left by an interrupted copy', async () => {
    mkdirSync(path.join(expectedDir(), 'node_modules'), { recursive: true });
    writeFileSync(path.join(expectedDir(), 'half-written'), '');
    const opts = options();
    await ensureOnnxRuntime(opts);
    expect(existsSync(path.join(expectedDir(), COMPLETE_MARKER))).toBe(true);
    expect(existsSync(path.join(expectedDir(), 'half-written'))).toBe(false);
    expect(opts.log.messages('warning')).toEqual([
      `replacing the incomplete runtime folder ${expectedDir()}`,
    ]);
  });

  it('lets concurrent installs on one machine finish with one complete folder', async () => {
    const jobs = [options(), options(), options()];
    const dirs = await Promise.all(jobs.map((o) => ensureOnnxRuntime(o)));
    expect(new Set(dirs)).toEqual(new Set([expectedDir()]));
    expect(readdirSync(path.dirname(expectedDir()))).toEqual(['linux-arm64']);
    expect(existsSync(path.join(expectedDir(), COMPLETE_MARKER))).toBe(true);
    const losers = jobs.filter((o) =>
      o.log.messages('info').some((m) => m.includes('another job installed')),
    );
    expect(losers.length).toBe(2);
  });

  it('accepts a tarball with other bytes but the locked name and version, warning that integrity was not checked', async () => {
    const other = path.join(root, 'repacked');
    mkdirSync(other);
    copyFileSync(
      path.join(tarballs, `onnxruntime-common-${FAKE_VERSION}.tgz`),
      path.join(other, 'common.tgz'),
    );
    const files = nodePackageFiles();
    files['README.md'] = 'repacked with one more file';
    await writeTarball(path.join(other, 'my-build-of-ort.tgz'), files);
    const opts = options({ source: { kind: 'tarballs', dir: other } });
    await ensureOnnxRuntime(opts);
    const [warning] = opts.log.messages('warning');
    expect(warning).toContain(
      `onnxruntime-node@${FAKE_VERSION}: using ${path.join(other, 'my-build-of-ort.tgz')}`,
    );
    expect(warning).toContain('integrity was not checked against the lock');
    const marker = JSON.parse(readFileSync(path.join(expectedDir(), COMPLETE_MARKER), 'utf8'));
    expect(marker.packages[0].integrityVerified).toBe(false);
  });

  it('names the missing package and the npm pack command when the folder lacks a tarball', async () => {
    const partial = path.join(root, 'partial');
    mkdirSync(partial);
    copyFileSync(path.join(tarballs, `onnxruntime-node-${FAKE_VERSION}.tgz`), path.join(partial, 'ort.tgz'));
    const error = await rejection(ensureOnnxRuntime(options({ source: { kind: 'tarballs', dir: partial } })));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toBe(
      `SLMOPS_RUNTIME_TARBALLS: no tarball of onnxruntime-common@${FAKE_VERSION} in ${partial} (found: ort.tgz). ` +
        `Add it on a connected machine with: npm pack onnxruntime-common@${FAKE_VERSION} --pack-destination ${partial}`,
    );
    expect(existsSync(expectedDir())).toBe(false);
  });

  it('refuses a tarball that holds another version than its package.json promises to the lock', async () => {
    const wrong = path.join(root, 'wrong');
    mkdirSync(wrong);
    await writeTarball(path.join(wrong, `onnxruntime-node-${FAKE_VERSION}.tgz`), nodePackageFiles('1.0.0'));
    await writeTarball(path.join(wrong, `onnxruntime-common-${FAKE_VERSION}.tgz`), commonPackageFiles());
    const error = await rejection(ensureOnnxRuntime(options({ source: { kind: 'tarballs', dir: wrong } })));
    expect(error.message).toContain(`no tarball of onnxruntime-node@${FAKE_VERSION} in ${wrong}`);
  });

  it('refuses a tarball without this platform’s binding, before anything lands in the cache', async () => {
    const noArm = path.join(root, 'no-arm');
    mkdirSync(noArm);
    await writeTarball(path.join(noArm, 'node.tgz'), nodePackageFiles(FAKE_VERSION, ['linux/x64']));
    copyFileSync(
      path.join(tarballs, `onnxruntime-common-${FAKE_VERSION}.tgz`),
      path.join(noArm, 'common.tgz'),
    );
    const error = await rejection(ensureOnnxRuntime(options({ source: { kind: 'tarballs', dir: noArm } })));
    expect(error.message).toContain('holds no onnxruntime_binding.node for linux/arm64');
    expect(readdirSync(path.dirname(expectedDir()))).toEqual([]);
  });

  it('names the tool cache when it cannot write there', async () => {
    writeFileSync(path.join(root, 'a-file'), '');
    const error = await rejection(
      ensureOnnxRuntime(options({ toolCache: path.join(root, 'a-file', 'cache') })),
    );
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toMatch(
      /^RUNNER_TOOL_CACHE: cannot write to .*a-file\/cache\/slmops-onnxruntime\/9\.9\.9: /,
    );
  });

  it('refuses an unsupported platform before reading any source', async () => {
    const error = await rejection(
      ensureOnnxRuntime(options({ host: { platform: 'linux', arch: 'riscv64', glibc: '2.39' } })),
    );
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain(
      'ships no binaries for linux/riscv64; it ships darwin/arm64, linux/arm64',
    );
    expect(existsSync(toolCache)).toBe(false);
  });
});

describe('ensureOnnxRuntime from a registry', () => {
  let server: Server;
  let registry: string;
  let requests: string[];
  let failuresLeft: number;
  let serveDir: string;

  beforeEach(async () => {
    requests = [];
    failuresLeft = 0;
    serveDir = tarballs;
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      if (failuresLeft > 0) {
        failuresLeft--;
        res.writeHead(503).end('busy');
        return;
      }
      const match = /^\/mirror\/([^/]+)\/-\/([^/]+\.tgz)$/.exec(req.url ?? '');
      const file = match ? path.join(serveDir, match[2] ?? '') : '';
      if (!match || !existsSync(file)) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(file));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    registry = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mirror/`;
  });

  afterEach(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const fast = { attempts: 3, retryDelayMs: () => 1 };

  it('downloads the locked tarball paths from the mirror and verifies their sha512', async () => {
    const opts = options({ source: { kind: 'registry', url: registry, download: fast } });
    expect(await ensureOnnxRuntime(opts)).toBe(expectedDir());
    expect(requests).toEqual([
      `/mirror/onnxruntime-node/-/onnxruntime-node-${FAKE_VERSION}.tgz`,
      `/mirror/onnxruntime-common/-/onnxruntime-common-${FAKE_VERSION}.tgz`,
    ]);
    expect(readdirSync(expectedDir()).sort()).toEqual(['.complete', 'node_modules', 'package.json']);
  });

  it('retries when the registry answers 503', async () => {
    failuresLeft = 2;
    const opts = options({ source: { kind: 'registry', url: registry, download: fast } });
    await ensureOnnxRuntime(opts);
    expect(requests).toHaveLength(4);
    expect(opts.log.messages('info')).toContain(
      `downloading ${registry}onnxruntime-node/-/onnxruntime-node-${FAKE_VERSION}.tgz (attempt 3 of 3)`,
    );
  });

  it('refuses bytes whose sha512 differs from the lock, naming the package and both digests', async () => {
    serveDir = path.join(root, 'tampered');
    mkdirSync(serveDir);
    const files = nodePackageFiles();
    files['dist/index.js'] = 'process.exit(13);\n';
    await writeTarball(path.join(serveDir, `onnxruntime-node-${FAKE_VERSION}.tgz`), files);
    const error = await rejection(
      ensureOnnxRuntime(options({ source: { kind: 'registry', url: registry, download: fast } })),
    );
    expect(error).toBeInstanceOf(RuntimeIntegrityError);
    expect(error.message).toMatch(
      new RegExp(
        `^onnxruntime: onnxruntime-node@${FAKE_VERSION} from ${registry}\\S+ has integrity sha512-\\S+, but ` +
          'package-lock.json locks sha512-\\S+; refusing to install it',
      ),
    );
    expect(error.message).toContain(lock.packages[0]?.integrity);
    expect(requests).toHaveLength(1);
    expect(existsSync(expectedDir())).toBe(false);
  });

  it('does not retry a 404 and says which URL answered it', async () => {
    const error = await rejection(
      ensureOnnxRuntime(
        options({ source: { kind: 'registry', url: `${registry}nothing-here`, download: fast } }),
      ),
    );
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain('answered HTTP 404');
    expect(requests).toHaveLength(1);
  });

  it('fails with one message naming the three ways to provide the runtime when the registry is unreachable', async () => {
    await new Promise((resolve) => server.close(resolve));
    server = createServer();
    const error = await rejection(
      ensureOnnxRuntime(options({ source: { kind: 'registry', url: registry, download: fast } })),
    );
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain(`could not download onnxruntime-node@${FAKE_VERSION} from ${registry}`);
    expect(error.message).toContain('after 3 attempts (fetch failed: ECONNREFUSED)');
    expect(error.message).toContain(
      'network access to the npm registry (or a mirror in SLMOPS_NPM_REGISTRY)',
    );
    expect(error.message).toContain(
      `npm pack onnxruntime-node@${FAKE_VERSION} onnxruntime-common@${FAKE_VERSION}`,
    );
    expect(error.message).toContain(`a pre-seeded tool cache at ${expectedDir()}`);
  });
});

describe('ensureOnnxRuntime behind proxies', () => {
  const fetchFailing = (code: string) => {
    const calls: string[] = [];
    const fetch = (async (url: string) => {
      calls.push(url);
      throw new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });
    }) as unknown as typeof globalThis.fetch;
    return { calls, fetch };
  };

  it('does not retry an untrusted TLS certificate and names NODE_EXTRA_CA_CERTS', async () => {
    const { calls, fetch } = fetchFailing('SELF_SIGNED_CERT_IN_CHAIN');
    const source = {
      kind: 'registry' as const,
      url: 'https://registry.example',
      download: { fetch, attempts: 3 },
    };
    const error = await rejection(ensureOnnxRuntime(options({ source })));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain('the TLS certificate is not trusted (SELF_SIGNED_CERT_IN_CHAIN)');
    expect(error.message).toContain('NODE_EXTRA_CA_CERTS');
    expect(calls).toHaveLength(1);
  });

  it('says that Node ignores HTTPS_PROXY without NODE_USE_ENV_PROXY=1', async () => {
    const { fetch } = fetchFailing('ECONNREFUSED');
    const download = { fetch, attempts: 2, retryDelayMs: () => 1 };
    const withProxy = { HTTPS_PROXY: 'http://proxy.corp:3128' };
    const hinted = await rejection(
      ensureOnnxRuntime(
        options({
          source: { kind: 'registry', url: 'https://r.example', download: { ...download, env: withProxy } },
        }),
      ),
    );
    expect(hinted.message).toContain('which Node uses only with NODE_USE_ENV_PROXY=1');
    const enabled = { ...withProxy, NODE_USE_ENV_PROXY: '1' };
    const plain = await rejection(
      ensureOnnxRuntime(
        options({
          source: { kind: 'registry', url: 'https://r.example', download: { ...download, env: enabled } },
        }),
      ),
    );
    expect(plain.message).not.toContain('NODE_USE_ENV_PROXY');
  });
});

describe('runtimeOptionsFromEnv', () => {
  const log = recordingLogger();

  it('uses the runner tool cache and the public registry by default', () => {
    const env = { RUNNER_TOOL_CACHE: '/opt/hostedtoolcache' };
    const opts = runtimeOptionsFromEnv(env, log);
    expect(opts.toolCache).toBe('/opt/hostedtoolcache');
    expect(opts.source).toEqual({ kind: 'registry', url: DEFAULT_REGISTRY, download: { env } });
  });

  it('falls back to ~/.cache/slmops, a mirror, or a tarball folder', () => {
    expect(runtimeOptionsFromEnv({ HOME: '/home/pi' }, log).toolCache).toBe('/home/pi/.cache/slmops');
    expect(runtimeOptionsFromEnv({ SLMOPS_NPM_REGISTRY: 'https://npm.example/' }, log).source).toMatchObject({
      kind: 'registry',
      url: 'https://npm.example/',
    });
    expect(runtimeOptionsFromEnv({ SLMOPS_RUNTIME_TARBALLS: '/srv/ort' }, log).source).toEqual({
      kind: 'tarballs',
      dir: path.resolve('/srv/ort'),
    });
  });
});
