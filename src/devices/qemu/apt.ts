/**
 * apt without root and without changing the host: a private apt state per architecture (its own lists, cache,
 * an empty dpkg status, the host's sources rewritten for that architecture), so `apt-get update`, dependency
 * resolution and `apt-get download` work for arm64 on an x86-64 Debian or Ubuntu machine that never ran
 * `dpkg --add-architecture`. Pure text functions here; ./sysroot.ts runs the commands.
 */
import { ConfigurationError } from '../../errors.ts';

/** One source of packages, as a deb822 stanza holds it. */
export interface AptSource {
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
  /** `Architectures:` / `[arch=…]`, when the source restricts them. */
  architectures?: string[];
  signedBy?: string;
  /** Where it came from (file name), for messages. */
  origin: string;
}

/** The archive of Ubuntu's arm64 (and other non-x86) packages. */
export const UBUNTU_PORTS = 'http://ports.ubuntu.com/ubuntu-ports';

/** Parses a deb822 `.sources` file (blank-line separated stanzas; `Enabled: no` stanzas are dropped). */
export function parseDeb822Sources(text: string, origin: string): AptSource[] {
  const sources: AptSource[] = [];
  const stanzas = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .split(/\n\s*\n/);
  for (const stanza of stanzas) {
    const fields = new Map<string, string>();
    let key: string | undefined;
    for (const line of stanza.split('\n')) {
      if (/^\s/.test(line) && key) {
        // A continuation line (multi-line Signed-By keys): kept as part of the field.
        fields.set(key, `${fields.get(key)}\n${line.trim()}`);
        continue;
      }
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      key = line.slice(0, colon).trim().toLowerCase();
      fields.set(key, line.slice(colon + 1).trim());
    }
    if (!fields.has('uris')) continue;
    if (/^(no|false|0)$/i.test(fields.get('enabled') ?? '')) continue;
    const list = (name: string) => (fields.get(name) ?? '').split(/\s+/).filter(Boolean);
    const architectures = list('architectures');
    const signedBy = fields.get('signed-by');
    sources.push({
      types: list('types'),
      uris: list('uris'),
      suites: list('suites'),
      components: list('components'),
      ...(architectures.length ? { architectures } : {}),
      ...(signedBy ? { signedBy } : {}),
      origin,
    });
  }
  return sources;
}

/** Parses a one-line `sources.list` (`deb [arch=amd64 signed-by=/k.gpg] http://… suite main contrib`). */
export function parseOneLineSources(text: string, origin: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const match = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!match) continue;
    const options = new Map<string, string>();
    for (const option of (match[2] ?? '').split(/\s+/).filter(Boolean)) {
      const eq = option.indexOf('=');
      if (eq > 0) options.set(option.slice(0, eq).toLowerCase(), option.slice(eq + 1));
    }
    const architectures = options.get('arch')?.split(',').filter(Boolean);
    const signedBy = options.get('signed-by');
    sources.push({
      types: [match[1]!],
      uris: [match[3]!],
      suites: [match[4]!],
      components: (match[5] ?? '').split(/\s+/).filter(Boolean),
      ...(architectures?.length ? { architectures } : {}),
      ...(signedBy ? { signedBy } : {}),
      origin,
    });
  }
  return sources;
}

/** Parses either format, by file name (`.sources` is deb822). */
export function parseSources(text: string, origin: string): AptSource[] {
  return origin.endsWith('.sources') ? parseDeb822Sources(text, origin) : parseOneLineSources(text, origin);
}

type Archive = 'debian' | 'ubuntu' | 'ubuntu-ports' | undefined;

/** Which distribution archive a URI is (Debian and Ubuntu archives and their mirrors), or undefined (third party). */
export function archiveOf(uri: string): Archive {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  const host = url.hostname.toLowerCase();
  const path = url.pathname.replace(/\/+$/, '');
  if (host === 'ports.ubuntu.com' || /\/ubuntu-ports$/.test(path)) return 'ubuntu-ports';
  if (host.endsWith('ubuntu.com') || /\/ubuntu$/.test(path)) return 'ubuntu';
  if (host.endsWith('debian.org') || /\/debian(-security)?$/.test(path)) return 'debian';
  return undefined;
}

/**
 * The sources to resolve `arch` packages from: the host's binary (`deb`) sources of the Debian or Ubuntu archives
 * (third-party repositories are left out: they may lack the architecture or carry other builds), restricted to
 * `arch`. For a foreign architecture, Ubuntu's archive (archive.ubuntu.com, its Azure and EC2 mirrors,
 * security.ubuntu.com), which holds amd64 and i386 only, becomes ports.ubuntu.com.
 */
export function sourcesFor(sources: readonly AptSource[], arch: string, hostArch: string): AptSource[] {
  const out: AptSource[] = [];
  const seen = new Set<string>();
  for (const source of sources) {
    if (!source.types.includes('deb')) continue;
    if (source.architectures && !source.architectures.includes(arch) && arch === hostArch) continue;
    const uris: string[] = [];
    for (const uri of source.uris) {
      const archive = archiveOf(uri);
      if (!archive) continue;
      const foreign = arch !== hostArch && !['amd64', 'i386'].includes(arch);
      uris.push(archive === 'ubuntu' && foreign ? UBUNTU_PORTS : uri);
    }
    if (uris.length === 0) continue;
    const rewritten: AptSource = {
      types: ['deb'],
      uris: [...new Set(uris)],
      suites: source.suites,
      components: source.components,
      architectures: [arch],
      ...(source.signedBy ? { signedBy: source.signedBy } : {}),
      origin: source.origin,
    };
    const key = JSON.stringify([rewritten.uris, rewritten.suites, rewritten.components]);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(rewritten);
  }
  return out;
}

/** Renders sources as one deb822 file. */
export function renderDeb822(sources: readonly AptSource[]): string {
  return sources
    .map((s) =>
      [
        `Types: ${s.types.join(' ')}`,
        `URIs: ${s.uris.join(' ')}`,
        `Suites: ${s.suites.join(' ')}`,
        `Components: ${s.components.join(' ')}`,
        ...(s.architectures ? [`Architectures: ${s.architectures.join(' ')}`] : []),
        ...(s.signedBy ? [`Signed-By: ${s.signedBy.split('\n').join('\n ')}`] : []),
      ].join('\n'),
    )
    .join('\n\n')
    .concat('\n');
}

/** Quotes a value for apt.conf. */
function quote(value: string): string {
  if (/["\n]/.test(value)) throw new Error(`cannot put ${JSON.stringify(value)} into an apt configuration`);
  return `"${value}"`;
}

/**
 * An apt.conf (passed with `apt-get -c`, after the host's own apt.conf.d, so proxies and mirrors still apply)
 * that gives apt a private state in `stateDir` for one architecture: its own lists and archives, an empty dpkg
 * status (so every dependency is resolved, none is taken from the host), its own sources, no locking (no root).
 */
export function privateAptConfig(stateDir: string, arch: string, sandboxUser?: string): string {
  const lines = [
    `APT::Architecture ${quote(arch)};`,
    `APT::Architectures { ${quote(arch)}; };`,
    `Dir::State ${quote(`${stateDir}/state`)};`,
    `Dir::State::Lists ${quote(`${stateDir}/state/lists`)};`,
    `Dir::State::status ${quote(`${stateDir}/state/status`)};`,
    `Dir::Cache ${quote(`${stateDir}/cache`)};`,
    `Dir::Etc::SourceList ${quote(`${stateDir}/sources.list`)};`,
    `Dir::Etc::SourceParts ${quote(`${stateDir}/sources.list.d`)};`,
    `Dir::Etc::Preferences ${quote(`${stateDir}/preferences`)};`,
    `Dir::Etc::PreferencesParts ${quote(`${stateDir}/preferences.d`)};`,
    'Debug::NoLocking "true";',
    'APT::Get::List-Cleanup "false";',
    'APT::Install-Recommends "false";',
    'Acquire::Languages "none";',
    'Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";',
    'Acquire::Retries "3";',
  ];
  // As root, apt downloads as the `_apt` user, who cannot write into a root-owned cache folder: a warning per file.
  if (sandboxUser) lines.push(`APT::Sandbox::User ${quote(sandboxUser)};`);
  return `${lines.join('\n')}\n`;
}

/** A package apt would install: name, version, architecture (`all` for architecture-independent ones). */
export interface ResolvedPackage {
  name: string;
  version: string;
  arch: string;
}

/**
 * The packages of `apt-get -s install …` (simulation, no root): its `Inst name (version suite [arch])` lines, in
 * apt's order. With an empty dpkg status this is the whole dependency closure.
 */
export function parseSimulatedInstall(output: string): ResolvedPackage[] {
  const packages: ResolvedPackage[] = [];
  for (const line of output.split('\n')) {
    const match = /^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) .*\[([^\]]+)\]\)/.exec(line);
    if (match) packages.push({ name: match[1]!.replace(/:.*$/, ''), version: match[2]!, arch: match[3]! });
  }
  return packages;
}

/** `name:arch=version` for `apt-get download` (arch-qualified, so a multi-arch host never picks its own). */
export function downloadSpec(pkg: ResolvedPackage): string {
  return pkg.arch === 'all' ? `${pkg.name}=${pkg.version}` : `${pkg.name}:${pkg.arch}=${pkg.version}`;
}

/** `ID` and `VERSION_CODENAME` of /etc/os-release (`debian`, `bookworm`). */
export function parseOsRelease(text: string): { id: string; codename: string; name: string } {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) fields.set(match[1]!, match[2]!.replace(/^"(.*)"$/, '$1'));
  }
  const id = fields.get('ID') ?? 'unknown';
  const codename =
    fields.get('VERSION_CODENAME') || fields.get('UBUNTU_CODENAME') || fields.get('VERSION_ID') || 'unknown';
  return { id, codename, name: fields.get('PRETTY_NAME') ?? `${id} ${codename}` };
}

/** The fix named whenever the host cannot provide the arm64 sysroot through apt. */
export const SYSROOT_FIX =
  'Run on a Debian or Ubuntu runner with network access to its package archive (ubuntu-latest works), ' +
  'give the archive in SLMOPS_ARM64_APT_SOURCES (a deb822 .sources file), or pre-seed the cache folder ' +
  '(see docs/arm64-emulation.md)';

/** Refuses a host with no Debian or Ubuntu source to take arm64 packages from. */
export function requireSources(sources: readonly AptSource[], arch: string, files: readonly string[]): void {
  if (sources.length > 0) return;
  throw new ConfigurationError(
    `no Debian or Ubuntu package source for ${arch} in ${files.length ? files.join(', ') : 'the apt configuration'}`,
    { subject: 'arm64 sysroot', fix: SYSROOT_FIX },
  );
}
