// Preloaded with `node --import <file URL of this file> …` (and through NODE_OPTIONS, so child processes such as
// slmops' fidelity check load it too): at exit, report this process's peak resident set size in KiB on stderr and,
// when SLMOPS_RSS_LOG names a file, append "<role> <pid> <maxRSS KiB>" to it (children's stderr is not always shown).
import { appendFileSync } from 'node:fs';

process.on('exit', () => {
  const kb = process.resourceUsage().maxRSS;
  process.stderr.write(`SLMOPS_MAXRSS_KB=${kb}\n`);
  const log = process.env.SLMOPS_RSS_LOG;
  if (log) appendFileSync(log, `${process.env.SLMOPS_CHILD || 'main'} ${process.pid} ${kb}\n`);
});
