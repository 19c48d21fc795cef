/**
 * The `ReleasePort` over the GitHub adapter (octokit with retry, throttling and pagination, src/github/client.ts).
 * Uploads stream from disk: the body is re-opened for every attempt, so the retry plugin can send it again.
 * Downloads stream too (the response body is never buffered).
 */
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type GitHubClient, statusOf, unlessGone } from '../github/client.ts';
import { guard, type Repo } from '../github/octokit-ports.ts';
import {
  AssetExistsError,
  type AssetUpload,
  type NewRelease,
  type ReleaseAsset,
  type ReleaseInfo,
  type ReleasePort,
  type ReleaseUpdate,
} from '../github/ports.ts';

interface AssetJson {
  id: number;
  name: string;
  size: number;
  state: string;
  digest?: string | null;
}

interface ReleaseJson {
  id: number;
  tag_name: string;
  name: string | null;
  body?: string | null;
  draft: boolean;
  prerelease: boolean;
  html_url: string;
  upload_url: string;
  published_at: string | null;
  assets: AssetJson[];
}

function assetOf(a: AssetJson): ReleaseAsset {
  const digest =
    typeof a.digest === 'string' && /^sha256:[0-9a-f]{64}$/.test(a.digest) ? a.digest.slice(7) : undefined;
  return { id: a.id, name: a.name, size: a.size, sha256: digest, state: a.state };
}

function releaseOf(r: ReleaseJson): ReleaseInfo {
  return {
    id: r.id,
    tag: r.tag_name,
    name: r.name ?? '',
    body: r.body ?? '',
    draft: r.draft,
    prerelease: r.prerelease,
    htmlUrl: r.html_url,
    uploadUrl: r.upload_url,
    publishedAt: r.published_at ?? undefined,
    assets: r.assets.map(assetOf),
  };
}

/** A request body that opens a fresh stream each time it is iterated (fetch iterates it once per attempt). */
class ReopenableBody implements AsyncIterable<Uint8Array> {
  constructor(private readonly open: () => AsyncIterable<Uint8Array>) {}
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.open()[Symbol.asyncIterator]();
  }
}

/**
 * A `fetch` for uploads over node:http(s), which streams the request body with backpressure. Node 20's built-in
 * fetch (undici) reads a streamed request body ahead of the socket: uploading a 2 GB part held about 2 GB of
 * memory (benchmarks/publish). Responses here are small JSON, read whole.
 */
export async function streamingFetch(
  input: string | URL | Request,
  init: RequestInit = {},
): Promise<Response> {
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  const transport = url.protocol === 'https:' ? https : http;
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, key) => {
    headers[key] = value;
  });
  return new Promise<Response>((resolve, reject) => {
    const request = transport.request(
      url,
      { method: init.method ?? 'GET', headers, ...(init.signal ? { signal: init.signal } : {}) },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const status = response.statusCode ?? 500;
          const responseHeaders = new Headers();
          for (const [key, value] of Object.entries(response.headers)) {
            if (value === undefined) continue;
            for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(key, v);
          }
          const body = status === 204 || status === 304 || chunks.length === 0 ? null : Buffer.concat(chunks);
          resolve(
            new Response(body, {
              status,
              statusText: response.statusMessage ?? '',
              headers: responseHeaders,
            }),
          );
        });
      },
    );
    request.on('error', reject);
    const body = init.body as unknown;
    if (body === undefined || body === null) request.end();
    else if (typeof body === 'string' || body instanceof Uint8Array) request.end(body);
    else
      pipeline(Readable.from(body as AsyncIterable<Uint8Array>, { objectMode: false }), request).catch(
        reject,
      );
  });
}

function isAlreadyExists(error: unknown): boolean {
  if (statusOf(error) !== 422) return false;
  const response = (error as { response?: { data?: { errors?: { code?: string }[] } } }).response;
  const codes = response?.data?.errors?.map((e) => e.code) ?? [];
  return codes.includes('already_exists') || /already_exists/.test(String((error as Error).message));
}

export function releasePort(client: GitHubClient, repo: Repo): ReleasePort {
  return {
    listReleases: () =>
      guard('list the releases', false, async () => {
        const all = await client.paginate(client.rest.repos.listReleases, { ...repo, per_page: 100 });
        return (all as unknown as ReleaseJson[]).map(releaseOf);
      }),
    releaseByTag: (tag) =>
      guard(`read the release of tag ${tag}`, false, async () => {
        const found = await unlessGone(() => client.rest.repos.getReleaseByTag({ ...repo, tag }));
        return found && releaseOf(found.data as unknown as ReleaseJson);
      }),
    createRelease: (release: NewRelease) =>
      guard('create a release', true, async () => {
        const { data } = await client.rest.repos.createRelease({
          ...repo,
          tag_name: release.tag,
          name: release.name,
          body: release.body,
          draft: release.draft,
          prerelease: release.prerelease,
          ...(release.targetCommitish ? { target_commitish: release.targetCommitish } : {}),
          ...(release.makeLatest ? { make_latest: release.makeLatest } : {}),
        });
        return releaseOf(data as unknown as ReleaseJson);
      }),
    updateRelease: (id, update: ReleaseUpdate) =>
      guard('update a release', true, async () => {
        const { data } = await client.rest.repos.updateRelease({
          ...repo,
          release_id: id,
          ...(update.name !== undefined ? { name: update.name } : {}),
          ...(update.body !== undefined ? { body: update.body } : {}),
          ...(update.draft !== undefined ? { draft: update.draft } : {}),
          ...(update.prerelease !== undefined ? { prerelease: update.prerelease } : {}),
          ...(update.makeLatest ? { make_latest: update.makeLatest } : {}),
        });
        return releaseOf(data as unknown as ReleaseJson);
      }),
    deleteRelease: (id) =>
      guard('delete a release', true, async () => {
        await unlessGone(() => client.rest.repos.deleteRelease({ ...repo, release_id: id }));
      }),
    listAssets: (releaseId) =>
      guard('list the assets of a release', false, async () => {
        const all = await client.paginate(client.rest.repos.listReleaseAssets, {
          ...repo,
          release_id: releaseId,
          per_page: 100,
        });
        return (all as unknown as AssetJson[]).map(assetOf);
      }),
    uploadAsset: (release: ReleaseInfo, asset: AssetUpload) =>
      guard(`upload the release asset ${asset.name}`, true, async () => {
        try {
          const { data } = await client.request({
            method: 'POST',
            url: release.uploadUrl,
            name: asset.name,
            headers: {
              'content-type': asset.contentType ?? 'application/octet-stream',
              'content-length': asset.bytes,
            },
            data: new ReopenableBody(() => asset.open()),
            request: { fetch: streamingFetch },
          });
          return assetOf(data as AssetJson);
        } catch (error) {
          if (isAlreadyExists(error)) throw new AssetExistsError(asset.name);
          throw error;
        }
      }),
    deleteAsset: (assetId) =>
      guard('delete a release asset', true, async () => {
        await unlessGone(() => client.rest.repos.deleteReleaseAsset({ ...repo, asset_id: assetId }));
      }),
    downloadAsset: (assetId) =>
      guard('download a release asset', false, async () => {
        const response = await client.request('GET /repos/{owner}/{repo}/releases/assets/{asset_id}', {
          ...repo,
          asset_id: assetId,
          headers: { accept: 'application/octet-stream' },
          request: { parseSuccessResponseBody: false },
        });
        return response.data as unknown as AsyncIterable<Uint8Array>;
      }),
    tagCommit: (tag) =>
      guard(`read the tag ${tag}`, false, async () => {
        const found = await unlessGone(() => client.rest.git.getRef({ ...repo, ref: `tags/${tag}` }));
        return found?.data.object.sha;
      }),
    commitTime: (sha) =>
      guard(`read commit ${sha}`, false, async () => {
        try {
          const { data } = await client.rest.repos.getCommit({ ...repo, ref: sha });
          return data.commit.committer?.date ?? data.commit.author?.date ?? undefined;
        } catch (error) {
          const status = statusOf(error);
          if (status === 404 || status === 422) return undefined;
          throw error;
        }
      }),
  };
}
