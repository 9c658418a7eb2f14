/**
 * Reading a model's answer against the output Schema, and the repair request
 * that sends an invalid answer back: the one implementation behind
 * `Harness.prompt` and an agent's structured final answer.
 *
 * @internal
 */
import { Effect, type Schema } from "effect"

/** A decoded answer, or the issues to send back for repair. */
export type Decoded<O> =
  | { readonly ok: true; readonly value: O }
  | { readonly ok: false; readonly issues: string }

/**
 * Decodes an answer's text: empty answers and (for JSON) text that does not
 * parse are issues like any Schema issue; every Schema issue is listed.
 */
export const decode = <O, R>(
  decodeValue: (value: unknown) => Effect.Effect<O, Schema.SchemaError, R>,
  text: string,
  json: boolean
): Effect.Effect<Decoded<O>, never, R> => {
  if (text.trim().length === 0) return Effect.succeed({ ok: false, issues: "The answer was empty" })
  let value: unknown = text
  if (json) {
    try {
      value = JSON.parse(text)
    } catch (error) {
      return Effect.succeed({ ok: false, issues: `The answer is not valid JSON: ${(error as Error).message}` })
    }
  }
  return decodeValue(value).pipe(
    Effect.map((value): Decoded<O> => ({ ok: true, value })),
    Effect.catchTag("SchemaError", (error) => Effect.succeed<Decoded<O>>({ ok: false, issues: error.message }))
  )
}

/** The message that sends an invalid answer back to the model. */
export const repairRequest = (issues: string, json: boolean): string =>
  `Your previous answer was not valid.\nIssues:\n${issues}\n` +
  (json
    ? "Answer again with only a JSON value that satisfies the schema, and nothing else."
    : "Answer again, correcting these issues.")

/** The message that sends an answer cut at the output token limit back to the model. */
export const truncatedRequest = (json: boolean): string =>
  "Your previous answer was cut off: it reached the output token limit before it was complete.\n" +
  (json
    ? "Answer again with a shorter JSON value that satisfies the schema (shorter strings, fewer items), and nothing else."
    : "Answer again, complete and shorter, so that the whole answer fits.")
