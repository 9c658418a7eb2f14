/**
 * `Harness.streamText`: one streamed model call, its parts handed over as the
 * provider built them (`DirectModel.StreamPart`), its failures as the
 * harness's errors.
 *
 * @internal
 */
import { Array as Arr, Cause, Effect, type Pull, Stream } from "effect"
import { type AiError, type LanguageModel, Prompt, type Tool } from "effect/ai"
import * as Budget from "../../state/Budget.ts"
import * as DirectModel from "../../model/DirectModel.ts"
import * as HarnessError from "../HarnessError.ts"
import * as Messages from "../../model/Messages.ts"
import type { PromptError } from "./prompt.ts"
import { isTraced } from "./tracing.ts"

/**
 * Options of `Harness.streamText`.
 *
 * @since 0.1.0
 */
export interface StreamTextOptions {
  /** What to ask: a string is one user message; messages or a `Prompt` are sent as they are. */
  readonly prompt: Prompt.RawInput
  /** The system message, put in front of the prompt (named as `Agent.make`'s). */
  readonly instructions?: string | undefined
  /**
   * Tools the model may call. Their calls come back as complete `tool-call`
   * parts, with parsed but unvalidated arguments; they are not run.
   */
  readonly tools?: ReadonlyArray<Tool.Any> | undefined
  /** Default `"auto"` with tools, `"none"` without. */
  readonly toolChoice?: LanguageModel.ToolChoice<string> | undefined
}

const textFormat: DirectModel.ResponseFormat = { type: "text" }

const mapError = (error: AiError.AiError | Cause.Done): PromptError | Cause.Done =>
  Cause.isDone(error) ? error : HarnessError.fromAiError(error) as PromptError

/**
 * Streams one model answer: text, reasoning and tool-argument deltas as they arrive,
 * complete tool calls, then a `finish` part with the finish reason and the
 * usage. It goes through the provider's `DirectModel.stream` when it has one
 * (the OpenAI provider and `TestModel` do: no Schema decoding of the parts,
 * and one pull carries every part that has arrived), otherwise through
 * effect's `LanguageModel.streamText`.
 *
 * Failures are the harness's errors, mapped as for `Harness.prompt`: a stream
 * cut mid-way fails with `ConnectionFailed` carrying the text and tool calls
 * received, a `content-filter` finish with `ContentRefused`. Interrupting the
 * stream (or stopping early) aborts the HTTP request. With a `Budget` in the
 * context, the call counts as a step and its usage is recorded; with a tracer
 * installed, the stream runs in a `Harness.streamText` span.
 *
 * @example
 * ```ts
 * import { Harness } from "@effect-harness/core"
 * import { Console, Effect, Stream } from "effect"
 *
 * const program = Harness.streamText({ prompt: "Tell me about Paris", instructions: "Be brief." }).pipe(
 *   Stream.runForEach((part) => part.type === "text-delta" ? Console.log(part.delta) : Effect.void)
 * )
 * ```
 *
 * @since 0.1.0
 */
export const streamText = (
  options: StreamTextOptions
): Stream.Stream<DirectModel.StreamPart, PromptError, LanguageModel.LanguageModel> => {
  const rendered = Messages.toPrompt(options.prompt)
  const tools = options.tools ?? []
  const request: DirectModel.Request = {
    prompt: options.instructions === undefined ? rendered : Prompt.setSystem(rendered, options.instructions),
    tools,
    toolChoice: options.toolChoice ?? (tools.length > 0 ? "auto" : "none"),
    responseFormat: textFormat
  }
  return Stream.unwrap(Effect.withFiber((fiber) => {
    const parts = DirectModel.fromContext(fiber.context).stream(request)
    const budget = fiber.getRef(Budget.Budget)
    // One step over each pull (never each part): errors mapped, and the
    // finish part checked and recorded. A filtered answer fails in its
    // place, after the parts that came with it.
    const stream = Stream.transformPull(parts, (pull) =>
      Effect.sync(() => {
        let text = ""
        let refused: HarnessError.ContentRefused | undefined
        const onParts = (
          parts: Arr.NonEmptyReadonlyArray<DirectModel.StreamPart>
        ): Pull.Pull<Arr.NonEmptyReadonlyArray<DirectModel.StreamPart>, PromptError> => {
          let finish: DirectModel.FinishPart | undefined
          for (const part of parts) {
            if (part.type === "text-delta") text += part.delta
            else if (part.type === "finish") finish = part
          }
          if (finish === undefined) return Effect.succeed(parts)
          if (finish.finishReason === "content-filter") {
            refused = new HarnessError.ContentRefused({ message: "The model's answer was filtered or refused", refusal: text })
            const before = parts.filter((part) => part !== finish)
            return Arr.isArrayNonEmpty(before) ? Effect.succeed(before) : Effect.fail(refused)
          }
          return budget.active
            ? Effect.as(budget.record(finish.usage, finish.model, { step: true }), parts)
            : Effect.succeed(parts)
        }
        const next = Effect.flatMap(Effect.mapError(pull, mapError), onParts)
        return Effect.suspend(() => refused === undefined ? next : Effect.fail(refused))
      }))
    // a span only when a tracer is installed, as for Harness.prompt (see internal/tracing.ts)
    return Effect.succeed(isTraced(fiber.context) ? Stream.withSpan(stream, spanName, spanOptions) : stream)
  }))
}

const spanName = "Harness.streamText"
const spanOptions = { attributes: { "gen_ai.operation.name": "chat" }, captureStackTrace: false } as const
