import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderReport, renderSuite } from '../src/report/page.js';
import { SUITES } from '../src/suites/index.js';

const resultsDir = new URL('../results/', import.meta.url);
// sorted as the shell expands results/*.json for `node dist/report.js … results/*.json`
const committed = readdirSync(resultsDir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({ file: f, result: JSON.parse(readFileSync(new URL(f, resultsDir), 'utf8')) }));

describe('suites as data', () => {
  it('files every suite under its own name, with a description', () => {
    for (const [key, suite] of Object.entries(SUITES)) {
      expect(suite.name).toBe(key);
      expect(suite.description.length, key).toBeGreaterThan(20);
      expect(typeof suite.run, key).toBe('function');
    }
  });

  it('renders every committed result with its suite’s renderer (not the JSON fallback)', () => {
    expect(committed.length).toBeGreaterThan(0);
    for (const { file, result } of committed) {
      expect(SUITES[result.suite]?.render, file).toBeDefined();
      const section = renderSuite(result);
      expect(section.html, file).not.toMatch(/^<pre>/);
      expect(section.markdown.length, file).toBeGreaterThan(0);
    }
  });

  it('shows a suite without a renderer, or an unknown one, as its JSON', () => {
    expect(SUITES['core-cpu'].render).toBeUndefined();
    const section = renderSuite({ suite: 'no-such-suite', x: 1 } as { suite: string });
    expect(section).toEqual({
      title: 'no-such-suite',
      html: expect.stringMatching(/^<pre>\{/),
      markdown: '',
    });
  });

  it('the README results block is what the committed results render to', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const start = '<!-- bench:start -->\n';
    const block = readme.slice(readme.indexOf(start) + start.length, readme.indexOf('\n<!-- bench:end -->'));
    expect(block).toBe(renderReport(committed.map((c) => c.result)).markdown);
  });
});
