/**
 * A client (`WorkflowEngines.layerClient`) whose database cannot be reached,
 * against the real PostgreSQL: `AgentWorkflow.status`, `start`, `run`,
 * `waiting` and `approve` fail with the typed `EngineUnavailable` naming the
 * database (password masked) instead of dying with effect's SQL error, when
 * the database refuses connections, does not exist, goes away while a run is
 * followed, never answers (bounded by `unavailableAfter`), or has the
 * client's connections terminated; a defect that is not the storage's is
 * left a defect. Real time with a short `unavailableAfter`. Fails, not
 * skips, without PostgreSQL when CI=true.
 */
import { Agent } from "@effect-harness/core"
import { AgentWorkflow, WorkflowEngines } from "@effect-harness/workflow"
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { Cause, type Duration, Effect, Exit, Fiber, Layer, Redacted, Schema } from "effect"
import { Tool, Toolkit } from "effect/ai"
import { KeyValueStore } from "effect/persistence"
import { SqlClient, type SqlError } from "effect/sql"
import { connect, createServer, type Server, type Socket } from "node:net"
import { afterAll } from "vitest"
import { clientLayer, pgConfig, probe, requirePostgres, uniquePrefix, withSql } from "./support/pg.ts"

const server = await probe()
const title = "AgentWorkflow calls of a client whose database cannot be reached (PostgreSQL)"
const prefix = uniquePrefix("cdb")

const Refund = Tool.make("refund", {
  parameters: Schema.Struct({ order: Schema.String }),
  success: Schema.String,
  needsApproval: true
})
const desk = Agent.make({ name: "desk", toolkit: Toolkit.make(Refund), maxSteps: 5 })
const Desk = AgentWorkflow.make(desk)

type Client = WorkflowEngines.EngineUnavailable | AgentWorkflow.ApprovalRefused | Agent.AgentError | SqlError.SqlError

/** Every public call a client makes, by name. */
const calls = (runId: string): ReadonlyArray<readonly [string, Effect.Effect<unknown, Client, any>]> => [
  ["status", AgentWorkflow.status(Desk, runId)],
  ["start", AgentWorkflow.start(Desk, runId, "hi")],
  ["run", AgentWorkflow.run(Desk, runId, "hi")],
  ["waiting", AgentWorkflow.waiting(Desk, runId)],
  ["approve", AgentWorkflow.approve(Desk, runId, "refund-1")]
]

/** The call's EngineUnavailable, or a failed assertion saying what it did instead. */
const unavailable = (name: string, exit: Exit.Exit<unknown, unknown>): WorkflowEngines.EngineUnavailable => {
  const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined
  const value = error !== undefined && error._tag === "Some" ? error.value : undefined
  assert.instanceOf(value, WorkflowEngines.EngineUnavailable, `${name}: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "succeeded"}`)
  return value as WorkflowEngines.EngineUnavailable
}

/** A port on 127.0.0.1 nobody listens on. */
const closedPort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const address = probe.address()
      probe.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })
)

const listen = (server: Server) =>
  Effect.promise(() =>
    new Promise<number>((resolve) => {
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resolve(typeof address === "object" && address !== null ? address.port : 0)
      })
    })
  )

/**
 * A TCP proxy to the PostgreSQL of the tests: `lose` closes it, cutting its
 * connections and refusing new ones, as a database lost on the network;
 * `freeze` stops forwarding anything, as a network that drops packets.
 */
const proxy = Effect.acquireRelease(
  Effect.gen(function*() {
    const sockets = new Set<Socket>()
    let frozen = false
    const server = createServer((client) => {
      if (frozen) {
        sockets.add(client)
        client.on("error", () => {})
        return
      }
      const upstream = connect(Number(pgConfig.port ?? 5432), pgConfig.host ?? "127.0.0.1")
      for (const socket of [client, upstream]) {
        sockets.add(socket)
        socket.on("error", () => {})
        socket.on("close", () => sockets.delete(socket))
      }
      client.pipe(upstream).pipe(client)
      client.on("close", () => upstream.destroy())
      upstream.on("close", () => client.destroy())
    })
    const port = yield* listen(server)
    const lose = Effect.sync(() => {
      server.close()
      for (const socket of sockets) socket.destroy()
    })
    const freeze = Effect.sync(() => {
      frozen = true
      for (const socket of sockets) {
        socket.unpipe()
        socket.pause()
      }
    })
    return { port, lose, freeze }
  }),
  ({ lose }) => lose
)

/** A server that accepts connections and never says a word. */
const silent = Effect.acquireRelease(
  Effect.gen(function*() {
    const sockets = new Set<Socket>()
    const server = createServer((socket) => {
      sockets.add(socket)
      socket.on("error", () => {})
    })
    const port = yield* listen(server)
    return { port, server, sockets }
  }),
  ({ server, sockets }) =>
    Effect.sync(() => {
      server.close()
      for (const socket of sockets) socket.destroy()
    })
)

const client = (pg: Layer.Layer<SqlClient.SqlClient, SqlError.SqlError>, unavailableAfter: Duration.Input = "1 second") =>
  WorkflowEngines.layerClient({ prefix, unavailableAfter }).pipe(Layer.provide(pg))

const dropTables = withSql((sql) =>
  Effect.gen(function*() {
    const tables = yield* sql<{ tablename: string }>`SELECT tablename FROM pg_tables WHERE tablename LIKE ${prefix + "%"}`
    for (const { tablename } of tables) yield* sql`DROP TABLE IF EXISTS ${sql(tablename)} CASCADE`
  })
)

if (requirePostgres(server, title, "the client database tests")) {
  afterAll(() => Effect.runPromise(dropTables))

  describe(title, () => {
    it.live("a database that refuses connections: each call, its client layer built for it, fails with EngineUnavailable naming it, password masked", () =>
      Effect.gen(function*() {
        const port = yield* closedPort
        const url = `postgres://postgres:hunter2@127.0.0.1:${port}/test`
        const layer = client(PgClient.layer({ url: Redacted.make(url), connectTimeout: "2 seconds" }))
        for (const [name, call] of calls("refused-1")) {
          const error = unavailable(name, yield* call.pipe(Effect.provide(layer), Effect.exit))
          // the engine's tables are made ready when the layer is built: that is where it fails
          assert.strictEqual(error.operation, "connecting")
          assert.strictEqual(error.database, `postgres://postgres:***@127.0.0.1:${port}/test`)
          assert.include(error.detail, "ECONNREFUSED")
          assert.include(error.message, "check that PostgreSQL is running and reachable")
          assert.notInclude(error.message, "hunter2")
        }
      }))

    it.live("a database that does not exist: every call fails with EngineUnavailable saying so", () =>
      Effect.gen(function*() {
        const layer = client(PgClient.layer({ ...pgConfig, database: "eh_no_such_database" }))
        for (const [name, call] of calls("nodb-1")) {
          const error = unavailable(name, yield* call.pipe(Effect.provide(layer), Effect.exit))
          assert.include(error.database, "/eh_no_such_database")
          assert.include(error.detail, `database "eh_no_such_database" does not exist`)
        }
      }))

    it.live("lost while following: a run waited for and its status polled, then the database goes away; every call fails with EngineUnavailable", () =>
      Effect.gen(function*() {
        const { lose, port } = yield* proxy
        const layer = client(PgClient.layer({ ...pgConfig, host: "127.0.0.1", port, connectTimeout: "2 seconds" }))
        yield* Effect.gen(function*() {
          // no worker runs it: it stays pending, and run waits for it
          yield* AgentWorkflow.start(Desk, "lost-1", "hi")
          assert.deepStrictEqual(yield* AgentWorkflow.status(Desk, "lost-1"), { _tag: "Pending" })
          const following = yield* Effect.forkChild(Effect.exit(AgentWorkflow.run(Desk, "lost-1", "hi")))
          yield* Effect.sleep("500 millis")
          assert.isUndefined(following.pollUnsafe(), "run ended while its run was pending")
          yield* lose
          const started = Date.now()
          // waiting for the answer: fails once the database has answered no check for unavailableAfter
          const run = unavailable("run", yield* Fiber.join(following).pipe(Effect.timeout("20 seconds")))
          assert.strictEqual(run.operation, "run")
          assert.include(run.database, `127.0.0.1:${port}`)
          console.log(`run failed ${Date.now() - started} ms after the database was lost: ${run.message}`)
          for (const [name, call] of calls("lost-1")) {
            const error = unavailable(name, yield* Effect.exit(call))
            assert.strictEqual(error.operation, name)
            assert.include(error.detail, "ECONNREFUSED")
          }
        }).pipe(Effect.provide(layer))
      }).pipe(Effect.scoped))

    it.live("the network to the database stops answering while following: status fails after unavailableAfter, so does a waiting run", () =>
      Effect.gen(function*() {
        const { freeze, lose, port } = yield* proxy
        const layer = client(PgClient.layer({ ...pgConfig, host: "127.0.0.1", port, connectTimeout: "60 seconds" }))
        yield* Effect.gen(function*() {
          yield* AgentWorkflow.start(Desk, "frozen-1", "hi")
          const following = yield* Effect.forkChild(Effect.exit(AgentWorkflow.run(Desk, "frozen-1", "hi")))
          yield* Effect.sleep("300 millis")
          yield* freeze
          const started = Date.now()
          const status = unavailable("status", yield* AgentWorkflow.status(Desk, "frozen-1").pipe(Effect.timeout("20 seconds"), Effect.exit))
          assert.strictEqual(status.detail, "no answer within 1s")
          assert.isAtLeast(Date.now() - started, 900)
          const run = unavailable("run", yield* Fiber.join(following).pipe(Effect.timeout("20 seconds")))
          assert.strictEqual(run.detail, "no answer to a check for 1s")
          // the client's connections wait for the frozen network when it stops: cut them
          yield* lose
        }).pipe(Effect.provide(layer))
      }).pipe(Effect.scoped))

    it.live("a database that never answers: each call, its client layer built for it, fails with EngineUnavailable after unavailableAfter, not hang", () =>
      Effect.gen(function*() {
        const { port } = yield* silent
        // the driver would wait 60 seconds for the connection: unavailableAfter decides first
        const layer = client(PgClient.layer({ ...pgConfig, host: "127.0.0.1", port, connectTimeout: "60 seconds" }))
        for (const [name, call] of calls("silent-1")) {
          const started = Date.now()
          const exit = yield* call.pipe(Effect.provide(layer), Effect.timeout("20 seconds"), Effect.exit)
          const error = unavailable(name, exit)
          assert.strictEqual(error.operation, "connecting")
          assert.strictEqual(error.detail, "no answer within 1s")
          assert.isAtLeast(Date.now() - started, 900, name)
        }
      }).pipe(Effect.scoped))

    it.live("the client's connections terminated by application_name mid-follow: calls answer or fail with EngineUnavailable, never die; then answer again", () =>
      Effect.gen(function*() {
        const applicationName = `eh_cdb_${process.pid}`
        const layer = client(PgClient.layer({ ...pgConfig, applicationName }))
        yield* Effect.gen(function*() {
          yield* AgentWorkflow.start(Desk, "cut-1", "hi")
          const cutting = yield* Effect.forkChild(
            Effect.gen(function*() {
              const sql = yield* SqlClient.SqlClient
              for (;;) {
                yield* sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                  WHERE application_name = ${applicationName} AND pid <> pg_backend_pid()`
                yield* Effect.sleep("10 millis")
              }
            }).pipe(Effect.provide(clientLayer))
          )
          let failed = 0
          for (let round = 0; round < 5; round++) {
            for (const [name, call] of calls("cut-1")) {
              // run waits for a run no worker runs: bounded here, its answer is not the point
              const exit = yield* (name === "run" ? Effect.timeoutOption(call, "300 millis") : call).pipe(Effect.exit)
              if (Exit.isSuccess(exit)) continue
              const error = Cause.findErrorOption(exit.cause)
              // approve on a run that waits for nothing is refused: an answer
              if (error._tag === "Some" && error.value._tag === "ApprovalRefused") continue
              unavailable(name, exit)
              failed++
            }
          }
          yield* Fiber.interrupt(cutting)
          console.log(`${failed} of 25 calls failed with EngineUnavailable while connections were terminated`)
          // a connection terminated by the last round may still be in the pool:
          // the first call after can meet it, and is made again, as a user would
          const again = AgentWorkflow.status(Desk, "cut-1").pipe(
            Effect.retry({ times: 5, while: (error) => error._tag === "EngineUnavailable" })
          )
          assert.deepStrictEqual(yield* again, { _tag: "Pending" })
        }).pipe(Effect.provide(layer))
      }))

    it.live("a defect that is not the database's stays a defect: an unreadable approval entry", () =>
      Effect.gen(function*() {
        yield* Effect.gen(function*() {
          const store = yield* KeyValueStore.KeyValueStore
          yield* store.set(`effect-harness/approval/${Desk.name}/corrupt-1`, "not json")
        }).pipe(Effect.provide(KeyValueStore.layerSql({ table: `${prefix}_approvals` }).pipe(Layer.provide(clientLayer))))
        const exit = yield* AgentWorkflow.waiting(Desk, "corrupt-1").pipe(Effect.provide(client(clientLayer)), Effect.exit)
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), String(exit))
        assert.isFalse(Exit.isFailure(exit) && Cause.findErrorOption(exit.cause)._tag === "Some")
      }))
  })
}
