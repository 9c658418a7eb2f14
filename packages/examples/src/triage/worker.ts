/**
 * `npm run triage:worker`: a worker of the scaled-out triage. It joins the
 * cluster of workers sharing the PostgreSQL of `DATABASE_URL`, registers the
 * triage agent as an `AgentWorkflow`, and runs the tickets
 * `npm run triage:submit` submits, as many at once as the cluster gives it.
 * Start several (each listens on its own port): a worker that dies has its
 * tickets resumed by another one, from their last recorded step.
 *
 *   npm run triage:worker -- [--data DIR] [--prefix NAME] [--host HOST] [--port N]
 */
import { WorkflowEngines } from "@effect-harness/workflow"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { Effect, Layer, Path } from "effect"
import * as Cli from "../shared/cli.ts"
import { defaultDataDir, loadArticles } from "../shared/data.ts"
import * as Model from "../shared/model.ts"
import * as Board from "./board.ts"
import * as Cluster from "./cluster.ts"
import * as Script from "./script.ts"
import * as Tools from "./tools.ts"
import * as TriageWorkflow from "./workflow.ts"

const usage = "npm run triage:worker -- [--data DIR] [--prefix NAME] [--host HOST] [--port N]"

const help = `A worker of the scaled-out triage: runs the tickets npm run triage:submit submits, with the others.

  --data DIR       the data folder whose knowledge base (kb/*.md) the agent searches (default: the bundled one);
                   the same as the submitter's
  --prefix NAME    the engine's tables in PostgreSQL, NAME_messages, NAME_runners... (default ${Cluster.defaultPrefix});
                   workers and submitters of one deployment share it
  --host HOST      the address the other workers reach this one at (default 127.0.0.1)
  --port N         the port it listens on for them (default: a free one)

Database: DATABASE_URL (default ${Cluster.defaultDatabaseUrl}).
${Model.help}
Stop it with Ctrl-C (its tickets move to the other workers), or kill it: they move too.`

const program = Effect.gen(function*() {
  const args = yield* Cli.flags({
    data: { type: "string" },
    prefix: { type: "string" },
    host: { type: "string" },
    port: { type: "string" },
    help: { type: "boolean", short: "h" }
  }, usage)
  if (args.help === true) return yield* Cli.say(help)
  const path = yield* Path.Path
  const dataDir = path.resolve(args.data ?? defaultDataDir)
  const prefix = yield* Cluster.prefix(args.prefix)
  const host = args.host ?? "127.0.0.1"
  const port = args.port === undefined ? yield* Cluster.freePort(host) : yield* Cli.positiveInt("port", args.port, 0)
  const url = yield* Cluster.databaseUrl
  const articles = yield* loadArticles(dataDir)

  // the workflow is registered with the model's name (for pricing), once the model is chosen
  const triage = Layer.unwrap(
    Effect.map(Effect.service(Model.ModelInfo), (info) => TriageWorkflow.make(articles, info.model).layer)
  )
  const worker = triage.pipe(
    Layer.provideMerge(Cluster.worker({ prefix, host, port })),
    Layer.provideMerge(Board.layer({ prefix, worker: `${host}:${port}` })),
    Layer.provideMerge(Tools.layer(articles)),
    Layer.provideMerge(Model.layer({ script: Script.make(), command: "npm run triage:worker" }))
  )
  const ready = Layer.effectDiscard(Effect.gen(function*() {
    const info = yield* Model.ModelInfo
    for (const line of info.banner) yield* Cli.say(line)
    yield* Cli.say(
      `Worker ready on ${host}:${port}: runs the tickets submitted to the tables ${prefix}_* of ${Cluster.shown(url)} ` +
        `(npm run triage:submit). Stop it with Ctrl-C.`
    )
  }))

  // runWorker watches the database too: a worker whose sessions keep being
  // cut stops with DatabaseLost, and its tickets move to the other workers
  yield* WorkflowEngines.runWorker(ready.pipe(Layer.provideMerge(worker))).pipe(
    Effect.provide(Cluster.database(url)),
    Effect.catchTag("SqlError", (error) => Effect.fail(Cluster.databaseError(url, "setting up the board")(error)))
  )
}).pipe(Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer)))

Cli.runMain(program, (error) =>
  error._tag === "SocketServerError"
    ? `Cannot listen for the other workers: ${Cli.oneLine(String(error.reason.cause ?? error.message), 160)}; ` +
      `pass another --port or --host`
    : error._tag === "ConfigError"
    ? `Invalid configuration: ${Cli.oneLine(error.message, 200)}`
    : error.message)
