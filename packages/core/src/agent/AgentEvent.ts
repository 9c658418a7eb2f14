/**
 * What an agent run reports as it goes: steps started and finished, the
 * model's words and tool-call arguments as they stream in, tool calls and
 * their results, approvals asked for, retries scheduled (with their delay)
 * and streams restarted, context trimmed or compacted, and the usage so far.
 *
 * Events go to the {@link Sink} of the context (none by default: a run
 * without a listener builds no events, and sends its requests unstreamed).
 * With a listener, each model call streams: `TextDelta` and `ToolCallDelta`
 * events arrive in order between the step's `StepStarted` and its
 * `StepFinished`, and concatenated they are the step's text and arguments. A
 * step retried after some of them went out is announced by
 * `StreamRestarted`: what the step streamed so far is void, and the retried
 * call streams again from its first word. {@link stream} runs any effect and
 * turns the events of the agents inside it into a `Stream`.
 *
 * @example
 * ```ts
 * import { AgentEvent } from "@effect-harness/core"
 * import { Effect, Stream } from "effect"
 *
 * declare const run: Effect.Effect<string>
 *
 * const log = AgentEvent.stream(run).pipe(
 *   Stream.runForEach((event) => Effect.log(event._tag))
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Context, Data, type Duration, Effect, Queue, Stream } from "effect"
import type * as Budget from "../state/Budget.ts"
import type * as HarnessError from "../harness/HarnessError.ts"
import * as RetryPolicy from "../harness/RetryPolicy.ts"
import type * as DirectModel from "../model/DirectModel.ts"

/**
 * A tool call waiting for the caller's decision.
 *
 * @since 0.1.0
 */
export type PendingCall = DirectModel.ToolCall

/**
 * The events of an agent run. `step` counts model calls from 1.
 *
 * @since 0.1.0
 */
export type AgentEvent = Data.TaggedEnum<{
  StepStarted: { readonly agent: string; readonly step: number }
  /** A piece of the step's answer text, as the model writes it (streamed runs only). */
  TextDelta: { readonly agent: string; readonly step: number; readonly delta: string }
  /**
   * A piece of a tool call's JSON arguments, as the model writes them (streamed
   * runs, providers that stream arguments). `ToolCalled` follows with the parsed
   * arguments once the step ends.
   */
  ToolCallDelta: { readonly agent: string; readonly step: number; readonly id: string; readonly name: string; readonly delta: string }
  /**
   * The step's model call failed after some of its deltas went out and is
   * called again: every `TextDelta` and `ToolCallDelta` of this step so far is
   * void (`discarded` is the text they made), and the new call streams from
   * its start. A `RetryScheduled` event tells the error and the delay.
   */
  StreamRestarted: { readonly agent: string; readonly step: number; readonly discarded: string }
  StepFinished: {
    readonly agent: string
    readonly step: number
    /** A tool call of the step failed (bad arguments, unknown tool, handler error or defect). */
    readonly failed: boolean
    readonly toolCalls: number
    readonly finishReason: string
    readonly inputTokens: number | undefined
    readonly outputTokens: number | undefined
  }
  ToolCalled: { readonly agent: string; readonly step: number; readonly id: string; readonly name: string; readonly params: unknown }
  ToolReturned: {
    readonly agent: string
    readonly step: number
    readonly id: string
    readonly name: string
    readonly isFailure: boolean
    /** The result as the model sees it (encoded). */
    readonly result: unknown
  }
  ApprovalRequested: { readonly agent: string; readonly step: number; readonly pending: ReadonlyArray<PendingCall> }
  RetryScheduled: {
    readonly harness: string
    readonly attempt: number
    readonly delay: Duration.Duration
    readonly error: HarnessError.Recoverable
  }
  ContextTrimmed: {
    readonly agent: string
    readonly step: number
    readonly strategy: "truncate" | "compact"
    /** History messages left out of the request (truncate) or folded into the summary (compact). */
    readonly messages: number
    readonly tokensBefore: number
    readonly tokensAfter: number
  }
  UsageUpdated: { readonly agent: string; readonly step: number; readonly usage: Budget.Usage }
  Finished: { readonly agent: string; readonly steps: number; readonly usage: Budget.Usage; readonly output: unknown }
  /**
   * An event of a sub-agent (`Agent.asTool`) the run called: `tool` and `id`
   * are the tool and the call (its `ToolCalled` event has that `id`), `event`
   * the sub-agent's own event (itself a `SubAgent` event for a sub-agent of
   * the sub-agent).
   */
  SubAgent: { readonly tool: string; readonly id: string; readonly event: AgentEvent }
}>

/**
 * Constructors and matchers of the events.
 *
 * @since 0.1.0
 */
export const {
  $is,
  $match,
  ApprovalRequested,
  ContextTrimmed,
  Finished,
  RetryScheduled,
  StepFinished,
  StepStarted,
  StreamRestarted,
  SubAgent,
  TextDelta,
  ToolCallDelta,
  ToolCalled,
  ToolReturned,
  UsageUpdated
} = Data.taggedEnum<AgentEvent>()

/**
 * Where events go; `undefined` (the default) means nobody listens.
 *
 * @since 0.1.0
 */
export const Sink = Context.Reference<((event: AgentEvent) => Effect.Effect<void>) | undefined>(
  "@effect-harness/core/AgentEvent/Sink",
  { defaultValue: () => undefined }
)

/**
 * Runs an effect and streams the events of the agent runs inside it (retries
 * scheduled by `Harness.retry` and by agents included). The stream ends when
 * the effect completes, and fails with its error.
 *
 * @since 0.1.0
 */
export const stream = <A, E, R>(self: Effect.Effect<A, E, R>): Stream.Stream<AgentEvent, E, R> =>
  Stream.callback<AgentEvent, E, R>((queue) =>
    Effect.gen(function*() {
      const onRetry = yield* RetryPolicy.OnRetry
      const emit = (event: AgentEvent) => Effect.sync(() => Queue.offerUnsafe(queue, event))
      yield* self.pipe(
        Effect.provideService(Sink, emit),
        Effect.provideService(RetryPolicy.OnRetry, (retry) =>
          Effect.andThen(
            onRetry(retry),
            emit(RetryScheduled({
              harness: retry.harness,
              attempt: retry.attempt,
              delay: retry.delay,
              error: retry.error
            }))
          ))
      )
      yield* Queue.end(queue)
    })
  )
