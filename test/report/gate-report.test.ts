import { describe, expect, it } from 'vitest';
import { DEFAULT_BUDGETS } from '../../src/gate/budgets.ts';
import { judge } from '../../src/gate/judge.ts';
import { escapeMarkdown } from '../../src/report/escape.ts';
import { COMMENT_LIMIT, renderGateReport } from '../../src/report/gate-report.ts';
import { benchResult, loaded } from '../helpers/results.ts';

describe('the gate report', () => {
  const results = [
    loaded(benchResult({ variantId: 'tiny-lm@int4:block=32,sym,acc=0' })),
    loaded(benchResult({ variantId: 'tiny-lm@int8:per-tensor,sym', model: { bytes: 640000 } })),
  ];
  const latencyOnly = { ...DEFAULT_BUDGETS, defaults: { latency: { ratioTolerance: 0.05 } } };
  const verdict = judge(results, latencyOnly);

  it('leads with the verdict, has one table per profile and a Mermaid chart of size against latency', () => {
    const md = renderGateReport(verdict, results, { marker: '<!-- m -->' });
    expect(md.startsWith('<!-- m -->\n\n## ✅ slmops gate passed')).toBe(true);
    expect(md).toContain('### rpi5-8gb (emulated');
    expect(md).toContain('| tiny-lm@int4:block=32,sym,acc=0 | latency.ratioTolerance | ×0.610 |');
    expect(md).toContain('```mermaid\nquadrantChart');
    expect(md).toContain('<details><summary>Hosts, protocol and caveats</summary>');
  });

  it('stays under the comment limit by cutting details first, then rows, and says so', () => {
    const many = Array.from({ length: 400 }, (_, i) =>
      loaded(benchResult({ variantId: `model-${i}@int4:block=32,sym,acc=0` })),
    );
    const big = judge(many, {
      ...DEFAULT_BUDGETS,
      rules: [{ profile: '*', sizeBytes: { max: 1 }, loadMs: { max: 1 } }],
    });
    const md = renderGateReport(big, many);
    expect(md.length).toBeLessThanOrEqual(COMMENT_LIMIT);
    expect(md).toMatch(/Details were cut/);
    const small = renderGateReport(big, many, { limit: 20_000 });
    expect(small.length).toBeLessThanOrEqual(20_000);
    expect(small).toMatch(/rows were cut/);
  });

  it('neutralizes Markdown, HTML and mentions from untrusted results and marks the verdict advisory', () => {
    const evil = [
      loaded(benchResult({ variantId: 'x@int8 <img src=x onerror=alert(1)> @octocat [link](http://e.vil)' })),
    ];
    const md = renderGateReport(judge(evil, DEFAULT_BUDGETS, { untrusted: true }), evil, { untrusted: true });
    expect(md).not.toMatch(/(?<!\\)<img/); // shown as text (\<img), never as HTML
    expect(md).not.toMatch(/@octocat/);
    expect(md).not.toContain('[link](http');
    expect(md).toContain('fork pull request');
  });

  it('tells reviewers when other work or the hypervisor took CPU while a result was measured', () => {
    const busy = [
      loaded(benchResult({ variantId: 'busy@int8', hostLoad: { otherCores: 1.1, stealPercent: 21.5 } })),
      loaded(benchResult({ variantId: 'quiet@int8', hostLoad: { otherCores: 0.02, stealPercent: 0.4 } })),
    ];
    const md = renderGateReport(judge(busy, DEFAULT_BUDGETS), busy);
    expect(md).toContain(
      'busy@int8 on rpi5-8gb: measured while other processes used 1.10 cores and the hypervisor took 21.5 % of CPU time',
    );
    expect(md).not.toMatch(/quiet@int8 on rpi5-8gb: measured while/);
  });

  it('escapes each dangerous character once', () => {
    expect(escapeMarkdown('a|b <c> @d')).toBe('a\\|b \\<c\\> @\u200bd');
  });
});
