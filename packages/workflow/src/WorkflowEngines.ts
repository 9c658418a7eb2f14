/**
 * The engines a workflow runs on, behind this package's API: in memory (tests,
 * one process) or effect's cluster engine with its state in PostgreSQL
 * (several worker processes, runs moved off a worker that dies).
 *
 * @since 0.1.0
 */
import { Layer } from "effect"
import { WorkflowEngine } from "effect/workflow"
import * as Approvals from "./Approvals.ts"

/**
 * effect's in-memory workflow engine with an in-memory approvals store: runs
 * suspend and resume, activities are recorded, nothing survives the process.
 *
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<WorkflowEngine.WorkflowEngine | Approvals.Approvals> = Layer.merge(
  WorkflowEngine.layerMemory,
  Approvals.layerMemory
)
