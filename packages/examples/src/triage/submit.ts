/**
 * `npm run triage:submit`: submits the tickets of a data folder to the
 * workers (`npm run triage:worker`) as workflow executions, one per ticket,
 * shows how they go, waits for all of them and ends as `npm start` does: the
 * results file, a draft per ticket and the same summary table.
 *
 * A batch has a name (`--batch`, by default one derived from the tickets);
 * each ticket is the run `<batch>/<ticket id>`. Submitting the same batch
 * again runs nothing that finished: it follows the tickets still running and
 * prints the summary. Stopping it (Ctrl-C) stops only the following: the
 * workers go on.
 *
 *   npm run triage:submit -- [--data DIR] [--out DIR] [--batch NAME] [--prefix NAME]
 */
import { AgentWorkflow } from "@effect-harness/workflow"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { Cause, Clock, Effect, Exit, Layer, Option, Path, Schedule } from "effect"
import * as Cli from "../shared/cli.ts"
import { defaultDataDir, loadArticles, loadTickets, type Ticket } from "../shared/data.ts"
import * as Format from "../shared/format.ts"
import * as Model from "../shared/model.ts"
import type { Triage } from "./agent.ts"
import * as Board from "./board.ts"
import * as Cluster from "./cluster.ts"
import { Progress } from "./progress.ts"
import * as Results from "./results.ts"
import * as Run from "./run.ts"
import * as TriageWorkflow from "./workflow.ts"

const usage = "npm run triage:submit -- [--data DIR] [--out DIR] [--batch NAME] [--prefix NAME]"

const help = `Submits the support tickets of a data folder to the triage workers (npm run triage:worker), follows them
and prints the summary table, as npm start does.

  --data DIR       the data folder: tickets/*.json and kb/*.md (default: the bundled one); the workers' too
  --out DIR        where results.json and the drafts are written (default: packages/examples/out/triage)
  --batch NAME     the batch the tickets are runs of (default: a name derived from the tickets, so that
                   submitting them again follows the same batch; another name triages them anew)
  --prefix NAME    the engine's tables in PostgreSQL (default ${Cluster.defaultPrefix}), as the workers were given

Database: DATABASE_URL (default ${Cluster.defaultDatabaseUrl}).
Stop following with Ctrl-C: the workers go on, and the same command follows the batch again.`

/** How often the engine and the board are read. */
const pollEvery = "400 millis"

/** How long without any worker taking a ticket before saying how to start one. */
const noWorkerHint = 10_000

const program = Effect.gen(function*() {
  const args = yield* Cli.flags({
    data: { type: "string" },
    out: { type: "string" },
    batch: { type: "string" },
    prefix: { type: "string" },
    help: { type: "boolean", short: "h" }
  }, usage)
  if (args.help === true) return yield* Cli.say(help)
  const path = yield* Path.Path
  const dataDir = path.resolve(args.data ?? defaultDataDir)
  const outDir = path.resolve(args.out ?? Results.defaultOutDir)
  const prefix = yield* Cluster.prefix(args.prefix)
  if (args.batch !== undefined && !TriageWorkflow.isBatchName(args.batch)) {
    return yield* new Cli.ExampleError({
      message: `--batch must be letters, digits, ".", "_" and "-" (at most 64), got "${args.batch}"`
    })
  }
  const url = yield* Cluster.databaseUrl

  // everything the user can get wrong in the data is found before anything is submitted
  const tickets = yield* loadTickets(dataDir)
  const articles = yield* loadArticles(dataDir)
  const batch = args.batch ?? TriageWorkflow.defaultBatch(tickets)
  const Triage = TriageWorkflow.make(articles, Model.defaultModel)
  const runOf = (ticket: Ticket) => TriageWorkflow.runId(batch, ticket.id)
  const statusOf = (ticket: Ticket) => AgentWorkflow.status(Triage, runOf(ticket))

  const follow = Effect.gen(function*() {
    const board = yield* Board.Board
    const progress = Progress.stdout(tickets.map((ticket) => ticket.id))
    // the workers' model, as they report it
    let model: Model.Info | undefined
    const results = yield* Results.make({ outDir, runId: batch, model: () => model, tickets, rows: progress.rows })

    // a ticket whose run completed before is not run again: it shows as replayed, as npm start shows the
    // finished tickets of a run it resumes
    const before = yield* Effect.forEach(tickets, statusOf, { concurrency: 8 })
    const earlier = new Set(tickets.filter((_, i) => before[i]!._tag === "Completed").map((ticket) => ticket.id))
    const left = tickets.filter((ticket) => !earlier.has(ticket.id))
    yield* Effect.forEach(left, (ticket) => AgentWorkflow.start(Triage, runOf(ticket), ticket), {
      concurrency: 8,
      discard: true
    })
    yield* Cli.say(
      earlier.size > 0
        ? `Following batch ${batch}: ${earlier.size} of ${tickets.length} tickets already done (not run again); ` +
          `${left.length} with the workers.`
        : `Submitted batch ${batch}: ${Format.plural(tickets.length, "ticket")}, run by the workers ` +
          `(npm run triage:worker) on ${Cluster.shown(url)}, tables ${prefix}_*.`
    )
    yield* Cli.say(`Stop following with Ctrl-C: the workers go on, and the same command follows the batch again.`)
    yield* Cli.say()

    const outcomes = new Map<string, Run.Outcome>()
    const started = yield* Clock.currentTimeMillis
    let hinted = false
    const hints: Run.Hints = {
      resume: `; the tickets that finished are kept in batch ${batch}`,
      fresh: "submit the tickets in a new batch (--batch NAME)"
    }

    const poll = Effect.gen(function*() {
      // which runs completed, then the board (a run's last numbers are on it before the run completes)
      const pending = tickets.filter((ticket) => !outcomes.has(ticket.id))
      const statuses = yield* Effect.forEach(pending, statusOf, { concurrency: 8 })
      const entries = yield* board.batch(batch)
      for (const entry of entries) {
        model ??= { ...entry.model, banner: [] }
        if (!progress.rows.some((row) => row.id === entry.ticket)) continue
        const report = Board.reported(entry)
        // "replayed" in the summary: done before this command started; a ticket that completed since was run for it
        const live = earlier.has(entry.ticket) ? 0 : Math.max(report.live, 1)
        yield* progress.reported(entry.ticket, { ...report, live })
      }
      for (const [i, ticket] of pending.entries()) {
        const status = statuses[i]!
        if (status._tag !== "Completed") continue
        const outcome = yield* outcomeOf(ticket, status.exit, model, hints)
        // on disk first, then on screen: a ticket shown done is a ticket saved
        yield* results.record(outcome)
        outcomes.set(ticket.id, outcome)
        yield* Run.shown(progress, outcome)
      }
      const now = yield* Clock.currentTimeMillis
      if (!hinted && entries.length === 0 && outcomes.size === 0 && now - started > noWorkerHint) {
        hinted = true
        yield* Cli.say(
          `No worker has taken a ticket of batch ${batch} yet: start one with npm run triage:worker ` +
            `(with the same DATABASE_URL and --prefix).`
        )
      }
      return outcomes.size === tickets.length
    })

    yield* Effect.scoped(
      Effect.andThen(progress.live, Effect.repeat(poll, { until: (done) => done, schedule: Schedule.spaced(pollEvery) }))
    ).pipe(
      Effect.onInterrupt(() =>
        Cli.say(
          `\nStopped following batch ${batch}: ${outcomes.size} of ${tickets.length} tickets done. The workers go on; ` +
            `run the same command again to follow it (results so far: ${results.file}).`
        )
      )
    )
    yield* Results.report({
      results,
      rows: progress.rows,
      outcomes: tickets.flatMap((ticket) => outcomes.get(ticket.id) ?? []),
      again: `they stay failed in batch ${batch}: submit them in a new batch (--batch NAME) to triage them again`
    })
    yield* Cli.say(`Batch ${batch} complete.`)
  })

  yield* follow.pipe(
    Effect.provide(Board.layer({ prefix, worker: "submit" }).pipe(
      Layer.provideMerge(Cluster.client(prefix)),
      Layer.provide(Cluster.database(url))
    )),
    Effect.catchTags({
      SqlError: (error) => Effect.fail(Cluster.databaseError(url, `following batch ${batch}`)(error)),
      // the engine's calls (status, start) lost the database
      EngineUnavailable: (error) =>
        Effect.fail(
          new Cli.ExampleError({
            message: `Lost PostgreSQL at ${Cluster.shown(url)} while following batch ${batch} ` +
              `(${Cli.oneLine(error.detail, 160)}): is it running? Check DATABASE_URL; the workers go on, ` +
              `and the same command follows the batch again`
          })
        ),
      SchemaError: (error) =>
        Effect.fail(
          new Cli.ExampleError({
            message: `The progress table ${prefix}_progress holds a row this version cannot read ` +
              `(${Cli.oneLine(error.message, 160)}): use another --prefix`
          })
        )
    })
  )
}).pipe(Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer)))

/** What a ticket's completed run ended with. */
const outcomeOf = (
  ticket: Ticket,
  exit: Exit.Exit<Triage, unknown>,
  model: Model.Info | undefined,
  hints: Run.Hints
): Effect.Effect<Run.Outcome, Run.BatchError> => {
  if (Exit.isSuccess(exit)) return Effect.succeed({ _tag: "Done", ticket, triage: exit.value })
  const error = Cause.findErrorOption(exit.cause)
  if (Option.isNone(error)) {
    return Effect.fail(
      new Run.BatchError({
        message: `The run of ticket ${ticket.id} crashed in a worker: ${Cli.oneLine(String(Cause.squash(exit.cause)), 200)}`
      })
    )
  }
  // before any worker reported, a provider's error is explained without naming the server
  const info = model ?? { provider: "compatible", model: "?", baseURL: "the workers' model server", banner: [] }
  return Run.failed(ticket, error.value, info, hints)
}

Cli.runMain(program, (error) => error.message)
