/**
 * The durable batch. A batch is a run id (`triage-<date>-<time>-<random>`)
 * kept in `<state>/triage/current-run.json` until every ticket is done; each
 * ticket is its own durable run, `<run id>/<ticket id>`, journaled by
 * `Durable.run` in a `RunStore.layerFileSystem` under `<state>/triage/journal`.
 *
 * Stop the process at any point (Ctrl-C, a crash, `kill -9`) and start it
 * again: the batch in `current-run.json` is resumed. Finished tickets replay
 * their recorded model and tool results (no call is made again) and a ticket
 * that was half-way continues live from its first unrecorded step.
 *
 * What one ticket's run reports through and ends with (`reporting`,
 * `observeJournal`, `failed`, `shown`) is the same for the scaled-out
 * triage's workers (`workflow.ts`) and its submitter.
 */
import { Agent, AgentEvent, Budget, Durable, Harness, HarnessError, Journal, RetryPolicy, RunStore } from "@effect-harness/core"
import { OpenAiModels } from "@effect-harness/openai"
import { Effect, FileSystem, Option, Path, Schema } from "effect"
import { ExampleError, oneLine } from "../shared/cli.ts"
import type { Ticket } from "../shared/data.ts"
import * as Explain from "../shared/explain.ts"
import type { Info } from "../shared/model.ts"
import type { Triage } from "./agent.ts"
import type { Progress } from "./progress.ts"

const Manifest = Schema.Struct({
  runId: Schema.String,
  dataDir: Schema.String,
  startedAt: Schema.String,
  finishedAt: Schema.optional(Schema.String)
})

type Manifest = typeof Manifest.Type

const decodeManifest = Schema.decodeUnknownOption(Schema.fromJsonString(Manifest))

export interface Plan {
  readonly runId: string
  readonly resumed: boolean
  readonly startedAt: string
  /** Tickets whose durable run completed in an earlier process. */
  readonly done: ReadonlySet<string>
  /** Tickets with journal entries from an earlier process (done or half-way). */
  readonly started: ReadonlySet<string>
  readonly manifestPath: string
}

const newRunId = (now: Date) => {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15)
  return `triage-${stamp}-${globalThis.crypto.randomUUID().slice(0, 4)}`
}

const stateError = (what: string, path: string) => (error: { readonly message: string }) =>
  new ExampleError({ message: `Cannot ${what} ${path}: ${oneLine(error.message, 160)}; check the --state folder` })

/** The journal store of the batches. */
export const storeLayer = (stateDir: string) => RunStore.layerFileSystem({ directory: `${stateDir}/triage/journal` })

/**
 * Resumes the unfinished batch of the state folder, or starts a new one
 * (always a new one with `fresh`, or when the data folder changed).
 */
export const plan = Effect.fn("triage.plan")(function*(options: {
  readonly stateDir: string
  readonly dataDir: string
  readonly fresh: boolean
}) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const store = yield* RunStore.RunStore
  const dir = path.join(options.stateDir, "triage")
  const manifestPath = path.join(dir, "current-run.json")
  const existing = (yield* fs.exists(manifestPath).pipe(Effect.mapError(stateError("read", manifestPath))))
    ? decodeManifest(yield* fs.readFileString(manifestPath).pipe(Effect.mapError(stateError("read", manifestPath))))
    : Option.none<Manifest>()
  const resumable = Option.filter(existing, (m) => !options.fresh && m.finishedAt === undefined && m.dataDir === options.dataDir)
  if (Option.isSome(resumable)) {
    const runs = yield* store.list
    const prefix = `${resumable.value.runId}/`
    const mine = runs.filter((run) => run.runId.startsWith(prefix))
    return {
      runId: resumable.value.runId,
      resumed: true,
      startedAt: resumable.value.startedAt,
      done: new Set(mine.filter((run) => run.status === "completed").map((run) => run.runId.slice(prefix.length))),
      started: new Set(mine.map((run) => run.runId.slice(prefix.length))),
      manifestPath
    } satisfies Plan
  }
  const now = new Date()
  const manifest: Manifest = { runId: newRunId(now), dataDir: options.dataDir, startedAt: now.toISOString() }
  yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(stateError("create", dir)))
  yield* writeAtomic(fs, manifestPath, JSON.stringify(manifest, null, 2))
  return {
    runId: manifest.runId,
    resumed: false,
    startedAt: manifest.startedAt,
    done: new Set<string>(),
    started: new Set<string>(),
    manifestPath
  } satisfies Plan
})

/** Writes a file whole or not at all (a kill mid-write leaves the old one). */
export const writeAtomic = (fs: FileSystem.FileSystem, file: string, content: string) => {
  const tmp = `${file}.${process.pid}.tmp`
  return fs.writeFileString(tmp, content).pipe(
    Effect.andThen(fs.rename(tmp, file)),
    Effect.mapError(stateError("write", file))
  )
}

/** Marks the batch finished: the next start begins a new one. */
export const finish = Effect.fnUntraced(function*(plan: Plan, dataDir: string) {
  const fs = yield* FileSystem.FileSystem
  yield* writeAtomic(
    fs,
    plan.manifestPath,
    JSON.stringify({ runId: plan.runId, dataDir, startedAt: plan.startedAt, finishedAt: new Date().toISOString() }, null, 2)
  )
})

// -----------------------------------------------------------------------------
// One ticket
// -----------------------------------------------------------------------------

/** What one ticket ended with. */
export type Outcome =
  | { readonly _tag: "Done"; readonly ticket: Ticket; readonly triage: Triage }
  | { readonly _tag: "Failed"; readonly ticket: Ticket; readonly error: string }

/**
 * Errors that concern one ticket: the model could not produce a valid
 * triage for it. The others (credentials, an unreachable server, a broken
 * journal) would fail every ticket alike, so they stop the batch.
 */
const ticketLevel = (error: unknown): string | undefined => {
  if (typeof error !== "object" || error === null || !("_tag" in error)) return undefined
  const e = error as Agent.AgentError
  switch (e._tag) {
    case "InvalidOutput":
      return `no valid answer after the repairs: ${oneLine(e.issues, 120)}`
    case "OutputTruncated":
      return `the answer was cut at the model's output token limit after the repairs`
    case "BudgetExceeded":
      return e.message
    case "ContentRefused":
      return `the model refused: ${oneLine(e.refusal ?? e.message, 120)}`
    case "Paused":
      return e.message
    case "RetriesExhausted":
      return e.last._tag === "InvalidOutput" || e.last._tag === "OutputTruncated" || e.last._tag === "ContextOverflow"
        ? oneLine(e.message, 160)
        : undefined
    default:
      return undefined
  }
}

/** A batch-level failure, explained in one line that says the finished work is kept. */
export class BatchError extends Schema.TaggedError<BatchError>()("BatchError", { message: Schema.String }) {}

const explainBatch = (error: unknown, info: Info, hints: Hints): string => {
  if (HarnessError.isFatal(error)) return Explain.harnessError(error, info, hints.resume)
  if (error instanceof Journal.JournalError || error instanceof Journal.JournalMismatch) {
    return Explain.journalError(error, hints.fresh)
  }
  return `${oneLine(String((error as { message?: unknown })?.message ?? error), 200)}${hints.resume}`
}

/**
 * What to tell the user when a failure stops the batch: `resume` ends the
 * explanation where running again helps, `fresh` says how to start over.
 */
export interface Hints {
  readonly resume: string
  readonly fresh: string
}

/**
 * The outcome of a ticket whose run failed: the ticket's own failure (the
 * model could not produce a valid triage for it), or a `BatchError` when the
 * failure would stop every ticket alike.
 */
export const failed = (ticket: Ticket, error: unknown, info: Info, hints: Hints): Effect.Effect<Outcome, BatchError> => {
  const reason = ticketLevel(error)
  return reason === undefined
    ? Effect.fail(new BatchError({ message: explainBatch(error, info, hints) }))
    : Effect.succeed({ _tag: "Failed", ticket, error: reason })
}

/** Counts the journal steps that run now, telling them from replayed ones (inside the run's journal). */
export const observeJournal = (id: string, progress: Progress) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.service(Journal.Journal), (journal) =>
    Effect.provideService(self, Journal.Journal, {
      durable: journal.durable,
      step: (step, codec, run) => {
        let live = false
        return journal.step(step, codec, Effect.tap(run, () => Effect.sync(() => void (live = true)))).pipe(
          Effect.tap((value) =>
            progress.journaled(id, step.kind, live, step.kind === "model" ? (value as { text?: string }).text : undefined)
          )
        )
      }
    }))

/**
 * What the run of one ticket spends from and reports to: a budget of its own
 * (for cost, and a ceiling against runaway loops), its events and retries to
 * the progress.
 */
export const reporting = (id: string, progress: Progress, info: Info) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(
    Budget.provide({ pricing: OpenAiModels.pricing, model: info.model, limits: { totalTokens: 100_000 } }),
    Effect.provideService(AgentEvent.Sink, (event) => progress.event(id, event)),
    Effect.provideService(RetryPolicy.OnRetry, (retry) => progress.retry(id, retry))
  )

/**
 * The harness of one ticket: the agent, inside a budget (for cost, and a
 * ceiling against runaway loops), reporting to the progress, as the durable
 * run `<run id>/<ticket id>`.
 */
export const ticketHarness = <R>(options: {
  readonly agent: Agent.Agent<Ticket, Triage, R>
  readonly plan: Plan
  readonly info: Info
  readonly progress: Progress
  readonly onOutcome: (outcome: Outcome) => Effect.Effect<void, ExampleError>
}) =>
  Harness.make("triage-ticket", (ticket: Ticket) => {
    const { agent, info, plan, progress } = options
    const id = ticket.id
    return Effect.gen(function*() {
      yield* progress.started(id, plan.started.has(id))
      const triage = yield* agent.run(ticket).pipe(
        observeJournal(id, progress),
        Durable.run(`${plan.runId}/${id}`),
        reporting(id, progress, info)
      )
      return { _tag: "Done", ticket, triage } as Outcome
    }).pipe(
      Effect.catch((error) =>
        failed(ticket, error, info, {
          resume: `; finished tickets are kept: run again to resume run ${plan.runId}`,
          fresh: "start a new run with --fresh"
        })
      ),
      // on disk first, then on screen: a ticket shown done is a ticket saved
      Effect.tap(options.onOutcome),
      Effect.tap((outcome) => shown(progress, outcome))
    )
  })

/** Shows a ticket's outcome in the progress. */
export const shown = (progress: Progress, outcome: Outcome) =>
  outcome._tag === "Done"
    ? progress.done(outcome.ticket.id, `${outcome.triage.category}/${outcome.triage.priority}`)
    : progress.failed(outcome.ticket.id, outcome.error)
