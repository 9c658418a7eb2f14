/**
 * The triage agent as an `AgentWorkflow`: what `npm run triage:worker` runs
 * and `npm run triage:submit` submits. Each ticket of a batch is the run
 * `<batch>/<ticket id>`, its model and tool calls activities of effect's
 * workflow engine, so a run whose worker dies goes on on another worker, and
 * submitting the batch again does not run a finished ticket again.
 *
 * In a worker, each run reports as `npm start`'s tickets do (the same
 * progress, budget and journal observer, from `run.ts`), printed in the
 * worker's log and kept on the {@link Board} for the submitter.
 */
import type { Agent as CoreAgent } from "@effect-harness/core"
import { AgentWorkflow } from "@effect-harness/workflow"
import { Effect, Option } from "effect"
import { createHash } from "node:crypto"
import { type Article, Ticket } from "../shared/data.ts"
import * as Model from "../shared/model.ts"
import * as Agent from "./agent.ts"
import { Board } from "./board.ts"
import { Progress } from "./progress.ts"
import * as Run from "./run.ts"
import { TicketBook } from "./tools.ts"

/** The run of a ticket in a batch. */
export const runId = (batch: string, ticketId: string): string => `${batch}/${ticketId}`

/** The batch of a run (ticket ids hold no `/`). */
const batchOf = (runId: string): string => runId.slice(0, runId.lastIndexOf("/"))

/**
 * The batch name when none is given: the same for the same tickets, so that
 * submitting them again follows the batch instead of triaging them anew.
 */
export const defaultBatch = (tickets: ReadonlyArray<Ticket>): string =>
  `triage-${createHash("sha256").update(JSON.stringify(tickets)).digest("hex").slice(0, 10)}`

/** A batch name: letters, digits, `.`, `_` and `-`. */
export const isBatchName = (name: string): boolean => /^[A-Za-z0-9._-]{1,64}$/.test(name)

/**
 * One run in a worker: the ticket's progress printed in the worker's log and
 * followed on the board, its budget, retries and journal steps counted as
 * `npm start` counts them, and the `TicketBook` of `draft_reply` holding the
 * run's ticket. A run another worker started is resumed: its journal steps
 * replay, and the retries the board has for it are kept (they are not in the
 * journal).
 */
const reported = <R>(run: Effect.Effect<Agent.Triage, CoreAgent.AgentError, R>, runId: string, ticket: Ticket) =>
  Effect.gen(function*() {
    const board = yield* Board
    const info = yield* Model.ModelInfo
    const id = ticket.id
    const progress = new Progress([id], { tty: false, write: (text) => void process.stdout.write(text) })
    const before = yield* board.read(runId).pipe(Effect.orElseSucceed(() => Option.none()))
    if (Option.isSome(before)) progress.rows[0]!.retries = before.value.row.retries
    yield* progress.started(id, Option.isSome(before))
    // on the board before it is said in the log: a run said started is one the next worker finds started
    yield* board.follow({ runId, batch: batchOf(runId), ticket: id, info }, progress.rows[0]!)
    yield* progress.note(id, Option.isSome(before) ? `resumed  (${before.value.worker} had it)` : `started  (${runId})`)
    return yield* run.pipe(
      Run.observeJournal(id, progress),
      Run.reporting(id, progress, info),
      Effect.provideService(TicketBook, new Map([[id, ticket]])),
      Effect.tap((triage) => Run.shown(progress, { _tag: "Done", ticket, triage })),
      Effect.tapError((error) =>
        Run.failed(ticket, error, info, { resume: "", fresh: "submit the ticket in a new batch" }).pipe(
          Effect.flatMap((outcome) => Run.shown(progress, outcome)),
          Effect.catch((batchError) => progress.failed(id, batchError.message))
        )
      )
    )
  }).pipe(Effect.scoped)

/**
 * The triage workflow for a knowledge base. `model` labels the agent's spans
 * and prices its calls in a worker; a submitter never runs the agent, only
 * the workflow's name and Schemas matter there.
 */
export const make = (articles: ReadonlyArray<Article>, model: string) =>
  AgentWorkflow.make(Agent.make(articles, model), {
    input: Ticket,
    output: Agent.triageSchema(articles.map((article) => article.id)),
    around: (run, { input, runId }) => reported(run, runId, input)
  })
