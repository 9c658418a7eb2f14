/**
 * An agent called as a tool: the handler runs the sub-agent in the caller's
 * context, so it spends from the caller's `Budget` and asks the caller's
 * `Approval`, with three changes: its own history (the caller's
 * `Conversation` is left out), its journal steps named under the call
 * (`<tool>[<call id>]/<step name>`, so they cannot collide with the caller's
 * or another call's), and its events wrapped in `SubAgent` events.
 *
 * A sub-agent's fatal error ends the caller's run ({@link Loop.EndRun});
 * `InvalidOutput`, `ContextOverflow` and a pause are a failed result the
 * caller's model reads.
 *
 * @internal
 */
import { Context, Effect, Schema } from "effect"
import * as Journal from "../../durable/Journal.ts"
import * as Conversation from "../../state/Conversation.ts"
import * as AgentEvent from "../AgentEvent.ts"
import type * as Loop from "./loop.ts"
import { EndRun } from "./loop.ts"

/**
 * What the caller's model reads when a sub-agent failed without ending the
 * run: which agent, its error's tag and message.
 */
export const SubAgentFailed = Schema.Struct({
  agent: Schema.String,
  error: Schema.String,
  message: Schema.String
})

export type SubAgentFailed = typeof SubAgentFailed.Type

const failed = (agent: string, error: Loop.AgentError): SubAgentFailed | undefined => {
  switch (error._tag) {
    case "InvalidOutput":
    case "ContextOverflow":
      return { agent, error: error._tag, message: error.message }
    case "Paused":
      return {
        agent,
        error: error._tag,
        message: `${agent} needs approval for ${error.pending.map((call) => call.name).join(", ")}, ` +
          `and nobody can approve it here`
      }
    default:
      return undefined
  }
}

/** A journal whose step names are under `prefix`. */
const namespaced = (journal: Journal.Service, prefix: string): Journal.Service => ({
  durable: journal.durable,
  step: (step, codec, run) => journal.step({ ...step, name: `${prefix}/${step.name}` }, codec, run)
})

// The caller's context, as the sub-agent sees it.
const nested = (context: Context.Context<never>, tool: string, id: string): Context.Context<never> => {
  let next = Context.omit(Conversation.Conversation)(context) as Context.Context<never>
  const journal = Context.get(context, Journal.Journal)
  if (journal !== Journal.passthrough) next = Context.add(next, Journal.Journal, namespaced(journal, `${tool}[${id}]`))
  const sink = Context.get(context, AgentEvent.Sink)
  if (sink !== undefined) {
    next = Context.add(next, AgentEvent.Sink, (event) => sink(AgentEvent.SubAgent({ tool, id, event })))
  }
  return next
}

/** The handler of a sub-agent's tool. */
export const handler = <In, Out, R, P>(
  agent: string,
  tool: string,
  run: (input: In) => Effect.Effect<Out, Loop.AgentError, R>,
  input: (params: P) => In
) =>
(params: P, context: { readonly toolCallId?: string | undefined }): Effect.Effect<Out, SubAgentFailed, R> =>
  Effect.suspend(() => run(input(params))).pipe(
    Effect.catch((error) => {
      const failure = failed(agent, error)
      return failure === undefined ? Effect.die(new EndRun({ error })) : Effect.fail(failure)
    }),
    Effect.updateContext((caller: Context.Context<R>) =>
      nested(caller as Context.Context<never>, tool, context.toolCallId ?? "call") as Context.Context<R>
    )
  )
