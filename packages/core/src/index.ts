/**
 * @effect-harness/core: typed, composable harnesses between language-model
 * calls and production agents.
 *
 * @since 0.1.0
 */

/**
 * A harness: a named function from an input to an `Effect`, with combinators.
 *
 * @since 0.1.0
 */
export * as Harness from "./Harness.ts"

/**
 * The recoverable and fatal errors of a harness, and the mapping from `AiError`.
 *
 * @since 0.1.0
 */
export * as HarnessError from "./HarnessError.ts"

/**
 * Constructors for prompt messages that skip Schema decoding.
 *
 * @since 0.1.0
 */
export * as Messages from "./Messages.ts"

/**
 * Retry schedules for the recoverable errors of a harness.
 *
 * @since 0.1.0
 */
export * as RetryPolicy from "./RetryPolicy.ts"

/**
 * The hook every model and tool call goes through, for durable runs.
 *
 * @since 0.1.0
 */
export * as Journal from "./Journal.ts"

/**
 * The direct model interface: one request, one decoded reply, no per-call Schema work.
 *
 * @since 0.1.0
 */
export * as DirectModel from "./DirectModel.ts"
