import { ConfigurationError } from '../errors.ts';

/** The platform onnxruntime runs on: the `bin/napi-v6/<platform>/<arch>` folder of onnxruntime-node. */
export interface RuntimePlatform {
  readonly platform: string;
  readonly arch: string;
  /** `<platform>-<arch>`, the tool-cache folder name. */
  readonly key: string;
}

export interface HostDescription {
  readonly platform: string;
  readonly arch: string;
  /** Linux only: the glibc version the process runs against; undefined on musl (Alpine). */
  readonly glibc?: string | undefined;
}

/** The host this process runs on. */
export function currentHost(): HostDescription {
  let glibc: string | undefined;
  if (process.platform === 'linux') {
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)
      ?.header;
    glibc = header?.glibcVersionRuntime;
  }
  return { platform: process.platform, arch: process.arch, glibc };
}

/**
 * The onnxruntime-node binaries for `host`, or a ConfigurationError naming the platforms the package ships.
 * onnxruntime-node's Linux binaries need glibc, so musl hosts (Alpine containers) are refused here too.
 */
export function resolvePlatform(
  host: HostDescription,
  shipped: readonly string[],
  version: string,
): RuntimePlatform {
  const pair = `${host.platform}/${host.arch}`;
  const list = shipped.join(', ');
  if (!shipped.includes(pair)) {
    throw new ConfigurationError(
      `onnxruntime-node ${version} ships no binaries for ${pair}; it ships ${list}`,
      { subject: 'onnxruntime', fix: `Run this step on one of: ${list}` },
    );
  }
  if (host.platform === 'linux' && host.glibc === undefined) {
    throw new ConfigurationError(
      `onnxruntime-node ${version} ships glibc binaries for Linux, and this ${pair} host uses musl (e.g. Alpine)`,
      { subject: 'onnxruntime', fix: 'Run this step on a glibc-based image (Debian, Ubuntu, …)' },
    );
  }
  return { platform: host.platform, arch: host.arch, key: `${host.platform}-${host.arch}` };
}
