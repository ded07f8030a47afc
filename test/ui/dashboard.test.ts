/**
 * The operator dashboard (/ui) and the API docs (/docs) end to end in headless
 * Chromium against a real server (the app listening on a free port, memory
 * store, sessions in every state). Needs Debian's `chromium` package; without
 * it these tests fail with the install hint instead of skipping.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { decide } from '../../src/telegram/errors';
import { ADMIN_KEY, KEY, makeApp, type TestApp } from '../helpers/app';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const INSTALL_HINT = `Chromium not found at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (Debian package), or set CHROMIUM_PATH`;
const XSS_NAME = '<img src=x onerror="window.__xss=1">"&amp;';

/** What the page-side checks use of the browser's globals. */
interface InPage {
  document: { getElementById(id: string): { textContent: string | null } | null; querySelectorAll(selector: string): { length: number } };
  sessionStorage: { getItem(key: string): string | null };
  __xss?: unknown;
}

describe('dashboard (/ui) and API docs (/docs) in headless Chromium', function () {
  this.timeout(60_000);
  let t: TestApp;
  let server: Server;
  let base: string;
  let browser: Browser;
  let ids: Record<string, number>;

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(INSTALL_HINT);
    t = await makeApp('memory', { TELEGATE_ADMIN_KEYS: ADMIN_KEY });
    const names = ['alpha', 'beta', 'gamma', 'delta', 'kappa', XSS_NAME, ...Array.from({ length: 24 }, (_, i) => `acct-${String(i + 1).padStart(2, '0')}`)];
    await t.store.applySync({ upserts: names.map((name) => ({ name, meta: {} })), removes: [] });
    ids = Object.fromEntries(names.map((n, i) => [n, i + 1]));
    const leased = await t.store.acquire(t.pool.leaseTtlMs); // alpha: the least recently used
    assert.ok(leased.ok && leased.session.name === 'alpha');
    await t.store.floodWait(ids.beta as number, 10 * 60_000);
    await t.store.floodWait(ids.gamma as number, 2 * 3600_000);
    await t.store.floodWait(ids.kappa as number, 45 * 60_000);
    await t.store.invalidate(ids.delta as number, 'AUTH_KEY_UNREGISTERED <b>bold</b>');
    server = await new Promise<Server>((resolve) => {
      const s = createServer(t.app).listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });

  after(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    await t?.close();
  });

  /** A fresh tab that records CSP violations, page errors and any request leaving this server. */
  async function open(pathname: string): Promise<{ page: Page; context: BrowserContext; problems: string[] }> {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => {
      if (!r.url().startsWith(`${base}/`) && !r.url().startsWith('data:')) problems.push(`external request: ${r.url()}`);
    });
    await page.goto(`${base}${pathname}`);
    return { page, context, problems };
  }

  // Page-side checks are functions (the page's CSP forbids eval'd strings), typed
  // with the little of the DOM they use: the tests compile without the DOM library.
  const textOf = (page: Page, id: string, expected: string) =>
    page.waitForFunction(([i, e]) => (globalThis as unknown as InPage).document.getElementById(i)?.textContent === e, [id, expected] as const, { timeout: 10_000 });

  const rowCount = (page: Page, n: number) =>
    page.waitForFunction((want) => (globalThis as unknown as InPage).document.querySelectorAll('#rows tr[data-session-id]').length === want, n, { timeout: 10_000 });

  const rowState = (page: Page, id: number, state: string) =>
    page.locator(`#rows tr[data-session-id="${id}"][data-state="${state}"]`).waitFor({ timeout: 10_000 });

  async function signIn(page: Page, key: string): Promise<void> {
    await page.locator('#key-input').waitFor();
    await page.fill('#key-input', key);
    await page.press('#key-input', 'Enter');
  }

  it('an operator types the key once, sees counts, timeline and table, searches, pages, restores and invalidates', async () => {
    const { page, context, problems } = await open('/ui');
    await signIn(page, ADMIN_KEY);

    await textOf(page, 'count-total', '30');
    await textOf(page, 'count-free', '25');
    await textOf(page, 'count-in_use', '1');
    await textOf(page, 'count-floodwait', '3');
    await textOf(page, 'count-invalidated', '1');
    await page.locator('#rows tr[data-session-id]').nth(29).waitFor();
    assert.equal(await page.locator('#rows tr[data-session-id]').count(), 30);

    // Timeline: the next flood deadlines, earliest first.
    const timeline = await page.locator('#timeline li .name').allTextContents();
    assert.deepEqual(timeline, ['beta', 'kappa', 'gamma']);

    // Every value is text: markup in a session name or a reason is shown, never run.
    assert.equal(await page.locator(`#rows tr[data-session-id="${ids[XSS_NAME]}"] td.name`).textContent(), XSS_NAME);
    assert.equal(await page.locator(`#rows tr[data-session-id="${ids.delta}"] td.reason`).textContent(), 'AUTH_KEY_UNREGISTERED <b>bold</b>');
    assert.equal(await page.locator('#rows img, #rows b').count(), 0);
    assert.equal(await page.evaluate(() => (globalThis as unknown as InPage).__xss), undefined);

    // Search by name (this page).
    await page.fill('#search', 'GAM');
    await rowCount(page, 1);
    assert.equal(await page.locator('#rows tr[data-session-id] td.name').textContent(), 'gamma');
    await page.fill('#search', '');
    await page.locator('#rows tr[data-session-id]').nth(29).waitFor();

    // Paging with the API's cursor.
    await page.selectOption('#page-size', '25');
    await rowCount(page, 25);
    await page.click('#next-page');
    await rowCount(page, 5);
    assert.match(String(await page.locator('#page-info').textContent()), /^Page 2/);
    assert.ok(await page.locator('#next-page').isDisabled());
    await page.click('#prev-page');
    await rowCount(page, 25);

    // Restore the invalidated session: it becomes free.
    await page.locator(`#rows tr[data-session-id="${ids.delta}"] button`, { hasText: 'Restore' }).click();
    await rowState(page, ids.delta as number, 'free');
    await textOf(page, 'count-invalidated', '0');
    assert.match(String(await page.locator('#banner').textContent()), /restored/);
    assert.equal((await t.store.status()).invalidated, 0);

    // Invalidate one, with a reason, through the dialog.
    await page.locator(`#rows tr[data-session-id="${ids['acct-01']}"] button`, { hasText: 'Invalidate' }).click();
    await page.fill('#invalidate-reason', 'SESSION_REVOKED');
    await page.click('#invalidate-confirm');
    await rowState(page, ids['acct-01'] as number, 'invalidated');
    assert.equal(await page.locator(`#rows tr[data-session-id="${ids['acct-01']}"] td.reason`).textContent(), 'SESSION_REVOKED');

    // Auto-refresh: a change made elsewhere shows up with no click.
    const r = await t.store.acquire(t.pool.leaseTtlMs);
    assert.ok(r.ok);
    await textOf(page, 'count-in_use', '2');
    await rowState(page, r.session.id, 'in_use');

    // A 403 from the API is shown as a message.
    await page.route('**/restore', (route) => route.fulfill({ status: 403, contentType: 'application/json', body: '{"detail": "Admin API key required"}' }));
    await page.locator(`#rows tr[data-session-id="${ids.beta}"] button`, { hasText: 'Restore' }).click();
    await page.locator('#banner.error', { hasText: 'Admin API key required' }).waitFor();
    await page.unroute('**/restore');

    const shot = path.join(mkdtempSync(path.join(os.tmpdir(), 'telegate-ui-')), 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`      screenshot: ${shot}`);

    // The key stays for this tab (a reload) and only this tab.
    await page.reload();
    await textOf(page, 'count-total', '30');
    assert.ok(await page.locator('#login').isHidden());
    const other = await context.newPage();
    await other.goto(`${base}/ui`);
    await other.locator('#key-input').waitFor();
    assert.ok(await other.locator('#dashboard').isHidden());
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('a worker key sees the counts and a note, no listing and no buttons; a wrong key is refused', async () => {
    const { page, context, problems } = await open('/ui');
    await signIn(page, KEY);
    await textOf(page, 'count-total', '30');
    await page.locator('#list-note', { hasText: 'admin key' }).waitFor();
    assert.equal(await page.locator('#rows button').count(), 0);
    await page.click('#sign-out');
    await signIn(page, 'not-a-key');
    await page.locator('#login-error', { hasText: 'Invalid API key' }).waitFor();
    assert.equal(await page.evaluate(() => (globalThis as unknown as InPage).sessionStorage.getItem('telegate.apiKey')), null);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('/docs renders Swagger UI from local assets with every operation, and "Try it out" works with the key', async () => {
    const { page, context, problems } = await open('/docs');
    await page.locator('.opblock').nth(16).waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('.opblock').count(), 17); // with POST /report and GET /events
    await page.locator('.info .title', { hasText: 'TeleGate' }).waitFor();
    assert.equal(await page.getByText('Warning', { exact: true }).count(), 0, 'Swagger UI warns about the document');

    await page.click('.btn.authorize');
    await page.fill('.auth-container input', ADMIN_KEY);
    await page.click('.auth-btn-wrapper .authorize');
    await page.click('.auth-btn-wrapper .btn-done');
    await page.click('#operations-workers-getStatus .opblock-summary');
    await page.click('#operations-workers-getStatus .try-out__btn');
    await page.click('#operations-workers-getStatus .execute');
    await page.locator('#operations-workers-getStatus .live-responses-table .response-col_status', { hasText: '200' }).waitFor();
    const shot = path.join(mkdtempSync(path.join(os.tmpdir(), 'telegate-docs-')), 'docs.png');
    await page.screenshot({ path: shot });
    console.log(`      screenshot: ${shot}`);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it("shows health counts, rests per Telegram method, and a session's history", async () => {
    const x = ids['acct-20'] as number;
    const y = ids['acct-21'] as number;
    await t.store.floodWait(x, 3600_000, undefined, 'messages.sendmessage');
    await t.store.report(y, { error: 'PEER_FLOOD', decision: decide('PEER_FLOOD', undefined, 86_400) });
    const { page, context, problems } = await open('/ui');
    await signIn(page, ADMIN_KEY);
    await page.locator('#rests li[data-scope="messages.sendmessage"]', { hasText: '· 1' }).waitFor({ timeout: 10_000 });
    await page.locator('#health [data-health="restricted"]', { hasText: 'restricted 1' }).waitFor();
    await page.selectOption('#page-size', '100');
    await page.locator(`#rows tr[data-session-id="${y}"] td.health`, { hasText: 'restricted' }).waitFor();
    await page.click(`#rows tr[data-session-id="${x}"] .btn-history`);
    await page.locator('#history li[data-type="rest"]', { hasText: 'on messages.sendmessage' }).waitFor({ timeout: 10_000 });
    assert.match(String(await page.locator('#history-rests').textContent()), /^Resting on messages\.sendmessage until \d{4}-/);
    await page.click('#history-dialog button[value="close"]');
    await page.click(`#rows tr[data-session-id="${y}"] .btn-history`);
    await page.locator('#history li[data-type="report"]', { hasText: 'PEER_FLOOD → rest' }).waitFor({ timeout: 10_000 });
    assert.deepEqual(problems, []);
    await context.close();
  });
});
