/**
 * Installing and checking bundles: a packed bundle unpacks and verifies; crafted archives (paths with "..",
 * absolute paths, links that escape, devices) are refused naming the entry, with nothing written; a tampered,
 * missing or unexpected file is refused naming it, and the destination keeps what it held.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { packBundle } from '../../src/publish/pack.ts';
import { unpackBundle } from '../../src/publish/pull.ts';
import { problemsOf, verifyArchive, verifyDir } from '../../src/publish/verify.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { tagEnv, variantsFolder } from './helpers.ts';

const tmp = tempDir('slmops-unpack-');
afterAll(() => tmp.remove());
let n = 0;
const scratch = () => {
  const dir = join(tmp.path, `case-${n++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

interface CraftedEntry {
  path: string;
  type?: 'File' | 'SymbolicLink' | 'Link' | 'Directory' | 'CharacterDevice' | 'FIFO';
  linkpath?: string;
  body?: Buffer | string;
}

/** A .tar.gz with exactly these entries, written header by header (no safety checks: that is the point). */
function craftTar(entries: readonly CraftedEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const block = Buffer.alloc(512);
    new Header({
      path: e.path,
      type: e.type ?? 'File',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: e.type === undefined || e.type === 'File' ? body.length : 0,
      mtime: new Date(0),
      ...(e.linkpath ? { linkpath: e.linkpath } : {}),
    }).encode(block);
    blocks.push(block);
    if (e.type === undefined || e.type === 'File') {
      blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

/** A real bundle, and its manifest and file contents, to craft variants of. */
async function packed(root: string) {
  const dir = variantsFolder(root);
  const { archive, prepared } = await packBundle({
    dir,
    out: join(root, 'bundle.tar.gz'),
    env: tagEnv('v1.0.0'),
  });
  const files = prepared.manifest.files.map((f) => ({ path: f.path, body: readFileSync(join(dir, f.path)) }));
  return { archive: archive.path, manifest: prepared.manifestBytes, files };
}

/** A packed bundle unpacked into `<case>/<name>`: the case folder, the archive and the folder. */
async function installed(name: string) {
  const root = scratch();
  const { archive } = await packed(root);
  const out = join(root, name);
  await unpackBundle(archive, out);
  return { root, archive, out };
}

describe('unpacking a bundle (slmops pull --bundle)', () => {
  it('installs a packed bundle into a new folder, which then verifies', async () => {
    const root = scratch();
    const { archive, files } = await packed(root);
    const out = join(root, 'installed');

    const outcome = await unpackBundle(archive, out);

    expect(outcome).toMatchObject({ name: 'digits', version: '1.0.0' });
    for (const f of files) expect(readFileSync(join(out, f.path)).equals(f.body)).toBe(true);
    const report = await verifyDir(out);
    expect(report.ok).toBe(true);
    expect(report.files).toHaveLength(4);
    expect((await verifyArchive(archive)).ok).toBe(true);
    expect(readdirSync(root).filter((f) => f.includes('staging'))).toEqual([]);
  });

  it.each([
    [
      'a path with ..',
      { path: '../evil.onnx', body: 'x' },
      'holds a file with the unsafe path "../evil.onnx"',
    ],
    [
      'a path climbing out midway',
      { path: 'models/../../evil.onnx', body: 'x' },
      'holds a file with the unsafe path "models/../../evil.onnx"',
    ],
    [
      'an absolute path',
      { path: '/tmp/slmops-evil.onnx', body: 'x' },
      'holds a file with the unsafe path "/tmp/slmops-evil.onnx"',
    ],
    [
      'a Windows drive path',
      { path: 'C:/evil.onnx', body: 'x' },
      'holds a file with the unsafe path "C:/evil.onnx"',
    ],
    [
      'a symbolic link that escapes',
      { path: 'models', type: 'SymbolicLink', linkpath: '../../outside' },
      'holds a symbolic link "models" pointing to "../../outside"; bundles hold regular files only',
    ],
    [
      'a symbolic link that stays inside',
      { path: 'alias.onnx', type: 'SymbolicLink', linkpath: 'model.onnx' },
      'holds a symbolic link "alias.onnx" pointing to "model.onnx"',
    ],
    [
      'a hard link',
      { path: 'hard.onnx', type: 'Link', linkpath: '/etc/passwd' },
      'holds a hard link "hard.onnx" pointing to "/etc/passwd"',
    ],
    ['a device', { path: 'dev', type: 'CharacterDevice' }, 'holds a device "dev"'],
    [
      'a folder climbing out',
      { path: '../up/', type: 'Directory' },
      'holds a folder with the unsafe path "../up/"',
    ],
  ] as const)('refuses %s, naming the entry, and writes nothing', async (_name, bad, message) => {
    const root = scratch();
    const { manifest, files } = await packed(root);
    const archive = join(root, 'crafted.tar.gz');
    writeFileSync(
      archive,
      craftTar([{ path: 'manifest.json', body: manifest }, bad as CraftedEntry, ...files]),
    );
    const out = join(root, 'out');

    await expect(unpackBundle(archive, out)).rejects.toThrow(`${archive}: ${message}`);
    await expect(verifyArchive(archive)).rejects.toThrow(message);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(root, 'evil.onnx'))).toBe(false);
    expect(existsSync('/tmp/slmops-evil.onnx')).toBe(false);
    expect(readdirSync(root).sort()).toEqual(['bundle.tar.gz', 'crafted.tar.gz', 'results.json', 'variants']);
  });

  it('refuses a tampered file, naming it, and leaves an earlier install as it was', async () => {
    const root = scratch();
    const { archive, manifest, files } = await packed(root);
    const out = join(root, 'installed');
    await unpackBundle(archive, out);
    const before = readFileSync(join(out, 'digits@int8', 'model.onnx'));
    const tampered = files.map((f) =>
      f.path === 'digits@int8/model.onnx'
        ? {
            ...f,
            body: Buffer.concat([
              f.body.subarray(0, 100),
              Buffer.from([f.body[100]! ^ 0xff]),
              f.body.subarray(101),
            ]),
          }
        : f,
    );
    const bad = join(root, 'tampered.tar.gz');
    writeFileSync(bad, craftTar([{ path: 'manifest.json', body: manifest }, ...tampered]));

    await expect(unpackBundle(bad, out)).rejects.toThrow(
      /digits@int8\/model\.onnx: sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}/,
    );
    const report = await verifyArchive(bad);
    expect(problemsOf(report)).toEqual([expect.stringMatching(/^digits@int8\/model\.onnx: sha256 /)]);
    expect(readFileSync(join(out, 'digits@int8', 'model.onnx')).equals(before)).toBe(true);
    expect((await verifyDir(out)).ok).toBe(true);
  });

  it('refuses a bundle with a file missing or one the manifest does not list, naming them', async () => {
    const root = scratch();
    const { manifest, files } = await packed(root);
    const bad = join(root, 'bad.tar.gz');
    writeFileSync(
      bad,
      craftTar([
        { path: 'manifest.json', body: manifest },
        ...files.filter((f) => !f.path.endsWith('extra.bin')),
        { path: 'notes.txt', body: 'hi' },
      ]),
    );
    await expect(unpackBundle(bad, join(root, 'out'))).rejects.toThrow(
      /notes\.txt: not in the manifest; digits@fp16\/weights\/extra\.bin: missing/,
    );
  });

  it('stops writing a file at the size its manifest declares', async () => {
    const root = scratch();
    const { manifest, files } = await packed(root);
    const bad = join(root, 'longer.tar.gz');
    const big = files.map((f) =>
      f.path === 'digits@int8/model.onnx'
        ? { ...f, body: Buffer.concat([f.body, Buffer.alloc(1 << 20)]) }
        : f,
    );
    writeFileSync(bad, craftTar([{ path: 'manifest.json', body: manifest }, ...big]));
    await expect(unpackBundle(bad, join(root, 'out'))).rejects.toThrow(
      /digits@int8\/model\.onnx: more than the \d+ bytes the manifest says/,
    );
    expect(existsSync(join(root, 'out'))).toBe(false);
  });

  it('refuses to pack a file at a path slmops writes itself', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    writeFileSync(join(dir, 'manifest.json'), '{"name":"web app"}');
    await expect(
      packBundle({ dir, out: join(root, 'b.tar.gz'), env: tagEnv('v1.0.0'), include: ['manifest.json'] }),
    ).rejects.toThrow(/--include would put manifest\.json in the bundle, a path slmops writes itself/);
  });

  it('refuses an archive that does not start with its manifest, and one cut short', async () => {
    const root = scratch();
    const { archive, files } = await packed(root);
    const noManifest = join(root, 'nomanifest.tar.gz');
    writeFileSync(noManifest, craftTar(files));
    await expect(unpackBundle(noManifest, join(root, 'a'))).rejects.toThrow(
      'does not start with manifest.json',
    );
    const cut = join(root, 'cut.tar.gz');
    const bytes = readFileSync(archive);
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expect(unpackBundle(cut, join(root, 'b'))).rejects.toThrow(/is not a valid bundle archive/);
  });

  it('refuses to replace a folder that does not hold a bundle', async () => {
    const root = scratch();
    const { archive } = await packed(root);
    const out = join(root, 'home');
    mkdirSync(out);
    writeFileSync(join(out, 'notes.txt'), 'mine');
    await expect(unpackBundle(archive, out)).rejects.toThrow(`${out}: exists and does not hold a bundle`);
    expect(readdirSync(out)).toEqual(['notes.txt']);
  });

  it("refuses to replace a folder whose manifest.json is not a slmops manifest (a web app's, say)", async () => {
    const root = scratch();
    const { archive } = await packed(root);
    const out = join(root, 'webapp');
    mkdirSync(out);
    writeFileSync(join(out, 'manifest.json'), JSON.stringify({ name: 'My PWA', start_url: '/' }));
    writeFileSync(join(out, 'index.html'), '<html></html>');
    await expect(unpackBundle(archive, out)).rejects.toThrow(`${out}: exists and does not hold a bundle`);
    expect(readdirSync(out).sort()).toEqual(['index.html', 'manifest.json']);
  });

  it('recovers from a pull killed between its two renames, and clears stale staging folders', async () => {
    const { root, archive, out } = await installed('device');
    // Killed after moving the earlier pull aside, before moving the new one in; an hour-old staging folder too.
    const { renameSync, utimesSync } = await import('node:fs');
    renameSync(out, `${out}.slmops-old-deadbeef`);
    const stale = `${out}.slmops-staging-cafef00d`;
    mkdirSync(stale);
    writeFileSync(join(stale, 'half.bin'), 'x');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(stale, twoHoursAgo, twoHoursAgo);
    await unpackBundle(archive, out);
    expect(readdirSync(root).filter((n) => n.startsWith('device'))).toEqual(['device']);
    expect((await verifyDir(out)).ok).toBe(true);
  });

  it('replaces an earlier pull of a bundle', async () => {
    const { archive, out } = await installed('again');
    await unpackBundle(archive, out);
    expect((await verifyDir(out)).ok).toBe(true);
  });
});

describe('slmops verify on a folder', () => {
  it('names a file reached through a folder that links out of the pulled folder', async () => {
    const { root, out } = await installed('linked');
    const { cpSync, rmSync, symlinkSync } = await import('node:fs');
    const elsewhere = join(root, 'elsewhere');
    cpSync(join(out, 'digits@fp16'), elsewhere, { recursive: true });
    rmSync(join(out, 'digits@fp16'), { recursive: true });
    symlinkSync(elsewhere, join(out, 'digits@fp16'));
    const report = await verifyDir(out);
    expect(report.ok).toBe(false);
    expect(report.files.filter((f) => f.status === 'outside the folder').map((f) => f.path)).toContain(
      'digits@fp16/model.onnx',
    );
  });

  it('does not let a pull record that lists no file switch verification off', async () => {
    const { out } = await installed('record');
    mkdirSync(join(out, '.slmops'), { recursive: true });
    writeFileSync(join(out, '.slmops', 'pull.json'), JSON.stringify({ schema: 'slmops.pull/v1', files: [] }));
    writeFileSync(join(out, 'digits@int8', 'model.onnx'), 'replaced');
    await expect(verifyDir(out)).rejects.toThrow(/pull\.json: does not match the manifest/);
  });

  it('names a changed, a missing and a symlinked file, and notes extra files without failing on them', async () => {
    const { root, out } = await installed('installed');
    writeFileSync(join(out, 'notes.txt'), 'extra');
    expect(await verifyDir(out)).toMatchObject({ ok: true, extra: ['notes.txt'] });

    const data = join(out, 'digits@fp16', 'weights', 'data.bin');
    writeFileSync(data, Buffer.concat([readFileSync(data), Buffer.from('x')]));
    const { rmSync } = await import('node:fs');
    rmSync(join(out, 'digits@fp16', 'weights', 'extra.bin'));
    const model = join(out, 'digits@int8', 'model.onnx');
    const copy = join(root, 'elsewhere.onnx');
    writeFileSync(copy, readFileSync(model));
    rmSync(model);
    symlinkSync(copy, model);

    const report = await verifyDir(out);
    expect(report.ok).toBe(false);
    expect(problemsOf(report)).toEqual([
      'digits@fp16/weights/data.bin: 289 bytes, the manifest says 288',
      'digits@fp16/weights/extra.bin: missing',
      'digits@int8/model.onnx: not a regular file',
    ]);
  });

  it('refuses a manifest whose identity no longer matches its files', async () => {
    const { out } = await installed('installed');
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    manifest.files[0].sha256 = '0'.repeat(64);
    writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest));
    await expect(verifyDir(out)).rejects.toThrow('its identity does not match the files it lists');
  });
});
