import { describe, expect, it } from 'vitest';
import type { CommentPort, IssueComment } from '../../src/github/ports.ts';
import { markerFor, upsertComment } from '../../src/github/sticky-comment.ts';

/** A pull request's comments in memory, paged as GitHub pages them. */
function fakePort(existing = 0): CommentPort & { comments: IssueComment[]; writes: number } {
  const comments: IssueComment[] = Array.from({ length: existing }, (_, i) => ({
    id: i + 1,
    body: `review comment ${i}`,
  }));
  let next = existing + 1;
  const port = {
    comments,
    writes: 0,
    listComments: async () => comments.map((c) => ({ ...c })),
    createComment: async (_issue: number, body: string) => {
      port.writes += 1;
      const c = { id: next++, body };
      comments.push(c);
      return c;
    },
    updateComment: async (id: number, body: string) => {
      port.writes += 1;
      const c = comments.find((x) => x.id === id);
      if (!c) return undefined;
      c.body = body;
      return { ...c };
    },
    deleteComment: async (id: number) => {
      port.writes += 1;
      const at = comments.findIndex((x) => x.id === id);
      if (at >= 0) comments.splice(at, 1);
    },
  };
  return port;
}

const marker = markerFor('model-ci');
const input = (
  body: string,
  policy: 'always' | 'on-change' | 'on-failure' | 'never' = 'always',
  failing = false,
) => ({
  issueNumber: 1,
  marker,
  body: `${body}\nrun ${Math.random()}`,
  stableContent: body,
  policy,
  failing,
});

describe('the sticky PR comment', () => {
  it('keeps exactly one comment of ours on a PR with 300 comments after three runs', async () => {
    const port = fakePort(300);
    expect((await upsertComment(port, input('report 1'))).operation).toBe('created');
    expect((await upsertComment(port, input('report 2'))).operation).toBe('updated');
    expect((await upsertComment(port, input('report 2'))).operation).toBe('updated');
    expect(port.comments.filter((c) => c.body.includes(marker))).toHaveLength(1);
    expect(port.comments).toHaveLength(301);
  });

  it('leaves an unchanged report alone with on-change', async () => {
    const port = fakePort();
    await upsertComment(port, input('same', 'on-change'));
    const again = await upsertComment(port, input('same', 'on-change'));
    expect(again.operation).toBe('unchanged');
    expect(port.writes).toBe(1);
  });

  it('adds no comment for a passing gate with on-failure, but keeps an existing one current', async () => {
    const port = fakePort();
    expect((await upsertComment(port, input('passing', 'on-failure', false))).operation).toBe('unchanged');
    expect(port.comments).toHaveLength(0);
    expect((await upsertComment(port, input('failing', 'on-failure', true))).operation).toBe('created');
    expect((await upsertComment(port, input('fixed', 'on-failure', false))).operation).toBe('updated');
  });

  it('writes nothing with never', async () => {
    const port = fakePort();
    expect((await upsertComment(port, input('x', 'never'))).operation).toBe('unchanged');
    expect(port.writes).toBe(0);
  });

  it('finds the comment of its own workflow only', async () => {
    const port = fakePort();
    await upsertComment(port, input('a'));
    await upsertComment(port, { ...input('b'), marker: markerFor('other-workflow') });
    expect(port.comments).toHaveLength(2);
  });

  it("matches only a comment the marker opens, not a person's comment that quotes the marker", async () => {
    const port = fakePort();
    port.comments.push({ id: 1, body: `Why does the bot write \`${marker}\` in its comments?` });
    expect((await upsertComment(port, input('report'))).operation).toBe('created');
    expect(port.comments[0]!.body).toContain('Why does the bot');
    expect((await upsertComment(port, input('report 2'))).commentId).toBe(port.comments[1]!.id);
  });

  it('posts the report again when its comment was deleted between listing and updating', async () => {
    const port = fakePort();
    await upsertComment(port, input('report 1'));
    const listed = port.listComments;
    port.listComments = async (issue) => {
      const seen = await listed(issue);
      port.listComments = listed;
      port.comments.splice(0); // someone deletes the comment right after it was listed
      return seen;
    };
    const result = await upsertComment(port, input('report 2'));
    expect(result.operation).toBe('created');
    expect(port.comments.filter((c) => c.body.includes(marker))).toHaveLength(1);
    expect(port.comments[0]!.body).toContain('report 2');
  });

  it('leaves one comment when two runs find none and both create one', async () => {
    const port = fakePort();
    const listed = port.listComments;
    // Both runs list before either creates.
    let arrived = 0;
    let release: () => void = () => {};
    const bothListed = new Promise<void>((resolve) => {
      release = resolve;
    });
    port.listComments = async (issue) => {
      const seen = await listed(issue);
      if (arrived < 2) {
        arrived += 1;
        if (arrived === 2) release();
        await bothListed;
      }
      return seen;
    };
    const [a, b] = await Promise.all([
      upsertComment(port, input('run A')),
      upsertComment(port, input('run B')),
    ]);
    const ours = port.comments.filter((c) => c.body.includes(marker));
    expect(ours).toHaveLength(1);
    expect([a.commentId, b.commentId]).toContain(ours[0]!.id);
    expect(ours[0]!.body).toMatch(/run (A|B)/);
  });
});
