import { createChannel, type Channel } from "nice-grpc";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DeploymentService } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { Role, UserKind } from "../../gen/launchpad/user/v1/user_pb.js";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { bearer } from "../support/bearer.js";
import { browserSuitesRun, launchChromium, screenshot } from "../support/chromium.js";
import { signInThroughForm, submitNewDeployment } from "../support/console-page.js";
import { startConsoleStack, type ConsoleStack } from "../support/console-stack.js";
import { typedClient } from "../support/typed-client.js";

// The web console in Debian's Chromium, against the built program split into
// its processes (users, deployments, edge, demo agent) on SQLite. Each test
// drives the console as a person would, through labels and roles, and saves
// a screenshot under test-output/console/.
const run = browserSuitesRun();

describe.skipIf(!run)("the web console in Chromium", () => {
  let stack: ConsoleStack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let channel: Channel;
  const users = () => typedClient(UserService, channel);
  /** Call options as the admin, with a new token: the stack's tokens live for seconds. */
  const asAdmin = async () => bearer((await users().login({ email: stack.adminEmail, password: stack.adminPassword })).tokens!.accessToken);

  beforeAll(async () => {
    // Access tokens that expire within the suite, so the console's refreshes run for real.
    stack = await startConsoleStack({ agentStep: "400ms", accessTokenTtl: "20s" });
    browser = await launchChromium();
    channel = createChannel(stack.url);
  }, 180_000);

  afterAll(async () => {
    channel?.close();
    await browser?.close();
    await stack?.stop();
  }, 60_000);

  async function newPage(): Promise<Page> {
    context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    page = await context.newPage();
    // Cancel, revoke and disable ask for confirmation; the tests confirm.
    page.on("dialog", (dialog) => void dialog.accept());
    return page;
  }

  afterEach(async (test) => {
    if (page) await screenshot(page, test.task.name.replace(/[^a-z0-9]+/gi, "-").toLowerCase());
    await context?.close();
  });

  async function signIn(email = stack.adminEmail, password = stack.adminPassword): Promise<Page> {
    const page = await newPage();
    await signInThroughForm(page, stack.url, email, password);
    return page;
  }

  const row = (page: Page, service: string, version: string) =>
    page.locator("table.deployments tbody tr").filter({ hasText: service }).filter({ hasText: version });

  it("signs in, keeps the sign-in across a reload without a script-readable secret, and signs out for good", async () => {
    const page = await signIn();
    await page.reload();
    await page.getByRole("button", { name: "Sign out" }).waitFor();
    const storage = await page.evaluate("({ cookie: document.cookie, local: localStorage.length, session: sessionStorage.length })");
    expect(storage).toEqual({ cookie: "", local: 0, session: 0 });
    const cookies = await context.cookies();
    expect(cookies.find((cookie) => cookie.name === "launchpad_refresh")).toMatchObject({ httpOnly: true, sameSite: "Strict" });

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    await page.reload();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    expect((await context.cookies()).find((cookie) => cookie.name === "launchpad_refresh")).toBeUndefined();
  });

  it("refreshes the access token before it expires, and keeps working after the first token has expired", async () => {
    const page = await signIn();
    const signedInAt = Date.now();
    const refreshed = await page.waitForResponse((response) => response.url().endsWith("/launchpad.user.v1.UserService/RefreshToken"), {
      timeout: 40_000,
    });
    expect(refreshed.status()).toBe(200);
    // A new access token, and the refresh token only in the cookie.
    const { tokens } = (await refreshed.json()) as { tokens: { accessToken?: string; refreshToken?: string } };
    expect(tokens.accessToken).toBeTruthy();
    expect(tokens.refreshToken ?? "").toBe("");
    // Past the first token's 20 s, every call needs the refreshed one.
    await page.waitForTimeout(Math.max(0, signedInAt + 21_000 - Date.now()));
    await page.getByRole("link", { name: "Environments" }).click();
    await page.getByRole("region", { name: "Environments" }).locator('[data-status="live"]').waitFor();
    await page.getByRole("link", { name: "Users" }).click();
    await page.getByRole("table").getByText(stack.adminEmail).waitFor();
    expect(await page.getByRole("alert").count()).toBe(0);
  }, 60_000);

  it("creates a deployment and shows it reach SUCCEEDED through the demo agent without a reload", async () => {
    const page = await signIn();
    await page.evaluate("window.unreloaded = true");
    await submitNewDeployment(page, { service: "checkout", version: "1.0.0", environment: "staging" });
    const created = row(page, "checkout", "1.0.0");
    await created.locator('[data-state="SUCCEEDED"]').waitFor({ timeout: 30_000 });
    await expect(created.getByRole("progressbar").getAttribute("aria-valuenow")).resolves.toBe("100");
    expect(await page.evaluate("window.unreloaded")).toBe(true);
  });

  it("shows a deployment's progress and timeline live, and cancels it", async () => {
    const page = await signIn();
    await submitNewDeployment(page, { service: "search", version: "2.0.0", environment: "staging" });
    await page.getByRole("status").getByRole("link", { name: /deployments\// }).click();
    await page.getByRole("heading", { name: "search 2.0.0 → staging" }).waitFor();
    await page.getByRole("button", { name: "Cancel deployment" }).click();
    await page.locator('.facts [data-state="CANCELLED"]').waitFor({ timeout: 30_000 });
    await page.locator('.timeline [data-event-type="CANCEL_REQUESTED"], .timeline li:has([data-state="CANCELLED"])').first().waitFor();
    expect(await page.locator(".timeline li").count()).toBeGreaterThanOrEqual(2);
  });

  it("rolls back to the version that succeeded before", async () => {
    const page = await signIn();
    await submitNewDeployment(page, { service: "billing", version: "3.0.0", environment: "production" });
    await row(page, "billing", "3.0.0").locator('[data-state="SUCCEEDED"]').waitFor({ timeout: 30_000 });
    await submitNewDeployment(page, { service: "billing", version: "3.1.0", environment: "production" });
    await row(page, "billing", "3.1.0").locator('[data-state="SUCCEEDED"]').waitFor({ timeout: 30_000 });
    await row(page, "billing", "3.1.0").getByRole("link").first().click();
    await page.getByRole("button", { name: "Roll back" }).click();
    await page.getByRole("heading", { name: "billing 3.0.0 → production" }).waitFor();
    await page.getByText("Rolls back").waitFor();
    await page.locator('.facts [data-state="SUCCEEDED"]').waitFor({ timeout: 30_000 });
  });

  it("refuses a second create for a busy service and environment, naming the running deployment", async () => {
    const page = await signIn();
    await submitNewDeployment(page, { service: "payments", version: "5.0.0", environment: "production" });
    const first = await page.getByRole("status").getByRole("link", { name: /deployments\// }).textContent();
    await submitNewDeployment(page, { service: "payments", version: "5.0.1", environment: "production" });
    const alert = page.getByRole("region", { name: "New deployment" }).getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toContain("already has an unfinished deployment in production");
    expect(await alert.getByRole("link").textContent()).toBe(first);
  });

  it("filters by environment and state through the URL, and pages through the results", async () => {
    const deployments = typedClient(DeploymentService, channel);
    const options = await asAdmin();
    for (let n = 0; n < 23; n++) {
      await deployments.createDeployment({ deployment: { service: `paged-${n}`, version: "1.0.0", environment: "paging" } }, options);
    }
    const page = await signIn();
    const list = page.getByRole("region", { name: "Deployments" });
    await list.getByLabel("Environment").fill("paging");
    await list.getByRole("button", { name: "Apply" }).click();
    await list.getByText("23 in all").waitFor();
    expect(new URL(page.url()).hash).toBe("#/deployments?environment=paging");
    expect(await list.locator("tbody tr").count()).toBe(20);
    await list.getByRole("button", { name: "Older" }).click();
    await expect.poll(() => list.locator("tbody tr").count()).toBe(3);
    await list.getByRole("button", { name: "Newer" }).click();
    await list.locator("tbody tr").nth(19).waitFor();

    await page.goto(`${stack.url}/#/deployments?environment=paging&state=SUCCEEDED`);
    await list.locator('tbody tr [data-state="SUCCEEDED"]').first().waitFor({ timeout: 60_000 });
    const states = await list.locator("tbody tr [data-state]").evaluateAll((badges) => badges.map((badge) => badge.getAttribute("data-state")));
    expect(new Set(states)).toEqual(new Set(["SUCCEEDED"]));
    expect(await list.getByLabel("State").inputValue()).toBe("SUCCEEDED");
  }, 90_000);

  it("says so, in words with its reason, when a deployment does not exist", async () => {
    const page = await signIn();
    await page.goto(`${stack.url}/#/deployments/00000000-0000-0000-0000-000000000000`);
    await page.getByRole("alert").first().waitFor();
    expect(await page.getByRole("alert").first().getAttribute("data-reason")).toBeTruthy();
  });

  it("keeps the live list going after the deployments service restarts", async () => {
    const page = await signIn();
    const status = page.getByRole("region", { name: "Deployments" }).locator("[data-status]");
    await status.and(page.locator('[data-status="live"]')).waitFor();
    await stack.stopDeployments();
    await status.and(page.locator('[data-status="reconnecting"]')).waitFor({ timeout: 30_000 });
    await screenshot(page, "reconnecting");
    await stack.startDeployments();
    await status.and(page.locator('[data-status="live"]')).waitFor({ timeout: 30_000 });
    // A deployment made elsewhere (over gRPC) appears without a reload.
    await typedClient(DeploymentService, channel).createDeployment(
      { deployment: { service: "after-restart", version: "1.0.0", environment: "dev" } },
      await asAdmin(),
    );
    await row(page, "after-restart", "1.0.0").waitFor({ timeout: 30_000 });
  });

  it("lets an admin create a service-account key, shows it once, and the key works over gRPC", async () => {
    const page = await signIn();
    await page.getByRole("link", { name: "Users" }).click();
    const form = page.getByRole("region", { name: "New user" });
    await form.getByLabel("Kind").selectOption({ label: "service account" });
    await form.getByLabel("Email").fill("ci-bot@launchpad.test");
    await form.getByLabel("Role").selectOption({ label: "deployer" });
    await form.getByRole("button", { name: "Create user" }).click();
    await page.getByRole("button", { name: "Edit ci-bot@launchpad.test" }).click();
    await page.getByLabel("Key name").fill("pipeline");
    await page.getByRole("button", { name: "Create key" }).click();
    const secret = await page.getByLabel("New API key").inputValue();
    expect(secret.length).toBeGreaterThan(20);
    await page.getByRole("button", { name: "Copy" }).waitFor();
    await screenshot(page, "api-key-shown-once");
    await page.getByRole("button", { name: "I have stored it" }).click();
    expect(await page.getByLabel("New API key").count()).toBe(0);
    expect(await page.content()).not.toContain(secret);
    await page.locator('[data-key="pipeline"]').waitFor();

    const listed = await typedClient(DeploymentService, channel).listDeployments({}, bearer(secret));
    expect(listed.totalSize).toBeGreaterThan(0);
  });

  it("reports a conflicting user edit instead of overwriting it", async () => {
    const { user } = await users().createUser(
      { user: { email: "dana@launchpad.test", displayName: "Dana", kind: UserKind.HUMAN, role: Role.VIEWER }, password: "dana's long password" },
      await asAdmin(),
    );
    const page = await signIn();
    await page.getByRole("link", { name: "Users" }).click();
    await page.getByRole("button", { name: "Edit dana@launchpad.test" }).click();
    const editor = page.getByRole("region", { name: "Edit dana@launchpad.test" });
    await editor.getByLabel("Display name").fill("Dana from the console");
    await users().updateUser({ user: { name: user!.name, displayName: "Dana elsewhere" }, updateMask: { paths: ["display_name"] } }, await asAdmin());
    await editor.getByRole("button", { name: "Save" }).click();
    await editor.getByRole("alert").getByText("Someone else changed this").waitFor();
    const { user: stored } = await users().getUser({ name: user!.name }, await asAdmin());
    expect(stored!.displayName).toBe("Dana elsewhere");
  });

  it("shows a viewer no admin or deploy controls, and the server refuses what the viewer forces", async () => {
    await users().createUser(
      { user: { email: "vic@launchpad.test", kind: UserKind.HUMAN, role: Role.VIEWER }, password: "vic's long password" },
      await asAdmin(),
    );
    const page = await signIn("vic@launchpad.test", "vic's long password");
    await page.getByRole("table").first().waitFor();
    expect(await page.getByRole("link", { name: "Users" }).count()).toBe(0);
    expect(await page.getByRole("region", { name: "New deployment" }).count()).toBe(0);
    await page.locator("table.deployments tbody tr a").first().click();
    await page.getByText("Rollout progress").or(page.getByRole("progressbar")).first().waitFor();
    expect(await page.getByRole("button", { name: /Cancel deployment|Roll back/ }).count()).toBe(0);

    await page.goto(`${stack.url}/#/users`);
    await page.getByRole("alert").getByText("You are not allowed to do that.").waitFor();
  });

  it("shows, per service and environment, the live version and what is in flight", async () => {
    const page = await signIn();
    await page.getByRole("link", { name: "Environments" }).click();
    const cell = page.locator('td[data-service="checkout"][data-environment="staging"]');
    await cell.locator(".live-version").getByText("1.0.0").waitFor();
  });

  it("labels every control, works from the keyboard, shows exact times on hover, and fits a laptop and a wide screen", async () => {
    const page = await newPage();
    await page.goto(stack.url);
    // The email field has the focus when the form appears.
    await page.getByLabel("Email").and(page.locator(":focus")).waitFor();
    await page.keyboard.type(stack.adminEmail);
    await page.keyboard.press("Tab");
    await page.keyboard.type(stack.adminPassword);
    await page.keyboard.press("Enter");
    await page.getByRole("button", { name: "Sign out" }).waitFor();
    await page.locator("table.deployments tbody tr").first().waitFor();

    // Every control's accessible name: its label, aria-label or text.
    const unlabelled = await page.evaluate(`[...document.querySelectorAll("input, select, button, a[href]")]
      .filter((element) => !(element.labels?.[0]?.textContent ?? element.getAttribute("aria-label") ?? element.textContent)?.trim())
      .map((element) => element.outerHTML)`);
    expect(unlabelled).toEqual([]);

    const time = page.locator("table.deployments time").first();
    expect(await time.getAttribute("title")).toMatch(/\d{4}.*\d{1,2}:\d{2}:\d{2}.*Z\)$/);

    for (const viewport of [{ width: 1280, height: 800 }, { width: 2560, height: 1440 }, { width: 390, height: 844 }]) {
      await page.setViewportSize(viewport);
      const overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth");
      expect(overflow, `${viewport.width}px wide`).toBe(0);
      await screenshot(page, `layout-${viewport.width}`);
    }
  });
});
