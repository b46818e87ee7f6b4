#!/usr/bin/env node
/**
 * Renders an HTML page (the bench report) to a full-page PNG in headless Chromium, to look at it the way a
 * reader does, and lists what a machine can spot: console errors, and elements wider than the page:
 *   node dist/screenshot.js results/report.html /tmp/report.png [--width 1280] [--split 1400] [--chromium PATH]
 * `--split H` also writes the page in slices of H px (report-1.png, report-2.png, …): a tall page scaled down
 * to fit a screen is unreadable.
 * Needs a Chromium (`apt-get install -y chromium`) and the devDependency playwright-core; it is a tool for
 * working on the report, not part of the published package.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

const args = process.argv.slice(2);
const take = (flag: string) => {
  const i = args.indexOf(flag);
  return i >= 0 ? args.splice(i, 2)[1] : undefined;
};
const width = Number(take('--width') ?? 1280);
const split = take('--split');
const executablePath =
  take('--chromium') ?? process.env.CHROMIUM_PATH ?? CANDIDATES.find((p) => existsSync(p));
const [input, output] = args;
if (!input || !output || !(width > 0) || (split !== undefined && !(Number(split) > 0))) {
  process.stderr.write(
    'usage: screenshot.js PAGE.html OUT.png [--width 1280] [--split H] [--chromium PATH]\n',
  );
  process.exit(2);
}
if (!executablePath) {
  process.stderr.write(`no Chromium found (tried ${CANDIDATES.join(', ')}); apt-get install -y chromium\n`);
  process.exit(2);
}

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console error: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.goto(pathToFileURL(resolve(input)).href, { waitUntil: 'load' });
  // runs in the page (a string: this package is compiled without the DOM's types)
  const layout = (await page.evaluate(`(() => {
    const body = document.body.getBoundingClientRect();
    // anything that sticks out of the body's column is cut off or forces sideways scrolling
    const wide = [...document.querySelectorAll('table, svg, pre')]
      .map((el) => ({ el, r: el.getBoundingClientRect() }))
      .filter(({ r }) => r.right > body.right + 1)
      .map(({ el, r }) => el.tagName.toLowerCase() + ' ends at x=' + Math.round(r.right));
    const doc = document.documentElement;
    return { pageWidth: doc.scrollWidth, pageHeight: doc.scrollHeight, bodyRight: Math.round(body.right), wide };
  })()`)) as { pageWidth: number; pageHeight: number; bodyRight: number; wide: string[] };
  await page.screenshot({ path: output, fullPage: true });
  const slices: string[] = [];
  if (split) {
    const h = Number(split);
    for (let y = 0, k = 1; y < layout.pageHeight; y += h, k++) {
      const path = output.replace(/(\.png)?$/, `-${k}.png`);
      await page.screenshot({
        path,
        fullPage: true,
        clip: { x: 0, y, width: layout.pageWidth, height: Math.min(h, layout.pageHeight - y) },
      });
      slices.push(path);
    }
  }
  for (const w of layout.wide) problems.push(`wider than the body (right edge x=${layout.bodyRight}): ${w}`);
  if (layout.pageWidth > width)
    problems.push(`page scrolls sideways: ${layout.pageWidth} px wide at ${width}`);
  process.stderr.write(
    `wrote ${output} (${layout.pageWidth}×${layout.pageHeight} px)${slices.length ? ` and ${slices.join(', ')}` : ''}\n${problems.map((p) => `  ! ${p}\n`).join('')}`,
  );
} finally {
  await browser.close();
}
