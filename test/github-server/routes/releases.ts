/** Releases and their assets (uploads on the uploads host, downloads by redirect). */
import { randomBytes } from 'node:crypto';
import { assetJson, releaseJson } from '../representations.ts';
import { type Asset, type Release, type Repo, resolveCommit } from '../state.ts';
import {
  intParam,
  json,
  notFound,
  optionalBoolean,
  optionalString,
  paginate,
  type Reply,
  type Route,
  type RouteContext,
  stringParam,
  validationFailed,
} from './common.ts';

/** Drafts are visible only to tokens that can push. */
function visible(ctx: RouteContext, release: Release): boolean {
  return !release.draft || ctx.canWrite;
}

function releaseOf(ctx: RouteContext): Release | undefined {
  const release = ctx.repo.releases.get(intParam(ctx, 'release_id'));
  return release && visible(ctx, release) ? release : undefined;
}

export function findAsset(repo: Repo, id: number): { release: Release; asset: Asset } | undefined {
  for (const release of repo.releases.values()) {
    const asset = release.assets.get(id);
    if (asset) return { release, asset };
  }
  return undefined;
}

function publishedWithTag(repo: Repo, tag: string, except?: number): Release | undefined {
  return [...repo.releases.values()].find((r) => !r.draft && r.tagName === tag && r.id !== except);
}

/**
 * What publishing a release needs: no other published release with the tag, and the tag itself, created at
 * `target_commitish` (default branch by default) when it does not exist yet.
 */
function prepareTag(
  ctx: RouteContext,
  release: Pick<Release, 'id' | 'tagName' | 'targetCommitish' | 'draft'>,
): Reply | undefined {
  if (release.tagName.trim() === '') {
    return validationFailed(ctx, [{ resource: 'Release', code: 'missing_field', field: 'tag_name' }]);
  }
  if (!release.draft && publishedWithTag(ctx.repo, release.tagName, release.id)) {
    return validationFailed(ctx, [{ resource: 'Release', code: 'already_exists', field: 'tag_name' }]);
  }
  const tagRef = `refs/tags/${release.tagName}`;
  if (ctx.repo.refs.has(tagRef)) return undefined;
  const target = resolveCommit(ctx.repo, release.targetCommitish);
  if (!target)
    return validationFailed(ctx, [{ resource: 'Release', code: 'invalid', field: 'target_commitish' }]);
  if (!release.draft) ctx.repo.refs.set(tagRef, target.sha);
  return undefined;
}

function markLatest(repo: Repo, release: Release, makeLatest: string | undefined): void {
  if (release.draft || release.prerelease || makeLatest === 'false') return;
  if (makeLatest === 'legacy' && repo.latestReleaseId !== undefined) {
    const current = repo.releases.get(repo.latestReleaseId);
    if (current && Date.parse(current.createdAt) > Date.parse(release.createdAt)) return;
  }
  repo.latestReleaseId = release.id;
}

/** GitHub's renaming of asset file names: special characters become `.`, leading and trailing dots go. */
export function normalizeAssetName(name: string): string {
  return name.replace(/[^A-Za-z0-9._+@-]/g, '.').replace(/^\.+|\.+$/g, '');
}

function listAssets(ctx: RouteContext, release: Release): Reply {
  const page = paginate(ctx, [...release.assets.values()]);
  return json(
    200,
    page.items.map((a) => assetJson(ctx.repo, release, a, ctx.urls)),
    page.headers,
  );
}

export const releaseRoutes: readonly Route[] = [
  {
    method: 'POST',
    path: '/repos/{owner}/{repo}/releases',
    permission: 'contents=write',
    handle(ctx) {
      const body = ctx.body as Record<string, unknown> & { tag_name: string };
      const now = ctx.state.now();
      const draft = optionalBoolean(body, 'draft') ?? false;
      const release: Release = {
        id: ctx.state.nextId(),
        tagName: body.tag_name,
        targetCommitish: optionalString(body, 'target_commitish') ?? ctx.repo.defaultBranch,
        name: optionalString(body, 'name') ?? null,
        body:
          optionalString(body, 'body') ??
          (optionalBoolean(body, 'generate_release_notes') ? `**Full Changelog**: ${body.tag_name}` : null),
        draft,
        prerelease: optionalBoolean(body, 'prerelease') ?? false,
        createdAt: now,
        publishedAt: draft ? null : now,
        updatedAt: now,
        author: ctx.actor,
        assets: new Map(),
        untaggedName: `untagged-${randomBytes(10).toString('hex')}`,
      };
      const refused = prepareTag(ctx, release);
      if (refused) return refused;
      ctx.repo.releases.set(release.id, release);
      markLatest(ctx.repo, release, optionalString(body, 'make_latest'));
      const representation = releaseJson(ctx.repo, release, ctx.urls);
      return json(201, representation, { location: String(representation.url) });
    },
  },
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/releases',
    permission: 'contents=read',
    handle(ctx) {
      const releases = [...ctx.repo.releases.values()]
        .filter((r) => visible(ctx, r))
        .sort((a, b) => b.id - a.id);
      const page = paginate(ctx, releases);
      return json(
        200,
        page.items.map((r) => releaseJson(ctx.repo, r, ctx.urls)),
        page.headers,
      );
    },
  },
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/releases/latest',
    permission: 'contents=read',
    handle(ctx) {
      const id = ctx.repo.latestReleaseId;
      const release = id === undefined ? undefined : ctx.repo.releases.get(id);
      return release ? json(200, releaseJson(ctx.repo, release, ctx.urls)) : notFound(ctx);
    },
  },
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/releases/tags/{tag}',
    permission: 'contents=read',
    handle(ctx) {
      const release = publishedWithTag(ctx.repo, stringParam(ctx, 'tag'));
      return release ? json(200, releaseJson(ctx.repo, release, ctx.urls)) : notFound(ctx);
    },
  },
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/releases/{release_id}',
    permission: 'contents=read',
    handle(ctx) {
      const release = releaseOf(ctx);
      return release ? json(200, releaseJson(ctx.repo, release, ctx.urls)) : notFound(ctx);
    },
  },
  {
    method: 'PATCH',
    path: '/repos/{owner}/{repo}/releases/{release_id}',
    permission: 'contents=write',
    handle(ctx) {
      const release = releaseOf(ctx);
      if (!release) return notFound(ctx);
      const body = (ctx.body ?? {}) as Record<string, unknown>;
      const next = {
        id: release.id,
        tagName: optionalString(body, 'tag_name') ?? release.tagName,
        targetCommitish: optionalString(body, 'target_commitish') ?? release.targetCommitish,
        draft: optionalBoolean(body, 'draft') ?? release.draft,
      };
      const refused = prepareTag(ctx, next);
      if (refused) return refused;
      const now = ctx.state.now();
      if (release.draft && !next.draft) release.publishedAt = now;
      release.tagName = next.tagName;
      release.targetCommitish = next.targetCommitish;
      release.draft = next.draft;
      release.name = optionalString(body, 'name') ?? release.name;
      release.body = optionalString(body, 'body') ?? release.body;
      release.prerelease = optionalBoolean(body, 'prerelease') ?? release.prerelease;
      release.updatedAt = now;
      markLatest(ctx.repo, release, optionalString(body, 'make_latest'));
      return json(200, releaseJson(ctx.repo, release, ctx.urls));
    },
  },
  {
    method: 'DELETE',
    path: '/repos/{owner}/{repo}/releases/{release_id}',
    permission: 'contents=write',
    handle(ctx) {
      const release = releaseOf(ctx);
      if (!release) return notFound(ctx);
      ctx.repo.releases.delete(release.id);
      if (ctx.repo.latestReleaseId === release.id) ctx.repo.latestReleaseId = undefined;
      return { status: 204 };
    },
  },
  {
    method: 'POST',
    path: '/repos/{owner}/{repo}/releases/{release_id}/assets',
    permission: 'contents=write',
    rawBody: true,
    async handle(ctx) {
      const release = releaseOf(ctx);
      if (!release) return notFound(ctx);
      const max = ctx.state.limits.maxAssetBytes;
      if (ctx.declaredLength > max) {
        return validationFailed(ctx, [
          {
            resource: 'ReleaseAsset',
            code: 'custom',
            field: 'size',
            message: `size must be less than ${max + 1}`,
          },
        ]);
      }
      const name = normalizeAssetName(String(ctx.query.name));
      if ([...release.assets.values()].some((a) => a.name === name)) {
        return validationFailed(ctx, [{ resource: 'ReleaseAsset', code: 'already_exists', field: 'name' }]);
      }
      const { bytes, sha256 } = await ctx.readRawBody();
      const now = ctx.state.now();
      const asset: Asset = {
        id: ctx.state.nextId(),
        name,
        label: typeof ctx.query.label === 'string' ? ctx.query.label : null,
        contentType: String(ctx.headers['content-type']),
        size: bytes.length,
        sha256,
        content: bytes,
        uploader: ctx.actor,
        downloadCount: 0,
        createdAt: now,
        updatedAt: now,
      };
      release.assets.set(asset.id, asset);
      return json(201, assetJson(ctx.repo, release, asset, ctx.urls));
    },
  },
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/releases/{release_id}/assets',
    permission: 'contents=read',
    handle(ctx) {
      const release = releaseOf(ctx);
      return release ? listAssets(ctx, release) : notFound(ctx);
    },
  },
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/releases/assets/{asset_id}',
    permission: 'contents=read',
    handle(ctx) {
      const found = findAsset(ctx.repo, intParam(ctx, 'asset_id'));
      if (!found || !visible(ctx, found.release)) return notFound(ctx);
      const accept = String(ctx.headers.accept ?? '');
      if (accept.includes('application/octet-stream')) {
        return {
          status: 302,
          headers: { location: ctx.objectUrl('release-assets', found.asset.id, found.asset.name) },
        };
      }
      return json(200, assetJson(ctx.repo, found.release, found.asset, ctx.urls));
    },
  },
  {
    method: 'DELETE',
    path: '/repos/{owner}/{repo}/releases/assets/{asset_id}',
    permission: 'contents=write',
    handle(ctx) {
      const found = findAsset(ctx.repo, intParam(ctx, 'asset_id'));
      if (!found || !visible(ctx, found.release)) return notFound(ctx);
      found.release.assets.delete(found.asset.id);
      return { status: 204 };
    },
  },
];
