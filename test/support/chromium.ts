import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { repoRoot } from "./program.js";

/** Debian's Chromium, installed by .ci/run (apt-get install chromium); never a downloaded browser. */
export const chromiumPath = process.env.LAUNCHPAD_TEST_CHROMIUM ?? "/usr/bin/chromium";

/**
 * Whether the browser suites run: always in CI (a missing Chromium fails
 * them there), elsewhere only when Chromium is installed — with a warning
 * that says why when it is not.
 */
export function browserSuitesRun(): boolean {
  if (existsSync(chromiumPath) || process.env.CI) return true;
  console.warn(`browser suites skipped: no Chromium at ${chromiumPath} (apt-get install chromium, or set LAUNCHPAD_TEST_CHROMIUM)`);
  return false;
}

/**
 * Starts headless Chromium with a fresh profile. The background-networking
 * flags keep it from calling Google's hosts, which this network refuses.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}

/** Where browser tests save their screenshots; CI lists it in its log. */
export const screenshotDir = join(repoRoot, "test-output", "console");

/** Saves a full-page screenshot as test-output/console/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(screenshotDir, { recursive: true });
  const path = join(screenshotDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
