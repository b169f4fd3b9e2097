import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserSuitesRun, launchChromium, screenshot } from "../support/chromium.js";
import { signInThroughForm, submitNewDeployment } from "../support/console-page.js";
import { ephemeralEnv } from "../support/program-sandbox.js";
import { killLaunchpads, runLaunchpad, type ProgramRun } from "../support/program.js";

// The README's promise, in Chromium: on a fresh data directory the built
// program (`npm start` runs `node dist/bin/launchpad.js --target=all`)
// prints a URL and first-start credentials; a person opens the URL, signs
// in with them, creates a deployment and watches the demo agent move it
// live, all with the default settings. The screenshot it saves is the
// README's.
const run = browserSuitesRun();

describe.skipIf(!run)("a first start, as the README tells it", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "launchpad-first-run-"));
  let program: ProgramRun;
  let browser: Browser;

  beforeAll(async () => {
    program = runLaunchpad(["--target=all"], ephemeralEnv(dataDir), { built: true });
    await program.waitForStdout(/Sign in:[\s\S]*\/Login\n/, 60_000);
    browser = await launchChromium();
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await killLaunchpads();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("signs in with the printed credentials at the printed URL and shows deployments move live", async () => {
    const banner = program.stdout();
    const url = /^\s+console\s+(http:\/\/\S+)/m.exec(banner)![1]!;
    const email = /^\s+email\s+(\S+)/m.exec(banner)![1]!;
    const password = /^\s+password\s+(\S+)/m.exec(banner)![1]!;

    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await signInThroughForm(page, url, email, password);
    for (const [service, version] of [["checkout", "1.4.2"], ["search", "2.0.0"]] as const) {
      await submitNewDeployment(page, { service, version, environment: "production" });
      await page.getByRole("status").getByRole("link", { name: /deployments\// }).waitFor();
    }
    // The demo agent fails a share of deployments on purpose: either final state shows the list is live.
    const finished = page.locator("table.deployments tbody tr").filter({ hasText: "checkout" }).locator('[data-state="SUCCEEDED"], [data-state="FAILED"]');
    await finished.waitFor({ timeout: 60_000 });
    expect(await page.locator("table.deployments tbody tr").count()).toBe(2);
    await screenshot(page, "first-run");
  }, 90_000);
});
