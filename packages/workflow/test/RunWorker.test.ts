/**
 * `WorkflowEngines.runWorker` against the real PostgreSQL: the worker runs
 * while its sessions last, and while the database cannot be reached at all;
 * it gives up with `DatabaseLost` (its layer stopped) when sessions open but
 * are terminated again and again; a layer that cannot be built fails with its
 * own error. Real time with short check intervals (the cluster engine is not
 * involved: the worker here is a layer that records when it stops). Fails, not
 * skips, without PostgreSQL when CI=true.
 */
import { WorkflowEngines } from "@effect-harness/workflow"
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { createServer } from "node:net"
import { clientLayer, pgConfig, probe, requirePostgres } from "./support/pg.ts"

const server = await probe()
const title = "WorkflowEngines.runWorker (PostgreSQL)"
const fast = { checkEvery: "100 millis", giveUpAfter: "600 millis", stopWithin: "2 seconds" } as const

/** A worker that runs until it is stopped, and says whether it was. */
const stoppable = () => {
  const state = { stopped: false }
  const layer = Layer.effectDiscard(Effect.addFinalizer(() => Effect.sync(() => state.stopped = true)))
  return { state, layer }
}

class Unbuildable extends Schema.TaggedError<Unbuildable>()("Unbuildable", {}) {}

if (requirePostgres(server, title, "the runWorker tests")) {
  describe(title, () => {
    it.live("runs while its sessions last; stopped from outside, its layer stops", () =>
      Effect.gen(function*() {
        const worker = stoppable()
        const fiber = yield* Effect.forkChild(
          WorkflowEngines.runWorker(worker.layer, fast).pipe(Effect.provide(clientLayer))
        )
        yield* Effect.sleep("2 seconds")
        assert.isUndefined(fiber.pollUnsafe(), "the worker ended while its database was fine")
        assert.isFalse(worker.state.stopped)
        yield* Fiber.interrupt(fiber)
        assert.isTrue(worker.state.stopped)
      }))

    it.live("does not give up while the database cannot be reached at all", () =>
      Effect.gen(function*() {
        // a port nobody listens on: every connection is refused
        const port = yield* Effect.promise(() =>
          new Promise<number>((resolve) => {
            const probe = createServer().listen(0, "127.0.0.1", () => {
              const address = probe.address()
              probe.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
            })
          })
        )
        const worker = stoppable()
        const unreachable = PgClient.layer({ host: "127.0.0.1", port, username: "postgres", connectTimeout: "200 millis" })
        const fiber = yield* Effect.forkChild(
          WorkflowEngines.runWorker(worker.layer, fast).pipe(Effect.provide(unreachable))
        )
        yield* Effect.sleep("2 seconds")
        assert.isUndefined(fiber.pollUnsafe(), "the worker gave up on a database it never reached")
        yield* Fiber.interrupt(fiber)
        assert.isTrue(worker.state.stopped)
      }))

    it.live("gives up with DatabaseLost when its sessions open and are terminated again and again; its layer stopped", () =>
      Effect.gen(function*() {
        const applicationName = `eh_runworker_${process.pid}`
        const worker = stoppable()
        const cut = Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          for (;;) {
            yield* sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE application_name = ${applicationName} AND pid <> pg_backend_pid()`
            yield* Effect.sleep("20 millis")
          }
        }).pipe(Effect.provide(clientLayer))
        const cutting = yield* Effect.forkChild(cut)
        const exit = yield* WorkflowEngines.runWorker(worker.layer, fast).pipe(
          Effect.provide(PgClient.layer({ ...pgConfig, applicationName })),
          Effect.timeout("30 seconds"),
          Effect.exit
        )
        yield* Fiber.interrupt(cutting)
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? exit.cause.reasons.find((reason) => reason._tag === "Fail") : undefined
        assert.instanceOf(error?._tag === "Fail" ? error.error : undefined, WorkflowEngines.DatabaseLost, String(exit))
        const lost = (error as { readonly error: WorkflowEngines.DatabaseLost }).error
        assert.isAtLeast(lost.lostSessions, 2)
        assert.isAtLeast(lost.sinceMs, 600)
        assert.include(lost.message, "gives up its shards")
        assert.isTrue(worker.state.stopped)
      }))

    it.live("a worker whose layer cannot be built fails with the layer's error", () =>
      Effect.gen(function*() {
        const error = yield* WorkflowEngines.runWorker(Layer.effectDiscard(Effect.fail(new Unbuildable())), fast).pipe(
          Effect.provide(clientLayer),
          Effect.flip
        )
        assert.instanceOf(error, Unbuildable)
      }))
  })
}
