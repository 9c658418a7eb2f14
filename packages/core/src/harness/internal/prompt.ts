/**
 * `Harness.prompt`: one model call with Schema-validated output and repair by
 * re-prompting with the validation issues.
 *
 * @internal
 */
import { Context, Effect, Schema, SchemaAST } from "effect"
import { LanguageModel, Prompt } from "effect/ai"
import * as Budget from "../../state/Budget.ts"
import * as DirectModel from "../../model/DirectModel.ts"
import * as Answer from "./answer.ts"
import { type Harness, make } from "./harness.ts"
import * as Tracing from "./tracing.ts"
import * as HarnessError from "../HarnessError.ts"
import * as Messages from "../../model/Messages.ts"

/**
 * The errors a single model call can fail with: every `HarnessError` except
 * those that only runs of many calls produce (`BudgetExceeded`,
 * `RetriesExhausted`).
 *
 * @since 0.1.0
 */
export type PromptError = Exclude<HarnessError.HarnessError, HarnessError.BudgetExceeded | HarnessError.RetriesExhausted>

/**
 * Options of `Harness.prompt`.
 *
 * @since 0.1.0
 */
export interface PromptOptions<I, O, IE, RI, RO> {
  /** The harness's name, used in spans, events and errors. */
  readonly name: string
  /**
   * A Schema that decodes (normalizes) the input before rendering. An input
   * it rejects fails with the fatal `InvalidRequest`.
   */
  readonly input?: Schema.Codec<I, IE, RI> | undefined
  /**
   * The Schema of the answer. A string Schema asks for plain text; any other
   * Schema asks for JSON (with the provider's structured-output support) and
   * decodes it.
   */
  readonly output: Schema.Codec<O, any, RO>
  /** Renders the (decoded) input into a prompt: a string is one user message. */
  readonly render: (input: I) => Prompt.RawInput
  /** The system message, put in front of the rendered prompt (named as `Agent.make`'s). */
  readonly instructions?: string | undefined
  /**
   * How many times an invalid answer, or one cut at the output token limit,
   * is sent back for repair. Default 2.
   */
  readonly repairs?: number | undefined
  /**
   * Whether an answer cut at the output token limit (finish reason
   * `"length"`) is taken as it is. Default `false`: it is sent back with a
   * request for a shorter answer, and once the repairs are spent the call
   * fails with the recoverable `OutputTruncated`, keeping the partial text.
   */
  readonly allowTruncated?: boolean | undefined
  /** The name of the structured output, for providers that use one. Default: the harness's name. */
  readonly objectName?: string | undefined
}

const isTextSchema = (schema: Schema.Top): boolean => {
  const encoded = SchemaAST.toEncoded(schema.ast)
  if (SchemaAST.isString(encoded)) return true
  if (SchemaAST.isLiteral(encoded)) return typeof encoded.literal === "string"
  if (SchemaAST.isUnion(encoded)) {
    return encoded.types.every((member) => SchemaAST.isLiteral(member) && typeof member.literal === "string")
  }
  return false
}

// What the span of one `Harness.prompt` call adds up over its model calls.
interface SpanTotals {
  inputTokens: number
  outputTokens: number
  readonly finishReasons: Array<string>
  cost: number | undefined
}

const refused = (text: string): HarnessError.ContentRefused =>
  new HarnessError.ContentRefused({ message: "The model's answer was filtered or refused", refusal: text })

/**
 * A harness around one model call: renders the input into a prompt, calls
 * effect's `LanguageModel`, decodes the answer with the `output` Schema, and on
 * a decoding failure sends the answer back with its validation issues, up to
 * `repairs` times, before failing with `InvalidOutput { raw, issues }`. An
 * answer cut at the output token limit is never a silent success: it is sent
 * back asking for a shorter answer (within the same `repairs`), then fails with
 * `OutputTruncated { partial }`, unless `allowTruncated` is set.
 *
 * @example
 * ```ts
 * import { Harness } from "@effect-harness/core"
 * import { Schema } from "effect"
 *
 * const extract = Harness.prompt({
 *   name: "extract-city",
 *   output: Schema.Struct({ city: Schema.String, country: Schema.String }),
 *   render: (text: string) => `Which city is this about? ${text}`,
 *   repairs: 3
 * })
 * ```
 *
 * @since 0.1.0
 */
export const prompt = <I, O, IE = I, RI = never, RO = never>(
  options: PromptOptions<I, O, IE, RI, RO>
): Harness<IE, O, PromptError, LanguageModel.LanguageModel | RI | RO> => {
  const json = !isTextSchema(options.output)
  const repairs = options.repairs ?? 2
  const allowTruncated = options.allowTruncated === true
  const objectName = options.objectName ?? options.name.replace(/[^a-zA-Z0-9_-]/g, "_")
  // every issue is listed, so that one repair can fix them all
  const decodeOutput = Schema.decodeUnknownEffect(options.output, { errors: "all" })
  const decodeInput = options.input === undefined ? undefined : Schema.decodeUnknownEffect(options.input)

  const responseFormat: DirectModel.ResponseFormat = json
    ? { type: "json", objectName, schema: options.output }
    : { type: "text" }

  // One model call. With a budget in the context, each call counts as a step
  // and its usage is recorded; without one (the default) nothing extra runs.
  // The prompt does not enforce the limits itself (its error type stays
  // PromptError): the agent steps around it, or `Budget.guard`, do.
  // With a span, the calls' usage (repairs included) and cost are added up on it.
  const call = (model: DirectModel.Resolved, budget: Budget.Service, prompt: Prompt.Prompt, span: SpanTotals | undefined) => {
    const reply = Effect.mapError(
      model.generate({ prompt, tools: [], toolChoice: "none", responseFormat }),
      (error) => HarnessError.fromAiError(error) as PromptError
    )
    const recorded = budget.active
      ? Effect.tap(reply, (reply) => budget.record(reply.usage, reply.model, { step: true }))
      : reply
    return span === undefined ? recorded : Effect.tap(recorded, (reply) => {
      const price = budget.price(reply.model ?? model.modelId)
      span.inputTokens += reply.usage.inputTokens ?? 0
      span.outputTokens += reply.usage.outputTokens ?? 0
      span.finishReasons.push(reply.finishReason)
      if (span.cost !== undefined) span.cost = price === undefined ? undefined : span.cost + Budget.costOf(reply.usage, price)
      return Effect.annotateCurrentSpan(Tracing.usageAttributes(span, span.finishReasons, reply.model, span.cost))
    })
  }

  // Calls the model and decodes the answer once (JSON answers parsed here,
  // then decoded with the output Schema); an answer that does not decode is
  // sent back with its issues, up to `repairs` times.
  const loop = (
    model: DirectModel.Resolved,
    budget: Budget.Service,
    prompt: Prompt.Prompt,
    repaired: number,
    span: SpanTotals | undefined
  ): Effect.Effect<O, PromptError, any> =>
    Effect.flatMap(call(model, budget, prompt, span), (reply): Effect.Effect<O, PromptError, any> => {
      const raw = reply.text
      if (reply.finishReason === "content-filter") return Effect.fail(refused(raw))
      const again = (request: string) =>
        loop(model, budget, Prompt.concat(prompt, Prompt.fromMessages([Messages.assistant(raw), Messages.user(request)])), repaired + 1, span)
      // a cut answer, even one that decodes, is not the answer the model meant
      if (reply.finishReason === "length" && !allowTruncated) {
        return repaired >= repairs
          ? Effect.fail(new HarnessError.OutputTruncated({ partial: { text: raw, toolCalls: [] }, attempts: repaired + 1 }))
          : again(Answer.truncatedRequest(json))
      }
      const repair = (issues: string): Effect.Effect<O, PromptError, any> =>
        repaired >= repairs
          ? Effect.fail(new HarnessError.InvalidOutput({ raw, issues, attempts: repaired + 1 }))
          : again(Answer.repairRequest(issues, json))
      // decoded by the provider already (from its own wire form of the Schema)
      if (reply.structured !== undefined) return Effect.succeed(reply.structured.value as O)
      return Effect.flatMap(Answer.decode(decodeOutput, raw, json), (decoded) =>
        decoded.ok ? Effect.succeed(decoded.value) : repair(decoded.issues))
    })

  const system = options.instructions
  const render = (input: I): Prompt.Prompt => {
    const rendered = Messages.toPrompt(options.render(input))
    return system === undefined ? rendered : Prompt.setSystem(rendered, system)
  }

  // built once: the span's options (a stack trace per call would be the largest
  // cost of the span); the span is made only when a tracer is installed
  // (see internal/tracing.ts)
  const spanName = `Harness.prompt ${options.name}`
  const spanOptions = {
    attributes: { "harness.name": options.name, "gen_ai.operation.name": json ? "generate_object" : "chat" },
    captureStackTrace: false
  } as const

  // What a call reads from its context, kept for the last context seen:
  // contexts are immutable, and callers usually run every call in the same one.
  let seen: { readonly context: Context.Context<never>; readonly model: DirectModel.Resolved; readonly budget: Budget.Service; readonly traced: boolean } | undefined
  const servicesOf = (context: Context.Context<never>) =>
    seen !== undefined && seen.context === context ? seen : (seen = {
      context,
      model: DirectModel.fromContext(context),
      budget: Context.get(context, Budget.Budget),
      traced: Tracing.isTraced(context)
    })

  const run = (input: IE) =>
    Effect.withFiber((fiber) => {
      const { budget, model, traced } = servicesOf(fiber.context)
      const span: SpanTotals | undefined = traced
        ? { inputTokens: 0, outputTokens: 0, finishReasons: [], cost: 0 }
        : undefined
      const answer = decodeInput === undefined
        ? loop(model, budget, render(input as unknown as I), 0, span)
        : decodeInput(input).pipe(
          Effect.mapError((error) => new HarnessError.InvalidRequest({ message: `Invalid input: ${error.message}` })),
          Effect.flatMap((input) => loop(model, budget, render(input), 0, span))
        )
      if (!traced) return answer
      const attributes = { ...spanOptions.attributes, ...Tracing.requestAttributes(model.providerName, model.modelId) }
      return Effect.withSpan(answer, spanName, { ...spanOptions, attributes })
    })
  return make(options.name, run) as Harness<IE, O, PromptError, LanguageModel.LanguageModel | RI | RO>
}
