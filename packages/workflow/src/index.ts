/**
 * @effect-harness/workflow: durable agent runs as effect Workflow executions,
 * on one process or several workers sharing PostgreSQL.
 *
 * @since 0.1.0
 */

/**
 * An agent run as a workflow execution: run, start, status, approve, deny.
 *
 * @since 0.1.0
 */
export * as AgentWorkflow from "./AgentWorkflow.ts"

/**
 * The journal whose steps are workflow activities.
 *
 * @since 0.1.0
 */
export * as WorkflowJournal from "./WorkflowJournal.ts"

/**
 * Which tool call a suspended run waits for, readable from any process.
 *
 * @since 0.1.0
 */
export * as Approvals from "./Approvals.ts"

/**
 * The engines: in memory, or the cluster engine over PostgreSQL.
 *
 * @since 0.1.0
 */
export * as WorkflowEngines from "./WorkflowEngines.ts"
