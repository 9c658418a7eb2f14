/**
 * A worker process of the multi-process tests: a cluster runner on
 * 127.0.0.1:<port> running the shop agent's workflow (or the desk's, whose
 * refund needs approval) through `WorkflowEngines.runWorker`, until it is
 * killed or gives up on its database (`DatabaseLost`, exit code 1). Configuration in argv[2] as JSON
 * (`WorkerConfig` of support/processes.ts). The engine's PostgreSQL connections
 * carry the configured `application_name`, so a test can find and terminate
 * them.
 */
import { NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { WorkflowEngines } from "@effect-harness/workflow"
import { Effect, Layer, Redacted } from "effect"
import type { SqlClient } from "effect/sql"
import * as Desk from "./desk.ts"
import type { WorkerConfig } from "./processes.ts"
import * as Shop from "./shop.ts"

const config = JSON.parse(process.argv[2]!) as WorkerConfig

const connect = (applicationName: string | undefined) =>
  PgClient.layer({
    ...(config.pg.url !== undefined
      ? { url: Redacted.make(config.pg.url) }
      : { host: config.pg.host, port: config.pg.port, username: config.pg.username, database: config.pg.database }),
    applicationName
  })
// the engine's connections carry the configured name; the tools' log (the
// outside world the tools act on, such as a payment provider) has a pool of
// its own, so cutting the worker off from its database leaves it reachable
const pg = connect(config.applicationName)
const logPg = connect(config.applicationName === undefined ? undefined : `${config.applicationName}_tools`)

const engine = WorkflowEngines.layerWorker({
  prefix: config.prefix,
  port: config.port,
  sharding: { ...Shop.sharding, ...config.sharding }
})
const tools = { table: config.log, worker: config.worker, latency: `${config.latencyMs} millis` } as const

// the two agents' layers provide different services; only their requirement matters here
const worker: Layer.Layer<any, any, SqlClient.SqlClient> = config.agent === "desk"
  ? Desk.Desk.layer.pipe(Layer.provideMerge(engine), Layer.provideMerge(Layer.provide(Desk.layer(tools), logPg)))
  : Shop.Shopper.layer.pipe(Layer.provideMerge(engine), Layer.provideMerge(Layer.provide(Shop.layer(tools), logPg)))

NodeRuntime.runMain(
  WorkflowEngines.runWorker(
    // ready once the layer is built: its port listens, its workflow is registered
    Layer.tap(worker, () => Effect.sync(() => process.stdout.write("ready\n"))),
    // durations as JSON strings ("2 seconds")
    config.watchdog as WorkflowEngines.RunWorkerOptions | undefined
  ).pipe(Effect.provide(pg))
)
