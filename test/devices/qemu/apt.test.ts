import { describe, expect, it } from 'vitest';
import {
  archiveOf,
  downloadSpec,
  parseDeb822Sources,
  parseOneLineSources,
  parseOsRelease,
  parseSimulatedInstall,
  privateAptConfig,
  renderDeb822,
  requireSources,
  sourcesFor,
  UBUNTU_PORTS,
} from '../../../src/devices/qemu/apt.ts';

const DEBIAN_SOURCES = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

// /etc/apt/sources.list.d/ubuntu.sources of a GitHub-hosted ubuntu-24.04 runner (Azure mirror).
const UBUNTU_SOURCES = `Types: deb
URIs: http://azure.archive.ubuntu.com/ubuntu/
Suites: noble noble-updates noble-backports
Components: main universe restricted multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg

Types: deb
URIs: http://security.ubuntu.com/ubuntu
Suites: noble-security
Components: main universe restricted multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg

Types: deb
URIs: http://example.invalid/off
Suites: noble
Components: main
Enabled: no
`;

const THIRD_PARTY = `deb [arch=amd64 signed-by=/usr/share/keyrings/microsoft.gpg] https://packages.microsoft.com/ubuntu/24.04/prod noble main
deb-src http://deb.debian.org/debian bookworm main
deb [arch=amd64,arm64] http://ftp.de.debian.org/debian bookworm main contrib  # a mirror
`;

describe('apt sources of the host', () => {
  it('parses deb822 stanzas, dropping disabled ones and comments', () => {
    const sources = parseDeb822Sources(DEBIAN_SOURCES, 'debian.sources');
    expect(sources).toHaveLength(2);
    expect(sources[0]).toMatchObject({
      types: ['deb'],
      uris: ['http://deb.debian.org/debian'],
      suites: ['bookworm', 'bookworm-updates'],
      components: ['main'],
      signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg',
    });
    expect(parseDeb822Sources(UBUNTU_SOURCES, 'ubuntu.sources')).toHaveLength(2);
  });

  it('parses one-line sources with their options', () => {
    const sources = parseOneLineSources(THIRD_PARTY, 'sources.list');
    expect(sources.map((s) => s.types[0])).toEqual(['deb', 'deb-src', 'deb']);
    expect(sources[0]).toMatchObject({
      architectures: ['amd64'],
      signedBy: '/usr/share/keyrings/microsoft.gpg',
    });
    expect(sources[2]).toMatchObject({
      uris: ['http://ftp.de.debian.org/debian'],
      components: ['main', 'contrib'],
    });
  });

  it('tells the Debian and Ubuntu archives from third-party repositories', () => {
    expect(archiveOf('http://deb.debian.org/debian')).toBe('debian');
    expect(archiveOf('http://mirror.example.org/debian/')).toBe('debian');
    expect(archiveOf('http://azure.archive.ubuntu.com/ubuntu/')).toBe('ubuntu');
    expect(archiveOf('http://ports.ubuntu.com/ubuntu-ports')).toBe('ubuntu-ports');
    expect(archiveOf('https://packages.microsoft.com/ubuntu/24.04/prod')).toBeUndefined();
    expect(archiveOf('not a url')).toBeUndefined();
  });

  it('keeps the Debian archive for arm64, restricted to arm64', () => {
    const arm64 = sourcesFor(parseDeb822Sources(DEBIAN_SOURCES, 'd.sources'), 'arm64', 'amd64');
    expect(arm64).toHaveLength(2);
    expect(arm64.every((s) => s.architectures?.join() === 'arm64')).toBe(true);
    expect(arm64[0]!.uris).toEqual(['http://deb.debian.org/debian']);
  });

  it('moves Ubuntu to ports.ubuntu.com for arm64, and keeps it for the host architecture', () => {
    const sources = parseDeb822Sources(UBUNTU_SOURCES, 'ubuntu.sources');
    const arm64 = sourcesFor(sources, 'arm64', 'amd64');
    expect(arm64.map((s) => s.uris)).toEqual([[UBUNTU_PORTS], [UBUNTU_PORTS]]);
    expect(arm64.map((s) => s.suites)).toEqual([
      ['noble', 'noble-updates', 'noble-backports'],
      ['noble-security'],
    ]);
    const host = sourcesFor(sources, 'amd64', 'amd64');
    expect(host[0]!.uris).toEqual(['http://azure.archive.ubuntu.com/ubuntu/']);
    const text = renderDeb822(arm64);
    expect(text).toContain('URIs: http://ports.ubuntu.com/ubuntu-ports\n');
    expect(text).toContain('Architectures: arm64\n');
    expect(text).toContain('Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg');
  });

  it('leaves out third-party repositories, source packages and sources not for the host architecture', () => {
    const sources = parseOneLineSources(THIRD_PARTY, 'sources.list');
    expect(sourcesFor(sources, 'arm64', 'amd64').map((s) => s.uris[0])).toEqual([
      'http://ftp.de.debian.org/debian',
    ]);
    expect(sourcesFor(sources, 'i386', 'i386')).toEqual([]);
  });

  it('refuses a host with no usable source, naming the files it read', () => {
    expect(() => requireSources([], 'arm64', ['/etc/apt/sources.list'])).toThrow(
      /no Debian or Ubuntu package source for arm64 in \/etc\/apt\/sources.list.*SLMOPS_ARM64_APT_SOURCES/,
    );
  });
});

describe('the private apt state', () => {
  it('points every state, cache and source path into its folder, for one architecture, without locking', () => {
    const conf = privateAptConfig('/cache/apt-arm64', 'arm64', 'root');
    expect(conf).toContain('APT::Architecture "arm64";');
    expect(conf).toContain('APT::Architectures { "arm64"; };');
    expect(conf).toContain('Dir::State::Lists "/cache/apt-arm64/state/lists";');
    expect(conf).toContain('Dir::State::status "/cache/apt-arm64/state/status";');
    expect(conf).toContain('Dir::Cache "/cache/apt-arm64/cache";');
    expect(conf).toContain('Dir::Etc::SourceParts "/cache/apt-arm64/sources.list.d";');
    expect(conf).toContain('Debug::NoLocking "true";');
    expect(conf).toContain('APT::Sandbox::User "root";');
    expect(privateAptConfig('/c', 'arm64')).not.toContain('Sandbox');
    expect(() => privateAptConfig('/c"x', 'arm64')).toThrow(/cannot put/);
  });

  it('reads the dependency closure from a simulated install', () => {
    const output = [
      'Reading package lists...',
      'The following NEW packages will be installed:',
      '  gcc-12-base libc6 nodejs',
      'Inst gcc-12-base (12.2.0-14+deb12u1 Debian:12.15/oldstable [arm64])',
      'Inst libgcc-s1 (12.2.0-14+deb12u1 Debian:12.15/oldstable [arm64]) []',
      'Inst zlib1g (1:1.2.13.dfsg-1 Debian:12.15/oldstable [arm64])',
      'Inst node-xtend (4.0.2-3 Debian:12.15/oldstable [all])',
      'Inst nodejs (18.20.4+dfsg-1~deb12u3 Debian-Security:12/oldstable-security [arm64]) []',
      'Conf nodejs (18.20.4+dfsg-1~deb12u3 Debian-Security:12/oldstable-security [arm64])',
    ].join('\n');
    const packages = parseSimulatedInstall(output);
    expect(packages.map((p) => p.name)).toEqual([
      'gcc-12-base',
      'libgcc-s1',
      'zlib1g',
      'node-xtend',
      'nodejs',
    ]);
    expect(packages.map(downloadSpec)).toEqual([
      'gcc-12-base:arm64=12.2.0-14+deb12u1',
      'libgcc-s1:arm64=12.2.0-14+deb12u1',
      'zlib1g:arm64=1:1.2.13.dfsg-1',
      'node-xtend=4.0.2-3',
      'nodejs:arm64=18.20.4+dfsg-1~deb12u3',
    ]);
  });

  it('names the host distribution for the cache folder', () => {
    expect(
      parseOsRelease('ID=debian\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'),
    ).toEqual({
      id: 'debian',
      codename: 'bookworm',
      name: 'Debian GNU/Linux 12 (bookworm)',
    });
    expect(parseOsRelease('ID=ubuntu\nVERSION_ID="24.04"\nUBUNTU_CODENAME=noble\n').codename).toBe('noble');
  });
});
