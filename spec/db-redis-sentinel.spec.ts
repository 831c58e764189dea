// The Redis backend behind Sentinel (`redis+sentinel://...`), against real servers on
// 127.0.0.1: a primary, a replica and three Sentinels (spec/redis-helpers.ts). Node A
// writes a new entry every 10 ms while node B holds an entry of its own, monitors the
// family and queries it every 20 ms; the primary is killed with SIGKILL mid-traffic.
// Asserted: the Sentinels' failover is followed (writes made during and after it land),
// B's monitor resumes with every entry exactly once (nothing deleted, nothing added
// twice, no change that did not happen), the leases of both live owners survive, the
// monitor is told of the outage once and of the recovery once, and queries fail only
// with DbUnavailableError and only within the failover window, which is printed.
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { DbStatus } from "../lib/db/backend.ts";
import type { RedisBackend } from "../lib/db/redis.ts";
import { type SentinelSet, realBackend, skipWithoutRedis, startSentinelSet, until } from "./redis-helpers.ts";

const F = "sentinel::family";

if (!skipWithoutRedis("spec/db-redis-sentinel.spec.ts")) {
  let set: SentinelSet;
  let a: RedisBackend;
  let b: RedisBackend;

  test.before(async () => {
    set = await startSentinelSet(1000);
    a = await realBackend(set.url, "sentinel/a", { lease: 10 });
    b = await realBackend(set.url, "sentinel/b", { lease: 10 });
  });

  test.after(async () => {
    await a?.close();
    await b?.close();
    await set?.stop();
  });

  test("sentinel - the primary is killed mid-traffic: writes land, the monitor resumes without loss or duplicates, leases survive", async () => {
    const calls: { added: string[]; changed: string[]; deleted: string[] }[] = [];
    let content = new Set<string>();
    const statuses: DbStatus[] = [];
    b.localSet(F, "b-live", "b");
    b.watch(
      F,
      (copy, added, changed, deleted) => {
        calls.push({ added: [...added], changed: [...changed], deleted: [...deleted] });
        content = new Set(Object.keys(copy));
      },
      (s) => statuses.push(s),
    );

    let written = 0;
    const writer = setInterval(() => a.localSet(F, `k${written++}`, written), 10);
    const probes: { at: number; error?: unknown }[] = [];
    const prober = setInterval(() => {
      const at = Date.now();
      b.query("g_db_keys", F).then(
        () => probes.push({ at }),
        (error: unknown) => probes.push({ at, error }),
      );
    }, 20);
    try {
      await until(() => content.has("b-live") && content.has("k20"), 10_000, "B's monitor to see traffic");
      const killedAt = Date.now();
      await set.primary.kill();
      // Recovered: a query succeeded after one failed, and the monitor saw writes made since.
      await until(() => probes.some((p) => p.error !== undefined) && probes[probes.length - 1].error === undefined, 30_000, "queries to fail and then succeed again");
      const recoveredAt = probes[probes.length - 1].at;
      const after = written + 20;
      await until(() => content.has(`k${after}`), 10_000, "B's monitor to see writes made after the failover");
      clearInterval(writer);
      const failures = probes.filter((p) => p.error !== undefined);
      const first = failures[0].at;
      const last = failures[failures.length - 1].at;
      console.log(`# db-redis-sentinel: queries failed from ${first - killedAt} ms to ${last - killedAt} ms after the kill (${failures.length} of ${probes.length} probes); the first success after: ${recoveredAt - killedAt} ms`);
      for (const f of failures) assert.is((f.error as Error).name, "DbUnavailableError", String(f.error));
      assert.ok(first >= killedAt && last < recoveredAt, "failures only within the failover window");
      // Then every write made by A, and B's own entry.
      const expected = new Set(["b-live", ...Array.from({ length: written }, (_, i) => `k${i}`)]);
      await until(() => content.size === expected.size, 10_000, `B's monitor to hold all ${expected.size} entries`);
      assert.equal([...content].sort(), [...expected].sort());
      assert.equal(((await b.query("g_db_keys", F)) as string[]).sort(), [...expected].sort(), "a query after the failover sees everything");
    } finally {
      clearInterval(writer);
      clearInterval(prober);
    }
    const seen = new Set<string>();
    const wrong: string[] = [];
    for (const c of calls) {
      for (const k of c.added) {
        if (seen.has(k)) wrong.push(`${k} added twice`);
        seen.add(k);
      }
      for (const k of c.deleted) wrong.push(`${k} deleted (its owner lives)`);
      for (const k of c.changed) wrong.push(`${k} changed (it never did)`);
    }
    assert.equal(wrong, [], "every entry reported once");
    assert.equal(statuses.map((s) => s.up), [false, true], "one outage, one recovery");
  });

  test.run();
}
