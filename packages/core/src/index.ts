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
export * as Harness from "./harness/Harness.ts"

/**
 * The recoverable and fatal errors of a harness, and the mapping from `AiError`.
 *
 * @since 0.1.0
 */
export * as HarnessError from "./harness/HarnessError.ts"

/**
 * Constructors for prompt messages that skip Schema decoding.
 *
 * @since 0.1.0
 */
export * as Messages from "./model/Messages.ts"

/**
 * Retry schedules for the recoverable errors of a harness.
 *
 * @since 0.1.0
 */
export * as RetryPolicy from "./harness/RetryPolicy.ts"

/**
 * The hook every model and tool call goes through, for durable runs.
 *
 * @since 0.1.0
 */
export * as Journal from "./durable/Journal.ts"

/**
 * The direct model interface: one request, one decoded reply, no per-call Schema work.
 *
 * @since 0.1.0
 */
export * as DirectModel from "./model/DirectModel.ts"

/**
 * What a run spends (tokens, steps, tool calls, cost) and the limits it must stay within.
 *
 * @since 0.1.0
 */
export * as Budget from "./state/Budget.ts"

/**
 * A session's history as effect `Prompt` messages in a `Ref`, with versioned export and import.
 *
 * @since 0.1.0
 */
export * as Conversation from "./state/Conversation.ts"

/**
 * Conversations that persist: stores keyed by session id (memory, files, any `KeyValueStore`), with revisions
 * that detect concurrent writers.
 *
 * @since 0.1.0
 */
export * as ConversationStore from "./state/ConversationStore.ts"

/**
 * Keeps requests within the model's context window: truncate or compact, with incremental token counts.
 *
 * @since 0.1.0
 */
export * as ContextWindow from "./state/ContextWindow.ts"

/**
 * The events of an agent run, and a `Stream` of them.
 *
 * @since 0.1.0
 */
export * as AgentEvent from "./agent/AgentEvent.ts"

/**
 * The tool-calling loop as a harness: tools in parallel, failures fed back, approvals, structured answers.
 *
 * @since 0.1.0
 */
export * as Agent from "./agent/Agent.ts"

/**
 * Where durable runs keep their journals: in memory, in files, or (with
 * `@effect-harness/sql`) in PostgreSQL.
 *
 * @since 0.1.0
 */
export * as RunStore from "./durable/RunStore.ts"

/**
 * What a run-store backend implements, for store implementers: the backend
 * operations, what `list` reports of a run, and store failures with causes.
 *
 * @since 0.1.0
 */
export * as RunStoreBackend from "./durable/RunStoreBackend.ts"

/**
 * Durable runs: record every step, resume after a crash without repeating work.
 *
 * @since 0.1.0
 */
export * as Durable from "./durable/Durable.ts"

/**
 * The events of a durable run as a resumable stream: recorded ones from the
 * store after a sequence number, then live, from any process.
 *
 * @since 0.1.0
 */
export * as RunEvents from "./durable/RunEvents.ts"
