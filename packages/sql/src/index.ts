/**
 * @effect-harness/sql: stores for durable runs on SQL databases.
 *
 * @since 0.1.0
 */

/**
 * A `RunStore` in PostgreSQL, through `effect/sql` and `@effect/sql-pg`.
 *
 * @since 0.1.0
 */
export * as PgRunStore from "./PgRunStore.ts"

/**
 * A `ConversationStore` in PostgreSQL: conversations keyed by session id, with revisions that detect concurrent
 * writers.
 *
 * @since 0.1.0
 */
export * as PgConversationStore from "./PgConversationStore.ts"
