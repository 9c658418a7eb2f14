/**
 * The flagship scaled out, as a user runs it: two `npm run triage:worker`
 * processes on the real PostgreSQL, `npm run triage:submit` for the bundled
 * tickets, and one worker killed with SIGKILL mid-batch (once a ticket
 * finished, while it runs others). The batch completes on the other worker;
 * the summary table, results and drafts are those of `npm start` for the same
 * tickets; each draft is written once; submitting the batch again runs
 * nothing. Fails, not skips, without PostgreSQL when CI=true.
 *
 * Nothing here assumes how fast the machine is: every wait is for a line a
 * process prints, under deadlines from TRIAGE_SCALE_START_MS (a worker's
 * start, default 90 s) and TRIAGE_SCALE_BATCH_MS (a submit to its end,
 * default 120 s).
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type FSWatcher, mkdirSync, readFileSync, statSync, watch } from "node:fs"
import { type AddressInfo, connect, createServer, type Socket } from "node:net"
import { join } from "node:path"
import { databaseUrl, probe, requirePostgres, uniquePrefix, withSql } from "./support/pg.ts"
import { readResults, ticketIds } from "./support/results.ts"
import { oneLineError, run, type Run, start, tempDir } from "./support/spawn.ts"

const setting = (name: string, fallback: number) => {
  const value = Number(process.env[name])
  return Number.isFinite(value) && value > 0 ? value : fallback
}
const startMs = setting("TRIAGE_SCALE_START_MS", 90_000)
const batchMs = setting("TRIAGE_SCALE_BATCH_MS", 120_000)

/** The summary table's rows, by ticket (and `total`), as their columns. */
const summary = (stdout: string): Map<string, Array<string>> => {
  const lines = stdout.split("\n")
  const header = lines.findIndex((line) => /^ticket\s+status\s+category/.test(line))
  assert.isAtLeast(header, 0, `no summary table in:\n${stdout}`)
  const rows = new Map<string, Array<string>>()
  for (const line of lines.slice(header + 2)) {
    if (line.trim() === "") break
    if (line.startsWith("---")) continue
    const columns = line.split(/\s{2,}/)
    rows.set(columns[0]!, columns)
  }
  return rows
}

/** The retries column: the last but one (an empty column does not split, so counting from the left fails for `total`). */
const withoutRetries = (row: ReadonlyArray<string>) => row.filter((_, i) => i !== row.length - 2)

/** Tickets a worker printed as started or resumed, and as done or failed. */
const ticketsOf = (stdout: string) => {
  const taken = new Set([...stdout.matchAll(/^(T-\d+)\s+(?:started|resumed)\s/gm)].map((m) => m[1]!))
  const finished = new Set([...stdout.matchAll(/^(T-\d+)\s+(?:done|failed)\s/gm)].map((m) => m[1]!))
  return { taken, finished, running: [...taken].filter((id) => !finished.has(id)) }
}

/** Counts the drafts written (a write is a rename onto `<id>.md`, see results.ts). */
const countDraftWrites = (drafts: string) => {
  mkdirSync(drafts, { recursive: true })
  const writes = new Map<string, number>()
  const watcher: FSWatcher = watch(drafts, (event, name) => {
    if (event === "rename" && name !== null && /^T-\d+\.md$/.test(name)) writes.set(name, (writes.get(name) ?? 0) + 1)
  })
  return { writes, watcher }
}

describe("npm run triage:worker / triage:submit without a database", () => {
  it("a database that cannot be reached, or a DATABASE_URL that is not one, is one line, the password masked", async () => {
    const env = { DATABASE_URL: "postgres://postgres:hunter2@127.0.0.1:9/test" }
    const out = join(tempDir("scale-nodb"), "out")
    const [worker, submit, invalid] = await Promise.all([
      run("triage/worker", ["--port", "9"], { env }),
      run("triage/submit", ["--out", out], { env }),
      run("triage/submit", ["--out", out], { env: { DATABASE_URL: "hunter2@db:5432" } })
    ])
    for (const result of [worker, submit]) {
      assert.strictEqual(result.code, 1, result.stderr)
      const line = oneLineError(result.stderr)
      assert.include(line, "Cannot connect to PostgreSQL at postgres://postgres:***@127.0.0.1:9/test")
      assert.include(line, "ECONNREFUSED")
      assert.include(line, "DATABASE_URL")
      assert.notInclude(result.stderr + result.stdout, "hunter2")
    }
    assert.strictEqual(invalid.code, 1, invalid.stderr)
    assert.include(oneLineError(invalid.stderr), "DATABASE_URL is not a PostgreSQL URL: write it as postgres://")
    assert.notInclude(invalid.stderr, "hunter2")
  })

  it("a bad --prefix or --batch is one line naming it", async () => {
    const [prefix, batch] = await Promise.all([
      run("triage/worker", ["--prefix", "Triage-1"]),
      run("triage/submit", ["--batch", "a/b"])
    ])
    assert.strictEqual(prefix.code, 1, prefix.stderr)
    assert.include(oneLineError(prefix.stderr), `--prefix must be lower-case letters, digits and _`)
    assert.strictEqual(batch.code, 1, batch.stderr)
    assert.include(oneLineError(batch.stderr), `--batch must be letters, digits, ".", "_" and "-" (at most 64), got "a/b"`)
  })
})

const server = await probe()
const prefix = uniquePrefix("triage")

if (requirePostgres(server, "npm run triage:worker / triage:submit (PostgreSQL)", "the scaled-out triage test")) {
  const workers: Array<Run> = []
  afterAll(async () => {
    for (const worker of workers) worker.child.kill("SIGKILL")
    await Effect.runPromise(withSql((sql) =>
      Effect.gen(function*() {
        const tables = yield* sql<{ tablename: string }>`SELECT tablename FROM pg_tables WHERE tablename LIKE ${prefix + "%"}`
        for (const { tablename } of tables) yield* sql`DROP TABLE IF EXISTS ${sql(tablename)} CASCADE`
      })
    ))
  })

  describe("npm run triage:worker / triage:submit (PostgreSQL)", () => {
    it("a worker whose port is taken is one line saying so", async () => {
      const taken = createServer()
      await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve))
      const port = (taken.address() as AddressInfo).port
      try {
        const result = await run("triage/worker", ["--prefix", prefix, "--port", String(port)], {
          env: { DATABASE_URL: databaseUrl() }
        })
        assert.strictEqual(result.code, 1, result.stderr)
        assert.include(oneLineError(result.stderr), `Cannot listen for the other workers: Error: listen EADDRINUSE`)
        assert.include(result.stderr, "pass another --port or --host")
      } finally {
        taken.close()
      }
    })

    it("a database lost while submit follows its batch is one line naming it, the password masked", async () => {
      // submit reaches PostgreSQL through a proxy of the test's, closed once the batch is submitted
      const target = new URL(databaseUrl())
      const sockets = new Set<Socket>()
      const proxy = createServer((client) => {
        const upstream = connect(Number(target.port || 5432), target.hostname)
        for (const socket of [client, upstream]) {
          sockets.add(socket)
          socket.on("error", () => {})
        }
        client.pipe(upstream).pipe(client)
        client.on("close", () => upstream.destroy())
        upstream.on("close", () => client.destroy())
      })
      await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve))
      const port = (proxy.address() as AddressInfo).port
      const url = new URL(target)
      url.hostname = "127.0.0.1"
      url.port = String(port)
      url.password = "hunter2"
      const out = join(tempDir("scale-lost"), "out")
      // no worker: the batch stays with the engine while submit follows it
      const submit = start("triage/submit", ["--prefix", `${prefix}_lost`, "--out", out, "--batch", "lost-test"], {
        env: { DATABASE_URL: url.toString() }
      })
      try {
        await submit.waitFor((stdout) => /^Submitted batch lost-test/m.test(stdout), startMs)
      } finally {
        proxy.close()
        for (const socket of sockets) socket.destroy()
      }
      const { code } = await Promise.race([
        submit.exit,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`submit did not stop:\n${submit.stdout()}\n${submit.stderr()}`)), startMs)
        )
      ])
      assert.strictEqual(code, 1, submit.stderr())
      const line = oneLineError(submit.stderr())
      console.log(line)
      assert.include(line, `PostgreSQL at postgres://postgres:***@127.0.0.1:${port}/`)
      assert.include(line, "DATABASE_URL")
      assert.notInclude(submit.stderr() + submit.stdout(), "hunter2")
    })

    it("two workers, one killed mid-batch: the batch completes as npm start's, each draft written once", async () => {
      const dir = tempDir("scale")
      const env = { DATABASE_URL: databaseUrl() }

      // what npm start gives for the same tickets
      const reference = await run("triage", ["--state", join(dir, "state"), "--out", join(dir, "reference")], {
        env: { SCRIPTED_LATENCY_MS: "20" }
      })
      assert.strictEqual(reference.code, 0, reference.stderr)
      const expected = summary(reference.stdout)

      // slow enough model answers that a ticket is still running when the first one finishes
      const workerEnv = { ...env, SCRIPTED_LATENCY_MS: "400" }
      for (let i = 0; i < 2; i++) workers.push(start("triage/worker", ["--prefix", prefix], { env: workerEnv }))
      await Promise.all(workers.map((worker) => worker.waitFor((stdout) => /^Worker ready on /m.test(stdout), startMs)))

      const out = join(dir, "out")
      const drafts = countDraftWrites(join(out, "drafts"))
      const args = ["--prefix", prefix, "--out", out, "--batch", "scale-test"]
      const submit = start("triage/submit", args, { env })

      // the first ticket a worker finished; then the worker with the most tickets still running dies
      await Promise.race(workers.map((worker) => worker.waitFor((stdout) => ticketsOf(stdout).finished.size > 0, batchMs)))
      const victim = workers.reduce((a, b) => ticketsOf(b.stdout()).running.length > ticketsOf(a.stdout()).running.length ? b : a)
      const survivor = workers.find((worker) => worker !== victim)!
      victim.child.kill("SIGKILL")
      const killedAt = Date.now()
      await victim.exit
      const moved = ticketsOf(victim.stdout()).running
      assert.isAbove(moved.length, 0, `the killed worker ran no ticket:\n${victim.stdout()}`)

      const { code } = await Promise.race([
        submit.exit,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`submit did not finish:\n${submit.stdout()}\n${submit.stderr()}`)), batchMs)
        )
      ])
      const completedAfterKill = Date.now() - killedAt
      assert.strictEqual(code, 0, `${submit.stdout()}\n${submit.stderr()}`)
      assert.strictEqual(submit.stderr(), "")
      assert.include(submit.stdout(), "Batch scale-test complete.")

      // the tickets the killed worker was running were resumed by the other one, from the journal
      for (const id of moved) assert.match(survivor.stdout(), new RegExp(`^${id}\\s+resumed\\s`, "m"), survivor.stdout())
      assert.deepStrictEqual([...ticketsOf(survivor.stdout()).finished, ...ticketsOf(victim.stdout()).finished].sort().filter(
        (id, i, all) => all.indexOf(id) === i
      ), ticketIds)

      // the same summary as npm start; a resumed ticket may have met the scripted 429/503 once per process
      const table = summary(submit.stdout())
      assert.deepStrictEqual([...table.keys()], [...expected.keys()])
      for (const [id, columns] of expected) {
        const actual = table.get(id)!
        const retriesMayDiffer = id === "total" ? moved.length > 0 : moved.includes(id)
        const drop = (row: Array<string>) => retriesMayDiffer ? withoutRetries(row) : row
        assert.deepStrictEqual(drop(actual), drop(columns), id)
      }

      // the same results and drafts
      const results = readResults(out)
      const referenceResults = readResults(join(dir, "reference"))
      assert.isTrue(results.complete)
      assert.strictEqual(results.runId, "scale-test")
      assert.deepStrictEqual(results.tickets.map((t) => t.triage), referenceResults.tickets.map((t) => t.triage))
      for (const id of ticketIds) {
        assert.strictEqual(
          readFileSync(join(out, "drafts", `${id}.md`), "utf8"),
          readFileSync(join(dir, "reference", "drafts", `${id}.md`), "utf8")
        )
      }
      const inodes = ticketIds.map((id) => statSync(join(out, "drafts", `${id}.md`)).ino)

      // submitting the batch again runs nothing: every ticket replayed, the workers say nothing, no draft rewritten
      const survivorLog = survivor.stdout().length
      const again = await run("triage/submit", args, { env })
      assert.strictEqual(again.code, 0, again.stderr)
      assert.include(again.stdout, "Following batch scale-test: 8 of 8 tickets already done (not run again)")
      const replayed = summary(again.stdout)
      for (const [id, columns] of table) {
        assert.deepStrictEqual(replayed.get(id), id === "total" ? columns : columns.with(1, "replayed"), id)
      }
      assert.strictEqual(survivor.stdout().slice(survivorLog), "")
      assert.deepStrictEqual(ticketIds.map((id) => statSync(join(out, "drafts", `${id}.md`)).ino), inodes)

      drafts.watcher.close()
      assert.deepStrictEqual([...drafts.writes.keys()].sort(), ticketIds.map((id) => `${id}.md`))
      for (const [name, count] of drafts.writes) assert.strictEqual(count, 1, `${name} written ${count} times`)
      console.log(
        `triage:submit with 2 workers, one killed: ${moved.length} running ticket(s) moved (${moved.join(", ")}), ` +
          `the batch complete ${completedAfterKill} ms after the kill, 8/8 done, ${drafts.writes.size} drafts written once each`
      )
    }, startMs + 3 * batchMs)
  })
}
