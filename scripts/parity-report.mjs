// Runs the PyTorch parity tests and writes PARITY.md: every comparison with the largest absolute and
// relative error it measured, as each test reports it. Usage: npm run parity-report (after a build).
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { writeFileAtomic } from '../dist/src/io/atomic-write.js';

const root = fileURLToPath(new URL('..', import.meta.url));
// parity-*.test.js, and modules.test.js whose module cases (Linear, LayerNorm, MLP, ...) compare with PyTorch too.
const files = readdirSync(`${root}dist/test`).filter((f) => /^(parity-.*|modules)\.test\.js$/.test(f)).sort();
const sections = [];
let failed = 0;
for (const f of files) {
  let tap;
  try {
    tap = execFileSync(process.execPath, ['--test', '--test-reporter=tap', `dist/test/${f}`], { cwd: root, encoding: 'utf8' });
  } catch (e) {
    tap = e.stdout;
    failed++;
  }
  const rows = [];
  let current = null;
  for (const line of tap.split('\n')) {
    const t = /^(ok|not ok) \d+ - (.*)$/.exec(line);
    if (t) {
      current = { name: t[2], ok: t[1] === 'ok', notes: [] };
      rows.push(current);
      continue;
    }
    const d = /^# (?!Subtest:|tests |suites |pass |fail |cancelled |skipped |todo |duration_ms )(.*)$/.exec(line);
    if (d && current) current.notes.push(d[1]);
  }
  const body = rows
    .filter((r) => r.notes.some((n) => /max|abs|fixture/.test(n)) || !r.ok)
    .map((r) => `| ${r.ok ? 'pass' : '**FAIL**'} | ${r.name.replace(/\|/g, '\\|')} | ${r.notes.join('<br>').replace(/\|/g, '\\|')} |`);
  sections.push(`## ${f.replace(/\.test\.js$/, '')}\n\n| result | comparison | measured |\n|---|---|---|\n${body.join('\n')}\n`);
}
const doc = `# Parity with PyTorch

Every comparison of qkv with PyTorch 1.13 (Debian's python3-torch) on the committed fixtures, with the
largest absolute and relative errors each test measured. Written by \`npm run parity-report\` on
${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}; each test file states its
tolerances and why. Regenerate the fixtures with \`npm run fixtures\` (needs PyTorch).

${sections.join('\n')}`;
writeFileAtomic(`${root}PARITY.md`, doc);
console.log(`wrote PARITY.md (${files.length} test files${failed ? `, ${failed} with failures` : ''})`);
process.exitCode = failed ? 1 : 0;
