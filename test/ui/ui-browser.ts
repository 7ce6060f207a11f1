// Debian's Chromium driven by playwright-core, set up the same way for every UI test: the flags keep it
// from reaching for the network this machine does not have, and page errors are collected for asserting.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { REPO } from '../helpers/mesh-process.js';

export const CHROMIUM = '/usr/bin/chromium';
export const SHOTS = join(REPO, 'dist', 'test-artifacts', 'screens');
/** For `test(name, { skip: NO_CHROMIUM }, …)`: skipped with the reason, never silently. */
export const NO_CHROMIUM: string | false = !existsSync(CHROMIUM) && `${CHROMIUM} is not installed`;

export interface UiPage {
  page: Page;
  pageErrors: string[];
  /** Full-page screenshot into dist/test-artifacts/screens/<name>.png. */
  shot(name: string): Promise<Buffer>;
}

export async function openBrowserPage(t: { after(fn: () => unknown): void }): Promise<UiPage> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  mkdirSync(SHOTS, { recursive: true });
  return { page, pageErrors, shot: (name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true }) };
}
