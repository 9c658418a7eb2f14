/**
 * A worker cut off from PostgreSQL: two worker processes on the cluster engine
 * over the real PostgreSQL run the shop agent (a non-idempotent `charge`);
 * the connections of worker 1's engine (found by the `application_name` it
 * connects with; its tools' log has a pool of its own, as a payment provider
 * would not go down with the database) are terminated with
 * `pg_terminate_backend`:
 * 1. now and then, at seeded moments, until several terminations have hit
 *    them while it had runs in progress: it goes on between the cuts;
 * 2. then every new one at once, while it has runs in progress, until worker 2
 *    goes on with one of them: its sessions never last, so it cannot hold its
 *    shards; `WorkflowEngines.runWorker` makes it give up (`DatabaseLost`,
 *    exit 1) instead of keeping them assigned with nobody working on them;
 * 3. then no more: runs keep coming until worker 1 takes some again or is gone.
 * Every run completes with the answer of an uninterrupted run, no charge runs
 * twice, and a worker 1 that exited did so on `DatabaseLost`. The counts are
 * printed. Fails, not skips, without PostgreSQL when CI=true.
 *
 * Real time with the deadlines of the multi-worker suite (MULTIWORKER_START_MS,
 * default 90 s, for a worker to start; MULTIWORKER_COMPLETE_MS, default 240 s,
 * for each phase and for all runs to complete); `SEED` replays a schedule.
 */
import { AgentWorkflow, WorkflowEngines } from "@effect-harness/workflow"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, ManagedRuntime } from "effect"
import { SqlClient } from "effect/sql"
import { afterAll } from "vitest"
import { clientLayer, probe, requirePostgres, uniquePrefix } from "./support/pg.ts"
import {
  dropTables,
  eventually,
  makeWorker,
  persist,
  pgTarget,
  random,
  setting,
  sleep,
  startWorker,
  type Worker
} from "./support/processes.ts"
import * as Shop from "./support/shop.ts"

const server = await probe()
const prefix = uniquePrefix("co")
const logTable = `${prefix}_log`

const startMs = setting("MULTIWORKER_START_MS", 90_000)
const completeMs = setting("MULTIWORKER_COMPLETE_MS", 240_000)

const title = "a worker cut off from PostgreSQL"

/** The tool results after which the model gives its answer: a run whose answer step is logged is done. */
const lastStep = "5"

/**
 * How long the workers' shard locks and heartbeats last without a refresh
 * (effect's default is 35 s), and so how long a worker whose database
 * sessions never last goes on before it gives up (`WorkflowEngines.runWorker`
 * checks its own session every second here, every 5 s by default).
 */
const lockExpiration = "6 seconds"
const watchdog = { checkEvery: "1 second", giveUpAfter: lockExpiration }

if (requirePostgres(server, title, "the cut-off worker test")) {
  const workers = [1, 2].map((index) => makeWorker(index, 47_000 + (process.pid % 1000) * 2 + index - 1))
  const applicationName = (worker: Worker) => `${prefix}_w${worker.index}`
  afterAll(async () => {
    for (const worker of workers) worker.process?.kill("SIGKILL")
    await Effect.runPromise(dropTables(prefix))
  })

  describe(title, () => {
    it("cut off mid-run, worker 1 goes on; when none of its sessions lasts it gives up (DatabaseLost) and worker 2 goes on with its runs; every run ends as an uninterrupted one, charges at most once", async () => {
      const seed = Number(process.env.SEED ?? 16)
      const next = random(seed)
      const [victim, other] = workers as [Worker, Worker]
      const config = (worker: Worker) => ({
        prefix,
        log: logTable,
        latencyMs: 200,
        pg: pgTarget(),
        applicationName: applicationName(worker),
        sharding: { shardLockExpiration: lockExpiration },
        watchdog
      })
      await Effect.runPromise(Shop.createLog(logTable).pipe(Effect.provide(clientLayer)))
      await Promise.all(workers.map((worker) => startWorker(worker, config(worker), startMs)))
      // how the victim's first process ended ("close": its output is all read by then)
      let victimExit: string | undefined
      victim.process!.on("close", (code, signal) => victimExit = `${signal ?? code}`)

      const client = ManagedRuntime.make(
        WorkflowEngines.layerClient({ prefix, sharding: Shop.sharding }).pipe(Layer.provideMerge(clientLayer))
      )
      const log = () => client.runPromise(Shop.readLog(logTable))
      const runs: Array<string> = []
      const submit = async () => {
        const run = `cut-${runs.length}`
        runs.push(run)
        await persist(`start ${run}`, () => client.runPromise(AgentWorkflow.start(Shop.Shopper, run, run)), startMs)
      }
      // terminates every connection of the victim's engine; returns how many there were
      const cutOff = () =>
        client.runPromise(Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const rows = yield* sql<{ readonly pid: number; readonly terminated: boolean }>`
            SELECT pid, pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
            WHERE application_name = ${applicationName(victim)} AND pid <> pg_backend_pid()`
          return rows.filter((row) => row.terminated).length
        }))
      // the runs the victim was working on: their latest logged call is the
      // victim's and their answer step is not logged yet
      const inProgressOnVictim = (rows: ReadonlyArray<Shop.LogRow>) => {
        const latest = new Map<string, Shop.LogRow>()
        const done = new Set<string>()
        for (const row of rows) {
          latest.set(row.run, row)
          if (row.kind === "model-done" && row.key === lastStep) done.add(row.run)
        }
        return [...latest.values()].filter((row) => row.worker === victim.index && !done.has(row.run)).map((row) => row.run)
      }
      const callsOfVictimAfter = (rows: ReadonlyArray<Shop.LogRow>, at: number) =>
        rows.filter((row) => row.worker === victim.index && Number(row.at) > at).length
      const deadline = Date.now() + completeMs

      try {
        // 1. short cuts at seeded moments while both workers run (runs keep
        // coming), until several of them hit the victim's connections mid-run;
        // its sessions last between them, so it goes on
        const cuts: Array<{ readonly at: number; readonly terminated: number; readonly inProgress: number }> = []
        const midRun = () => cuts.filter((cut) => cut.terminated > 0 && cut.inProgress > 0)
        let cutting = true
        const submitting = (async () => {
          while (cutting && runs.length < 30) {
            await submit()
            await sleep(500)
          }
        })()
        while ((cuts.length < 4 || midRun().length < 2) && victimExit === undefined && Date.now() < deadline) {
          await sleep(1500 + next() * 1500)
          const inProgress = inProgressOnVictim(await log()).length
          cuts.push({ at: Date.now(), terminated: await cutOff(), inProgress })
        }
        cutting = false
        await submitting
        assert.isAtLeast(
          midRun().length,
          1,
          `no termination hit a connection of worker 1 mid-run: ${JSON.stringify(cuts)}; worker 1 exit ${victimExit}: ${
            victim.output.slice(-3000)
          }`
        )
        // it went on between the cuts: model calls (each started by its engine
        // after the step before was recorded) after the first one that hit
        const wentOn = (await log()).filter((row) =>
          row.worker === victim.index && row.kind === "model" && Number(row.at) > midRun()[0]!.at
        ).length
        assert.isTrue(victimExit !== undefined || wentOn > 0, `worker 1 made no model call after ${midRun()[0]!.at}`)

        // 2. cut off for good (every new session terminated at once) while it
        // has runs in progress, until worker 2 goes on with one of them
        for (let i = 0; i < 6; i++) await submit()
        // (a worker 1 that already gave up during the short cuts, on a loaded
        // machine, has its stranded runs, or none left)
        const stranded = await eventually("runs in progress on worker 1", async () => {
          const inProgress = inProgressOnVictim(await log())
          return inProgress.length > 0 || victimExit !== undefined ? inProgress : undefined
        }, completeMs, 50)
        const cutOffAt = Date.now()
        let terminated = 0
        const movedOn = (rows: ReadonlyArray<Shop.LogRow>) =>
          stranded.filter((run) =>
            rows.some((row) => row.run === run && row.worker === other.index && Number(row.at) > cutOffAt)
          )
        while (stranded.length > 0 && movedOn(await log()).length === 0 && Date.now() < deadline) {
          terminated += await cutOff()
          await sleep(25)
        }
        const cutOffMs = Date.now() - cutOffAt
        const moved = movedOn(await log())
        assert.isTrue(
          moved.length > 0 || (stranded.length === 0 && victimExit !== undefined),
          `none of ${stranded.join(", ")} went on on worker 2 within ${cutOffMs} ms of cut-off; worker 1 ${
            victimExit === undefined ? "still runs" : `exited ${victimExit}`
          }: ${victim.output.slice(-3000)}`
        )

        // 3. the cut-off is over: runs keep coming until worker 1 takes some
        // again, or is gone (a worker that gave up stops within stopWithin)
        const cutOffEnded = Date.now()
        const fate = await eventually("worker 1 going on or gone", async () => {
          if (victimExit !== undefined) return "gave up"
          if (callsOfVictimAfter(await log(), cutOffEnded) > 0) return "went on"
          if (runs.length < 60) await submit()
          return undefined
        }, completeMs, 300).catch(async (error) => {
          const runners = await client.runPromise(Effect.flatMap(
            SqlClient.SqlClient,
            (sql) => sql`SELECT address, healthy, last_heartbeat::text FROM ${sql(`${prefix}_runners`)}`
          ))
          throw new Error(`${String(error)}; runners ${JSON.stringify(runners)}; worker 1: ${victim.output.slice(-4000)}`)
        })

        // every run completes with the uninterrupted answer
        const outputs = new Map<string, Exit.Exit<unknown, unknown>>()
        while (outputs.size < runs.length && Date.now() < deadline + completeMs) {
          for (const run of runs) {
            if (outputs.has(run)) continue
            const status = await persist(
              `status ${run}`,
              () => client.runPromise(AgentWorkflow.status(Shop.Shopper, run)),
              startMs
            )
            if (status._tag === "Completed") outputs.set(run, status.exit)
          }
          if (outputs.size < runs.length) await sleep(500)
        }
        assert.strictEqual(
          outputs.size,
          runs.length,
          `completed runs: ${outputs.size} of ${runs.length}; missing: ${runs.filter((run) => !outputs.has(run)).join(", ")}`
        )
        for (const [run, exit] of outputs) {
          assert.isTrue(Exit.isSuccess(exit), `${run}: ${String(exit)}`)
          if (Exit.isSuccess(exit)) assert.strictEqual(exit.value, Shop.expectedOutput, run)
        }

        // worker 1 went on, or gave up on its database (not some other crash)
        if (victimExit !== undefined) {
          assert.strictEqual(victimExit, "1", victim.output.slice(-3000))
          assert.include(victim.output, "DatabaseLost", victim.output.slice(-3000))
        }

        // each charge at most once, each note at least once
        const rows = await log()
        const count = (run: string, kind: Shop.LogRow["kind"], key: string) =>
          rows.filter((row) => row.run === run && row.kind === kind && row.key === key).length
        let chargesRun = 0
        let notesRerun = 0
        let modelCalls = 0
        for (const run of runs) {
          for (const ref of Shop.charges) {
            const calls = count(run, "charge", ref)
            assert.isAtMost(calls, 1, `${run} ${ref} charged ${calls} times`)
            chargesRun += calls
          }
          for (const ref of Shop.notes) {
            const calls = count(run, "note", ref)
            assert.isAtLeast(calls, 1, `${run} ${ref}`)
            notesRerun += calls - 1
          }
          for (const step of ["0", "2", "3", lastStep]) modelCalls += count(run, "model", step)
        }
        console.log(
          `cut-off worker (seed ${seed}): ${cuts.length} short cuts of worker 1 (${midRun().length} mid-run, ` +
            `${cuts.reduce((n, cut) => n + cut.terminated, 0)} connections terminated; it made ${wentOn} model calls after ` +
            `the first that hit); then cut off (${terminated} connections terminated) for ${cutOffMs} ms until worker 2 went ` +
            `on with ${moved.length} of its ${stranded.length} runs in progress; worker 1 ${
              fate === "went on" ? "went on after it" : `gave up (exit ${victimExit})`
            }; ${runs.length} runs ` +
            `completed with the uninterrupted answer; model calls ${modelCalls} (uninterrupted: ` +
            `${runs.length * Shop.modelSteps}); charges run ${chargesRun} of ${runs.length * Shop.charges.length} ` +
            `(the others' outcome unknown), run twice 0; notes re-run ${notesRerun}`
        )
      } finally {
        await client.dispose()
      }
    }, 3 * startMs + 3 * completeMs)
  })
}
