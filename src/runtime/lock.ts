/** One npm package the actions install at run time, as locked in package-lock.json. */
export interface LockedPackage {
  /** npm package name, e.g. `onnxruntime-node`. */
  readonly name: string;
  readonly version: string;
  /** Subresource-integrity string from the lock (`sha512-<base64>`), checked against every download. */
  readonly integrity: string;
  /** The tarball's path on an npm registry, e.g. `onnxruntime-node/-/onnxruntime-node-1.30.0.tgz`. */
  readonly tarball: string;
}

/** The runtime packages locked for this build of slmops. */
export interface LockedRuntime {
  /** onnxruntime-node first, then its runtime dependencies. */
  readonly packages: readonly LockedPackage[];
  /** `<platform>/<arch>` pairs the onnxruntime-node package ships binaries for (`bin/napi-v6/<platform>/<arch>`). */
  readonly platforms: readonly string[];
}

/** The file name `npm pack` gives a package's tarball (`@scope/name` → `scope-name-1.0.0.tgz`). */
export function packFileName(pkg: Pick<LockedPackage, 'name' | 'version'>): string {
  return `${pkg.name.replace(/^@/, '').replace('/', '-')}-${pkg.version}.tgz`;
}
