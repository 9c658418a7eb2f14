/**
 * The Effect side of the HTTP server: the application layer (model,
 * knowledge base, tools, the triage harness) that a `ManagedRuntime` builds
 * once, and the effect that triages one ticket. The HTTP side (`main.ts`) is
 * ordinary promise-based Node code and sees none of this but
 * `runtime.runPromiseExit(triage(ticket, options))`.
 */
import { type Agent, Budget, Harness, type Journal, RetryPolicy, RunEvents, RunStore } from "@effect-harness/core"
import { type OpenAiClient, OpenAiModels } from "@effect-harness/openai"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { Context, Effect, Layer } from "effect"
import type { ExampleError } from "../shared/cli.ts"
import type { Ticket } from "../shared/data.ts"
import { loadArticles } from "../shared/data.ts"
import { KnowledgeBase } from "../shared/kbTools.ts"
import * as Model from "../shared/model.ts"
import * as TriageAgent from "../triage/agent.ts"
import * as Script from "../triage/script.ts"
import { TicketBook, type TriageTools, TriageToolsLive } from "../triage/tools.ts"
import type { TriageError } from "./httpErrors.ts"

type Services = Agent.Services<typeof TriageTools.tools>

/** The triage harness of the server. */
export class TriageHarness extends Context.Service<
  TriageHarness,
  Harness.Harness<Ticket, TriageAgent.Triage, TriageError, Services>
>()("@effect-harness/examples/server/TriageHarness") {}

// A request holds a connection open: retries stay short (about 2 s in all),
// so that the client gets an answer instead of a hanging request.
const policy = RetryPolicy.make({ maxAttempts: 3, base: "300 millis", maxDelay: "2 seconds", maxElapsed: "10 seconds" })

const triageHarness = Layer.effect(
  TriageHarness,
  Effect.gen(function*() {
    const { articles } = yield* KnowledgeBase
    const info = yield* Model.ModelInfo
    // the agent is a harness: a time limit composes like on any other
    return TriageAgent.make(articles, info.model, policy).pipe(Harness.timeout("60 seconds"))
  })
)

/**
 * Everything requests share, built once when the server starts: the model
 * (scripted, or a real one from the environment), the knowledge base read
 * from `dataDir`, the tools' handlers and the triage harness.
 */
export const layer = (dataDir: string, runsDir: string): Layer.Layer<
  Exclude<Services, TicketBook> | TriageHarness | KnowledgeBase | Model.ModelInfo | RunStore.RunStore,
  ExampleError | OpenAiClient.OpenAiClientError | Journal.JournalError
> => {
  const kb = Layer.effect(KnowledgeBase, Effect.map(loadArticles(dataDir), (articles) => ({ articles }))).pipe(
    Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
  )
  const model = Model.layer({ script: Script.make(), command: "npm run server -w packages/examples" })
  // the journals of the streamed runs (POST /triage with Accept: text/event-stream)
  const runs = RunStore.layerFileSystem({ directory: runsDir }).pipe(Layer.provide(NodeFileSystem.layer))
  return Layer.mergeAll(TriageToolsLive, triageHarness, runs).pipe(Layer.provideMerge(Layer.merge(kb, model)))
}

/**
 * Triages one ticket, within a budget of `maxTokens` tokens. The ticket is
 * the request's own: the `draft_reply` tool finds it in a `TicketBook`
 * provided for this request only.
 */
export const triage = (ticket: Ticket, options: { readonly maxTokens: number }) =>
  Effect.gen(function*() {
    const harness = yield* TriageHarness
    return yield* Harness.run(harness, ticket).pipe(
      Budget.provide({ limits: { totalTokens: options.maxTokens }, pricing: OpenAiModels.pricing }),
      Effect.provideService(TicketBook, new Map([[ticket.id, ticket]]))
    )
  })

/**
 * Triages one ticket as the durable run `runId`, publishing its events to
 * the readers of this process (`RunEvents.stream`): what `POST /triage`
 * streams as server-sent events and `GET /runs/:id/events` resumes.
 */
export const triageRun = (ticket: Ticket, options: { readonly maxTokens: number }, runId: string) =>
  triage(ticket, options).pipe(RunEvents.run(runId))
