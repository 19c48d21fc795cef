import { isAbsolute, relative } from 'node:path';
import type { Command } from 'commander';
import { ConfigurationError } from '../errors.ts';
import { packBundle } from '../publish/pack.ts';
import { parseVersionRequest } from '../publish/semver.ts';
import { checkOutputFile } from '../util/output-path.ts';
import type { CliIo } from './io.ts';

interface PackFlags {
  out: string;
  name?: string;
  include: string[];
  results: string[];
  release?: string;
  resultsOut?: string;
  level: string;
  json?: boolean;
}

export function registerPack(program: Command, io: CliIo): void {
  program
    .command('pack')
    .description(
      'bundle a folder of models into a reproducible .tar.gz with manifest.json (and results.json)',
    )
    .argument('<dir>', 'folder holding the models: every .onnx below it, with its external data')
    .requiredOption('--out <file>', 'the bundle to write, e.g. bundle.tar.gz')
    .option('--name <name>', 'model name (default: from the compress reports, else the folder name)')
    .option(
      '--include <path...>',
      'extra files (tokenizer, model card): paths or globs relative to <dir>',
      [],
    )
    .option(
      '--results <path...>',
      'bench results, verdict.json, compress reports (files, folders, globs)',
      [],
    )
    .option(
      '--release <version>',
      'the version (default: the pushed tag in GITHUB_REF, else 0.0.0+g<commit>)',
    )
    .option(
      '--results-out <file>',
      'where results.json goes (default: beside the bundle, when anything was measured)',
    )
    .option('--level <n>', 'gzip level 0-9 (default 1: weights barely compress; see docs/publish.md)', '1')
    .option('--json', 'print the manifest and the archive digest as JSON')
    .action(async (dir: string, flags: PackFlags) => {
      const level = Number(flags.level);
      if (!/^\d$/.test(flags.level)) {
        throw new ConfigurationError(`--level "${flags.level}" is not a gzip level 0-9`, {
          subject: 'slmops pack',
        });
      }
      const request =
        flags.release === undefined ? undefined : parseVersionRequest(flags.release, '--release');
      if (request?.kind === 'bump') {
        throw new ConfigurationError('pack takes an exact version, not a bump', {
          subject: '--release',
          fix: 'Give a version such as 1.2.0 (slmops publish bumps from the last release)',
        });
      }
      checkOutputFile(flags.out, '--out');
      const { prepared, archive, resultsPath } = await packBundle({
        dir,
        out: flags.out,
        ...(flags.name ? { name: flags.name } : {}),
        include: flags.include,
        results: flags.results,
        ...(request ? { version: request } : {}),
        ...(flags.resultsOut ? { resultsOut: flags.resultsOut } : {}),
        level,
        env: process.env,
      });
      if (flags.json) {
        io.out(
          JSON.stringify(
            {
              archive: { path: archive.path, bytes: archive.bytes, sha256: archive.sha256 },
              results: resultsPath ?? null,
              manifest: prepared.manifest,
            },
            null,
            2,
          ),
        );
        return;
      }
      const m = prepared.manifest;
      io.out(`${m.name} ${m.version}: ${m.files.length} files, identity ${m.identity}`);
      const sources = new Map(prepared.bundle.files.map((f) => [f.path, f.source]));
      for (const f of m.files) {
        // An --include from outside <dir> goes to the bundle's root: say where it came from.
        const source = sources.get(f.path) ?? prepared.bundle.root;
        const rel = relative(prepared.bundle.root, source);
        const outside = rel.startsWith('..') || isAbsolute(rel) ? `, from ${source}` : '';
        io.out(
          `  ${f.sha256}  ${f.path} (${f.bytes} bytes${f.parts ? `, ${f.parts.length} parts` : ''}${outside})`,
        );
      }
      io.out(`bundle: ${archive.path} (${archive.bytes} bytes, sha256 ${archive.sha256})`);
      if (resultsPath) io.out(`results: ${resultsPath}`);
      if (prepared.skippedResults > 0)
        io.err(
          `warning: ${prepared.skippedResults} bench result(s) measured models that are not in this bundle; left out`,
        );
    });
}
