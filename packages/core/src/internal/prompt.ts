/**
 * `Harness.prompt`: one model call with Schema-validated output and repair by
 * re-prompting with the validation issues.
 *
 * @internal
 */
import { Effect, Schema, SchemaAST } from "effect"
import { type LanguageModel, Prompt } from "effect/ai"
import * as Budget from "../Budget.ts"
import * as DirectModel from "../DirectModel.ts"
import { type Harness, make } from "./harness.ts"
import * as HarnessError from "../HarnessError.ts"
import * as Messages from "../Messages.ts"

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
  /** A system message put in front of the rendered prompt. */
  readonly system?: string | undefined
  /** How many times an invalid answer is sent back for repair. Default 2. */
  readonly repairs?: number | undefined
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

const repairRequest = (issues: string, json: boolean): string =>
  `Your previous answer was not valid.\nIssues:\n${issues}\n` +
  (json
    ? "Answer again with only a JSON value that satisfies the schema, and nothing else."
    : "Answer again, correcting these issues.")

type Attempt<O> =
  | { readonly ok: true; readonly value: O; readonly raw: string }
  | { readonly ok: false; readonly raw: string; readonly issues: string }

const refused = (text: string): HarnessError.ContentRefused =>
  new HarnessError.ContentRefused({ message: "The model's answer was filtered or refused", refusal: text })

/**
 * A harness around one model call: renders the input into a prompt, calls
 * effect's `LanguageModel`, decodes the answer with the `output` Schema, and on
 * a decoding failure sends the answer back with its validation issues, up to
 * `repairs` times, before failing with `InvalidOutput { raw, issues }`.
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
  const objectName = options.objectName ?? options.name.replace(/[^a-zA-Z0-9_-]/g, "_")
  const decodeOutput = Schema.decodeUnknownEffect(options.output)
  const decodeInput = options.input === undefined ? undefined : Schema.decodeUnknownEffect(options.input)

  const responseFormat: DirectModel.ResponseFormat = json
    ? { type: "json", objectName, schema: options.output }
    : { type: "text" }

  // One model call, decoded once: JSON answers are parsed here and decoded
  // with the output Schema, text answers decoded as they are.
  const generate = (prompt: Prompt.Prompt) =>
    Effect.flatMap(DirectModel.current, (model) =>
      model.generate({ prompt, tools: [], toolChoice: "none", responseFormat })).pipe(
        Effect.mapError((error) => HarnessError.fromAiError(error) as PromptError)
      )

  // With a budget in the context, each call counts as a step and its usage
  // is recorded; without one (the default) nothing extra runs. The prompt
  // does not enforce the limits itself (its error type stays PromptError):
  // the agent steps around it, or `Budget.guard`, do.
  const generateBudgeted = (prompt: Prompt.Prompt) =>
    Effect.flatMap(Effect.service(Budget.Budget), (budget) =>
      budget.active
        ? Effect.tap(generate(prompt), (reply) => budget.record(reply.usage, reply.model, { step: true }))
        : generate(prompt))

  const attempt = (prompt: Prompt.Prompt): Effect.Effect<Attempt<O>, PromptError, any> =>
    generateBudgeted(prompt).pipe(
        Effect.flatMap((reply): Effect.Effect<Attempt<O>, PromptError, RO> => {
          const raw = reply.text
          if (reply.finishReason === "content-filter") return Effect.fail(refused(raw))
          if (raw.trim().length === 0) return Effect.succeed({ ok: false, raw, issues: "The answer was empty" })
          let value: unknown = raw
          if (json) {
            try {
              value = JSON.parse(raw)
            } catch (error) {
              return Effect.succeed({ ok: false, raw, issues: `The answer is not valid JSON: ${(error as Error).message}` })
            }
          }
          return decodeOutput(value).pipe(
            Effect.map((value): Attempt<O> => ({ ok: true, value, raw })),
            Effect.catchTag("SchemaError", (error) => Effect.succeed<Attempt<O>>({ ok: false, raw, issues: error.message }))
          )
        })
      )

  const loop = (prompt: Prompt.Prompt, repaired: number): Effect.Effect<O, PromptError, any> =>
    Effect.flatMap(attempt(prompt), (result) => {
      if (result.ok) return Effect.succeed(result.value)
      if (repaired >= repairs) {
        return Effect.fail(
          new HarnessError.InvalidOutput({ raw: result.raw, issues: result.issues, attempts: repaired + 1 })
        )
      }
      const next = Prompt.concat(
        prompt,
        Prompt.fromMessages([Messages.assistant(result.raw), Messages.user(repairRequest(result.issues, json))])
      )
      return loop(next, repaired + 1)
    })

  const system = options.system
  const render = (input: I): Prompt.Prompt => {
    const rendered = Messages.toPrompt(options.render(input))
    return system === undefined ? rendered : Prompt.setSystem(rendered, system)
  }

  const run = (input: IE) => {
    const decoded = decodeInput === undefined
      ? Effect.succeed(input as unknown as I)
      : decodeInput(input).pipe(
        Effect.mapError((error) => new HarnessError.InvalidRequest({ message: `Invalid input: ${error.message}` }))
      )
    return decoded.pipe(
      Effect.flatMap((input) => loop(render(input), 0)),
      Effect.withSpan(`Harness.prompt ${options.name}`, {
        attributes: { "harness.name": options.name, "gen_ai.operation.name": json ? "generate_object" : "chat" }
      })
    )
  }
  return make(options.name, run) as Harness<IE, O, PromptError, LanguageModel.LanguageModel | RI | RO>
}
