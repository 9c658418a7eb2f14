/**
 * `npm start`: a task-automation agent triaging a folder of support tickets
 * against a knowledge base.
 *
 * Each ticket goes through the triage `Agent` (search the knowledge base,
 * read articles, draft a reply, answer with a Schema-validated `Triage`),
 * several at a time with `Harness.forEach`, each as a durable run: stop it
 * with Ctrl-C and start it again, it resumes where it stopped.
 *
 *   npm start -- [--data DIR] [--state DIR] [--out DIR] [--concurrency N] [--fresh]
 */
import { Harness } from "@effect-harness/core"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { Effect, Layer, Path } from "effect"
import { fileURLToPath } from "node:url"
import * as Cli from "../shared/cli.ts"
import { defaultDataDir, loadArticles, loadTickets } from "../shared/data.ts"
import * as Explain from "../shared/explain.ts"
import * as Format from "../shared/format.ts"
import * as Model from "../shared/model.ts"
import * as Agent from "./agent.ts"
import { Progress } from "./progress.ts"
import * as Results from "./results.ts"
import * as Run from "./run.ts"
import * as Script from "./script.ts"
import * as Tools from "./tools.ts"

const usage = "npm start -- [--data DIR] [--state DIR] [--out DIR] [--concurrency N] [--fresh]"

const help = `Triages the support tickets of a data folder against its knowledge base, with a tool-using agent.

  --data DIR         the data folder: tickets/*.json and kb/*.md (default: the bundled one)
  --state DIR        where runs are journaled, to resume them (default: packages/examples/.state)
  --out DIR          where results.json and the drafts are written (default: packages/examples/out/triage)
  --concurrency N    tickets triaged at once (default 3)
  --fresh            start a new run even if an unfinished one could be resumed

${Model.help}`

const examplesDir = fileURLToPath(new URL("../..", import.meta.url))

const { say } = Cli

const program = Effect.gen(function*() {
  const args = yield* Cli.flags({
    data: { type: "string" },
    state: { type: "string" },
    out: { type: "string" },
    concurrency: { type: "string" },
    fresh: { type: "boolean" },
    help: { type: "boolean", short: "h" }
  }, usage)
  if (args.help === true) return yield* say(help)
  const path = yield* Path.Path
  const dataDir = path.resolve(args.data ?? defaultDataDir)
  const stateDir = path.resolve(args.state ?? path.join(examplesDir, ".state"))
  const outDir = path.resolve(args.out ?? Results.defaultOutDir)
  const concurrency = yield* Cli.positiveInt("concurrency", args.concurrency, 3)

  // everything the user can get wrong in the data is found before any model call
  const tickets = yield* loadTickets(dataDir)
  const articles = yield* loadArticles(dataDir)

  const main = Effect.gen(function*() {
    const info = yield* Model.ModelInfo
    for (const line of info.banner) yield* say(line)
    const plan = yield* Run.plan({ stateDir, dataDir, fresh: args.fresh === true })
    const left = tickets.filter((ticket) => !plan.done.has(ticket.id)).length
    yield* say(
      plan.resumed
        ? `Resuming run ${plan.runId} (started ${plan.startedAt}): ${tickets.length - left} of ${tickets.length} ` +
          `tickets already done, replayed from the journal without calling the model again; ${left} to go.`
        : `Starting run ${plan.runId}: ${Format.plural(tickets.length, "ticket")}, ${concurrency} at a time. ` +
          `Stop it with Ctrl-C; running it again resumes it.`
    )
    yield* say()

    const progress = Progress.stdout(tickets.map((ticket) => ticket.id))
    const results = yield* Results.make({ outDir, runId: plan.runId, model: () => info, tickets, rows: progress.rows })
    const triageAll = Run.ticketHarness({
      agent: Agent.make(articles, info.model),
      plan,
      info,
      progress,
      onOutcome: results.record
    }).pipe(Harness.forEach({ concurrency }))

    const outcomes = yield* Effect.scoped(Effect.andThen(progress.live, Harness.run(triageAll, tickets))).pipe(
      Effect.onInterrupt(() => {
        const done = results.outcomes().filter((outcome) => outcome._tag === "Done").length
        return say(
          `\nStopped: ${done} of ${tickets.length} tickets done, kept in run ${plan.runId}. ` +
            `Run the same command again to resume it (results so far: ${results.file}).`
        )
      })
    )
    yield* Results.report({
      results,
      rows: progress.rows,
      outcomes,
      again: `run again to retry them, the others are kept in run ${plan.runId}`
    })
    yield* Run.finish(plan, dataDir)
    yield* say(`Run ${plan.runId} complete.`)
  })

  const tools = Layer.merge(Tools.layer(articles), Tools.TicketBook.layer(tickets))
  yield* main.pipe(
    Effect.provide(Layer.mergeAll(
      Model.layer({ script: Script.make(), command: "npm start" }),
      tools,
      Run.storeLayer(stateDir)
    ))
  )
}).pipe(Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer)))

Cli.runMain(program, (error) =>
  error._tag === "JournalError"
    ? Explain.journalError(error, "start a new run with --fresh")
    : error.message)
