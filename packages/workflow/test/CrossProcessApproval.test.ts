/**
 * An approval across real processes, on the cluster engine over the real
 * PostgreSQL: worker 1 (a child process) runs the desk agent until its refund
 * asks for approval and is then killed with SIGKILL; once it is gone, another
 * child process (a cluster client, support/approver.ts) sends a decision for a
 * wrong call id, which is refused naming the call that waits, and approves the
 * right one while no worker runs at all; worker 2 (a third process) starts
 * and finishes the run. The refund runs once, on worker 2 (its log row and the
 * answer say so), and the model is not called again for the step worker 1
 * recorded. Fails, not skips, without PostgreSQL when CI=true.
 *
 * Real time with the deadlines of the multi-worker suite (MULTIWORKER_START_MS,
 * default 90 s, for a process to start or finish; MULTIWORKER_COMPLETE_MS,
 * default 240 s, for the run to reach a state); nothing waits a fixed time.
 */
import { AgentWorkflow, WorkflowEngines } from "@effect-harness/workflow"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, ManagedRuntime } from "effect"
import { afterAll } from "vitest"
import * as Desk from "./support/desk.ts"
import { clientLayer, probe, requirePostgres, uniquePrefix } from "./support/pg.ts"
import {
  dropTables,
  eventually,
  killWorker,
  makeWorker,
  persist,
  pgTarget,
  runChild,
  setting,
  startWorker
} from "./support/processes.ts"
import * as Shop from "./support/shop.ts"

const server = await probe()
const prefix = uniquePrefix("ap")
const logTable = `${prefix}_log`
const approverPath = new URL("./support/approver.ts", import.meta.url).pathname

const startMs = setting("MULTIWORKER_START_MS", 90_000)
const completeMs = setting("MULTIWORKER_COMPLETE_MS", 240_000)

const title = "approvals across processes (PostgreSQL)"

if (requirePostgres(server, title, "the approvals across processes")) {
  const workers = [1, 2].map((index) => makeWorker(index, 45_000 + (process.pid % 1000) * 2 + index - 1))
  afterAll(async () => {
    for (const worker of workers) worker.process?.kill("SIGKILL")
    await Effect.runPromise(dropTables(prefix))
  })

  describe(title, () => {
    it("asked on worker 1, killed; a wrong call id refused and the right one approved from another process; the run finishes on worker 2, the refund once, the recorded model step not called again", async () => {
      const [worker1, worker2] = workers as [typeof workers[0], typeof workers[0]]
      const run = "ticket-1"
      // a killed worker stays in the shard assignment until another one finds
      // it dead; when effect's health check (a singleton) was on the killed
      // worker itself, that takes until its heartbeat expires: 10 s here, not 35
      const config = {
        prefix,
        log: logTable,
        latencyMs: 100,
        agent: "desk",
        pg: pgTarget(),
        sharding: { shardLockExpiration: "10 seconds" }
      } as const
      await Effect.runPromise(Shop.createLog(logTable).pipe(Effect.provide(clientLayer)))
      const client = ManagedRuntime.make(
        WorkflowEngines.layerClient({ prefix, sharding: Shop.sharding }).pipe(Layer.provideMerge(clientLayer))
      )
      const log = () => client.runPromise(Shop.readLog(logTable))
      const began = Date.now()
      const phases: Array<string> = []
      const phase = (name: string) => phases.push(`${name} ${((Date.now() - began) / 1000).toFixed(1)} s`)
      try {
        await startWorker(worker1, config, startMs)
        phase("worker 1 ready")
        await persist("start", () => client.runPromise(AgentWorkflow.start(Desk.Desk, run, run)), startMs)

        // worker 1 runs the model step and suspends the run on the refund's approval
        const waiting = await eventually(
          "the run waits for the refund",
          () => client.runPromise(AgentWorkflow.waiting(Desk.Desk, run)),
          completeMs
        )
        phase("waiting")
        assert.strictEqual(waiting.callId, Desk.callId(run))
        assert.deepStrictEqual(
          (await log()).map((row) => [row.worker, row.kind, row.key]),
          [[1, "model", "0"], [1, "model-done", "0"]]
        )

        await killWorker(worker1)
        phase("worker 1 killed")

        // no worker runs now: the decisions come from a process of their own
        const approver = await runChild(approverPath, {
          prefix,
          pg: pgTarget(),
          run,
          wrong: "refund-other",
          approve: Desk.callId(run)
        }, startMs)
        phase("approved")
        assert.strictEqual(approver.code, 0, approver.stdout + approver.stderr)
        const decisions = JSON.parse(approver.stdout.trim().split("\n").at(-1)!) as {
          readonly waiting: string | null
          readonly wrong: "ok" | { readonly _tag: string; readonly callId: string; readonly waiting?: string }
          readonly approved: unknown
        }
        assert.strictEqual(decisions.waiting, Desk.callId(run))
        assert.notStrictEqual(decisions.wrong, "ok", "a decision for another call than the waiting one was recorded")
        assert.deepInclude(decisions.wrong, { _tag: "ApprovalRefused", callId: "refund-other", waiting: Desk.callId(run) })
        assert.strictEqual(decisions.approved, "ok")
        // nothing ran while no worker was up
        assert.strictEqual((await log()).length, 2)

        await startWorker(worker2, config, startMs)
        phase("worker 2 ready")
        const exit = await eventually("the run completes", async () => {
          const status = await client.runPromise(AgentWorkflow.status(Desk.Desk, run))
          return status._tag === "Completed" ? status.exit : undefined
        }, completeMs)
        phase("completed")
        assert.isTrue(Exit.isSuccess(exit), String(exit))
        if (Exit.isSuccess(exit)) assert.strictEqual(exit.value, Desk.answer(Desk.refunded(run, 2)))

        // the refund ran once, on worker 2; the model step worker 1 recorded
        // was not called again, the next one ran on worker 2
        const rows = (await log()).map((row) => [row.worker, row.kind, row.key])
        assert.deepStrictEqual(rows, [
          [1, "model", "0"],
          [1, "model-done", "0"],
          [2, "refund", Desk.callId(run)],
          [2, "model", "1"],
          [2, "model-done", "1"]
        ])
        assert.isUndefined(await client.runPromise(AgentWorkflow.waiting(Desk.Desk, run)))
        console.log(`approval across processes: ${phases.join(", ")}`)
      } finally {
        await client.dispose()
      }
    }, 4 * startMs + 2 * completeMs)
  })
}
