/**
 * A model call of a run whose events are consumed: the request goes through
 * the model's stream, each text and tool-argument delta becomes an event as
 * it arrives, and the parts fold into the same `DirectModel.Reply` that the
 * unstreamed call gives (text, tool calls, finish reason, usage, model id,
 * the provider's structured answer), so the loop, the journal and the result
 * do not know which way the step went.
 *
 * A call that fails after some of its deltas went out leaves them shown: the
 * next attempt of the same step first says `StreamRestarted` (so a consumer
 * drops them, never showing the words twice), and the failed attempt's
 * output is counted as estimated usage (a broken stream reports none).
 *
 * @internal
 */
import { Effect, Stream } from "effect"
import type { AiError } from "effect/ai"
import type * as DirectModel from "../../model/DirectModel.ts"
import * as AgentEvent from "../AgentEvent.ts"

/** What the current step streamed so far, across its attempts (one per run). */
export interface Shown {
  step: number
  /** Text deltas of the current attempt. */
  text: string
  /** Characters of text and argument deltas of the current attempt. */
  chars: number
}

export const makeShown = (): Shown => ({ step: 0, text: "", chars: 0 })

/** About four characters a token, as `ContextWindow.approximateTokenizer` counts. */
export const estimatedTokens = (chars: number): number => Math.ceil(chars / 4)

/**
 * Streams one call of step `step`. `onBroken` is told the characters shown by
 * an attempt that failed after showing some (to count them as usage).
 */
export const streamedCall = (
  model: DirectModel.Resolved,
  request: DirectModel.Request,
  sink: (event: AgentEvent.AgentEvent) => Effect.Effect<void>,
  agent: string,
  step: number,
  shown: Shown,
  onBroken: (chars: number) => Effect.Effect<void>
): Effect.Effect<DirectModel.Reply, AiError.AiError> =>
  Effect.suspend(() => {
    // a new attempt of a step that already showed words: they are void
    const restarted = shown.step === step && shown.chars > 0
      ? sink(AgentEvent.StreamRestarted({ agent, step, discarded: shown.text }))
      : undefined
    shown.step = step
    shown.text = ""
    shown.chars = 0
    let text = ""
    const toolCalls: Array<DirectModel.ToolCall> = []
    let finish: DirectModel.FinishPart | undefined
    const events: Array<AgentEvent.AgentEvent> = []
    const onParts = (parts: ReadonlyArray<DirectModel.StreamPart>): Effect.Effect<void> => {
      for (const part of parts) {
        switch (part.type) {
          case "text-delta":
            text += part.delta
            shown.text += part.delta
            shown.chars += part.delta.length
            events.push(AgentEvent.TextDelta({ agent, step, delta: part.delta }))
            break
          case "tool-params-delta":
            shown.chars += part.delta.length
            events.push(AgentEvent.ToolCallDelta({ agent, step, id: part.id, name: part.name, delta: part.delta }))
            break
          case "tool-call":
            toolCalls.push({ id: part.id, name: part.name, params: part.params })
            break
          case "finish":
            finish = part
            break
        }
      }
      if (events.length === 0) return Effect.void
      // one pull carries every part that arrived: its events go out in order
      const out = events.splice(0)
      return out.length === 1 ? sink(out[0]!) : Effect.forEach(out, sink, { discard: true })
    }
    const call = Stream.runForEachArray(model.stream(request), onParts).pipe(
      Effect.map((): DirectModel.Reply => ({
        text,
        toolCalls,
        finishReason: finish?.finishReason ?? "unknown",
        usage: finish?.usage ?? { inputTokens: undefined, outputTokens: undefined },
        model: finish?.model,
        ...(finish?.structured === undefined ? {} : { structured: finish.structured })
      })),
      Effect.catch((error) => shown.chars > 0 ? Effect.andThen(onBroken(shown.chars), Effect.fail(error)) : Effect.fail(error))
    )
    return restarted === undefined ? call : Effect.andThen(restarted, call)
  })
