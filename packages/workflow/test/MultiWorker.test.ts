/**
 * Several worker processes on the cluster engine over the real PostgreSQL,
 * killed with SIGKILL at seeded random moments while they run agent workflows
 * with a non-idempotent tool: every run completes with the answer of an
 * uninterrupted run, the non-idempotent tool runs at most once per call, and a
 * model call runs again only when the worker running it was killed before its
 * activity was recorded. The counts are printed. Fails, not skips, without
 * PostgreSQL when CI=true.
 *
 * The machine it runs on may be loaded (2 cores shared with other suites):
 * nothing here assumes how fast a process starts or a step commits. Workers
 * that fail to start are started again, a submission or a status read that
 * fails is tried again, a worker is killed only once it is ready and while
 * another one is, and the deadlines come from configuration:
 * MULTIWORKER_START_MS (a worker's start, default 90 s), MULTIWORKER_COMPLETE_MS
 * (all runs completing after the last kill, default 240 s) and
 * MULTIWORKER_RECORD_MS (how long a model call's activity may take to commit
 * after the model answered, default 20 s).
 */
import { AgentWorkflow, WorkflowEngines } from "@effect-harness/workflow"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, ManagedRuntime } from "effect"
import { afterAll } from "vitest"
import * as Shop from "./support/shop.ts"
import { clientLayer, probe, requirePostgres, uniquePrefix, withSql } from "./support/pg.ts"
import {
  dropTables,
  makeWorker,
  persist,
  pgTarget,
  random,
  setting,
  sleep,
  startWorker as start,
  type Worker
} from "./support/processes.ts"

const server = await probe()
const prefix = uniquePrefix("mw")
const logTable = `${prefix}_log`

const startMs = setting("MULTIWORKER_START_MS", 90_000)
const completeMs = setting("MULTIWORKER_COMPLETE_MS", 240_000)
const recordMs = setting("MULTIWORKER_RECORD_MS", 20_000)

/** Starts the worker, again if a start fails (a loaded machine, a port not yet free), until it is ready. */
const startWorker = (worker: Worker, latencyMs: number) =>
  start(worker, { prefix, log: logTable, latencyMs, pg: pgTarget() }, startMs)

if (requirePostgres(server, "multi-worker SIGKILL suite (PostgreSQL)", "the multi-worker SIGKILL suite")) {
  const workers: Array<Worker> = [0, 1, 2].map((index) => makeWorker(index, 42_000 + (process.pid % 1000) * 3 + index))
  afterAll(async () => {
    for (const worker of workers) worker.process?.kill("SIGKILL")
    await Effect.runPromise(dropTables(prefix))
  })

  describe("multi-worker SIGKILL suite (PostgreSQL)", () => {
    it("3 workers, 30 runs, seeded SIGKILLs: every run ends as an uninterrupted one; charges at most once", async () => {
      const seed = Number(process.env.SEED ?? 16)
      const next = random(seed)
      const latencyMs = 250
      await Effect.runPromise(Shop.createLog(logTable).pipe(Effect.provide(clientLayer)))
      await Promise.all(workers.map((worker) => startWorker(worker, latencyMs)))

      const client = ManagedRuntime.make(
        WorkflowEngines.layerClient({ prefix, sharding: Shop.sharding }).pipe(Layer.provideMerge(clientLayer))
      )
      const runs = Array.from({ length: 30 }, (_, i) => `run-${i}`)
      const kills: Array<{ readonly worker: number; readonly at: number }> = []

      // submit the runs a few at a time while killing workers (a start is
      // idempotent by run id: one that failed is simply sent again)
      const submitting = (async () => {
        for (const run of runs) {
          await persist(`start ${run}`, () => client.runPromise(AgentWorkflow.start(Shop.Shopper, run, run)), startMs)
          await sleep(150)
        }
      })()
      const restarts: Array<Promise<void>> = []
      const failedStarts: Array<unknown> = []
      while (kills.length < 22) {
        await sleep(300 + next() * 700)
        // kill a ready worker, and only while another one is ready too, so
        // the cluster always has a live worker whatever the load
        while (workers.filter((w) => w.ready).length < 2) {
          if (failedStarts.length > 0) throw failedStarts[0]
          await sleep(100)
        }
        const ready = workers.filter((w) => w.ready)
        const worker = ready[Math.floor(next() * ready.length)]!
        kills.push({ worker: worker.index, at: Date.now() })
        worker.ready = false
        worker.process!.kill("SIGKILL")
        await sleep(200 + next() * 400)
        restarts.push(startWorker(worker, latencyMs).catch((error) => {
          failedStarts.push(error)
        }))
      }
      await submitting
      await Promise.all(restarts)
      if (failedStarts.length > 0) throw failedStarts[0]

      // every run completes, on whichever worker holds it
      const deadline = Date.now() + completeMs
      const outputs = new Map<string, Exit.Exit<unknown, unknown>>()
      while (outputs.size < runs.length && Date.now() < deadline) {
        for (const run of runs) {
          if (outputs.has(run)) continue
          const status = await persist(`status ${run}`, () => client.runPromise(AgentWorkflow.status(Shop.Shopper, run)), startMs)
          if (status._tag === "Completed") outputs.set(run, status.exit)
        }
        if (outputs.size < runs.length) await sleep(500)
      }
      await client.dispose()
      assert.strictEqual(outputs.size, runs.length, `completed runs: ${outputs.size} of ${runs.length}`)
      for (const [run, exit] of outputs) {
        assert.isTrue(Exit.isSuccess(exit), `${run}: ${String(exit)}`)
        if (Exit.isSuccess(exit)) assert.strictEqual(exit.value, Shop.expectedOutput, run)
      }

      const rows = await Effect.runPromise(
        withSql((sql) => sql<Shop.LogRow>`SELECT worker, run, kind, key, at FROM ${sql(logTable)} ORDER BY at`)
      )
      const byKey = new Map<string, Array<Shop.LogRow>>()
      for (const row of rows) {
        const key = `${row.run}/${row.kind}/${row.key}`
        byKey.set(key, [...byKey.get(key) ?? [], row])
      }
      let chargesRun = 0
      let chargesNotRun = 0
      let notesRerun = 0
      for (const run of runs) {
        for (const ref of Shop.charges) {
          const calls = byKey.get(`${run}/charge/${ref}`)?.length ?? 0
          assert.isAtMost(calls, 1, `${run} ${ref} charged ${calls} times`)
          if (calls === 1) chargesRun++
          else chargesNotRun++
        }
        for (const ref of Shop.notes) {
          const calls = byKey.get(`${run}/note/${ref}`)?.length ?? 0
          assert.isAtLeast(calls, 1, `${run} ${ref}`)
          notesRerun += calls - 1
        }
      }
      // a model call runs again only after the worker running it was killed
      // before its activity was recorded (its end logged at most recordMs before the kill)
      let modelCalls = 0
      let modelReruns = 0
      for (const run of runs) {
        for (let step = 0; step <= 5; step++) {
          const calls = byKey.get(`${run}/model/${step}`) ?? []
          const done = byKey.get(`${run}/model-done/${step}`) ?? []
          modelCalls += calls.length
          for (let i = 1; i < calls.length; i++) {
            modelReruns++
            const previous = calls[i - 1]!
            const kill = kills.find((k) => k.worker === previous.worker && k.at >= Number(previous.at))
            assert.isDefined(kill, `${run} model step ${step} ran again without its worker being killed`)
            const end = done.find((d) => d.worker === previous.worker && Number(d.at) >= Number(previous.at))
            assert.isTrue(
              end === undefined || Number(end.at) > kill!.at - recordMs,
              `${run} model step ${step} completed ${kill!.at - Number(end?.at)} ms before its worker was killed, and ran again`
            )
          }
        }
      }
      console.log(
        `multi-worker suite (seed ${seed}): ${runs.length} runs on ${workers.length} workers, ${kills.length} SIGKILLs; ` +
          `all completed with the uninterrupted answer. Model calls ${modelCalls} (uninterrupted: ` +
          `${runs.length * Shop.modelSteps}; ${modelReruns} re-run after a kill mid-call); charges run ${chargesRun}, ` +
          `not run again after a kill (outcome unknown) ${chargesNotRun}, run twice 0; notes re-run ${notesRerun}`
      )
      assert.isAtLeast(kills.length, 20)
    }, 3 * startMs + completeMs + 120_000)
  })
}
