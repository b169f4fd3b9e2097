import type { Page } from "playwright-core";

/** Signs in through the console's form at `url`, as a person would, and waits for the signed-in page. */
export async function signInThroughForm(page: Page, url: string, email: string, password: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

/** Fills in and submits the "New deployment" form. */
export async function submitNewDeployment(page: Page, fields: { service: string; version: string; environment: string }): Promise<void> {
  const form = page.getByRole("region", { name: "New deployment" });
  await form.getByLabel("Service").fill(fields.service);
  await form.getByLabel("Version").fill(fields.version);
  await form.getByLabel("Environment").fill(fields.environment);
  await form.getByRole("button", { name: "Create" }).click();
}
