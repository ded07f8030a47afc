/** Poll until `check` returns a truthy value or the deadline passes (no blind sleeps). */
export async function until<T>(check: () => Promise<T> | T, what: string, timeoutMs = 5000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
