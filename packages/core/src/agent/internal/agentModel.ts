/**
 * The data of an agent run: approval decisions, the paused state, the
 * journal codecs of model and tool steps, and the records a run returns.
 * Kept apart from the loop so that `Agent` and the loop share them without
 * an import cycle.
 *
 * @internal
 */
import { Context, type Effect, Schema } from "effect"
import { Prompt } from "effect/ai"
import type * as Budget from "../../state/Budget.ts"
import * as DirectModel from "../../model/DirectModel.ts"

// -----------------------------------------------------------------------------
// Approvals
// -----------------------------------------------------------------------------

export const PendingCall = DirectModel.ToolCall

export type PendingCall = DirectModel.ToolCall

export const Approve = Schema.TaggedStruct("Approve", {})
export const Deny = Schema.TaggedStruct("Deny", { reason: Schema.optional(Schema.String) })
export const Edit = Schema.TaggedStruct("Edit", { params: Schema.Unknown })

/** The caller's answer to a tool call that needs approval. */
export const Decision = Schema.Union([Approve, Deny, Edit])

export type Decision = typeof Decision.Type

/**
 * An agent run stopped before running tool calls that need approval, and no
 * approver was provided. `pending` are the calls waiting for a decision,
 * `calls` all the calls of the step (in the model's order). Answer with the
 * agent's `resume(paused, decisions)`. The value is plain data (a Schema
 * class): it can be stored and the run resumed in another process; `history`
 * holds the run's messages when the run had no `Conversation`.
 */
export class Paused extends Schema.TaggedError<Paused>()("Paused", {
  agent: Schema.String,
  step: Schema.Int,
  calls: Schema.Array(PendingCall),
  pending: Schema.Array(PendingCall),
  history: Schema.optional(Prompt.Prompt)
}) {
  override get message(): string {
    return `Agent ${this.agent} is waiting for approval of ${this.pending.map((call) => call.name).join(", ")}`
  }
}

/**
 * A tool's server went away while the run called it (an MCP server that
 * exited or closed its connection): the model cannot do anything about it,
 * so the run ends. `message` is the transport's description.
 */
export class ToolUnavailable extends Schema.TaggedError<ToolUnavailable>()("ToolUnavailable", {
  agent: Schema.String,
  tool: Schema.String,
  message: Schema.String
}) {}

// -----------------------------------------------------------------------------
// Journal codecs
// -----------------------------------------------------------------------------

/**
 * The result of a model step as the journal records it: what the agent reads
 * of a reply, and nothing else.
 */
export const ModelStep = Schema.Struct({
  text: Schema.String,
  toolCalls: Schema.Array(PendingCall),
  finishReason: Schema.String,
  usage: DirectModel.Usage,
  model: Schema.optional(Schema.String)
})

export type ModelStep = typeof ModelStep.Type

/** Why a tool call produced an error result instead of running. */
export const FailureKind = Schema.Literals(["parameters", "unknown-tool", "handler", "defect", "denied"])

export type FailureKind = typeof FailureKind.Type

/**
 * The result of a tool step as the journal records it: the result exactly as
 * the model sees it (the tool's encoded success or failure, or our error
 * result), and whether it is a failure.
 */
export const ToolStep = Schema.Struct({
  isFailure: Schema.Boolean,
  result: Schema.Unknown,
  failure: Schema.optional(FailureKind)
})

export type ToolStep = typeof ToolStep.Type

// -----------------------------------------------------------------------------
// Records
// -----------------------------------------------------------------------------

/** One tool call of a step, and how it went. */
export interface ToolCallRecord {
  readonly id: string
  readonly name: string
  readonly params: unknown
  readonly isFailure: boolean
  readonly failure?: FailureKind | undefined
  readonly result: unknown
}

/** One model step of a run. */
export interface StepRecord {
  readonly step: number
  /** A tool call of the step failed (the run went on). */
  readonly failed: boolean
  readonly finishReason: string
  readonly text: string
  readonly toolCalls: ReadonlyArray<ToolCallRecord>
  readonly inputTokens: number | undefined
  readonly outputTokens: number | undefined
}

/** What a stop condition sees after each step that ran tools. */
export interface StopState {
  readonly step: number
  readonly last: StepRecord
  readonly usage: Budget.Usage
}

/** The outcome of a run, with its trace. */
export interface RunResult<Out> {
  readonly output: Out
  /** The agent that answered: the one run, or the last one it handed the conversation to. */
  readonly agent: string
  readonly steps: ReadonlyArray<StepRecord>
  readonly usage: Budget.Usage
}

// -----------------------------------------------------------------------------
// Approver
// -----------------------------------------------------------------------------

/** What an approver is asked. */
export interface ApprovalRequest {
  readonly agent: string
  readonly step: number
  readonly call: PendingCall
}

/** Answers approval requests while the run waits. */
export type Approver = (request: ApprovalRequest) => Effect.Effect<Decision>

/** The approver of the context; none (the default) makes a run pause instead. */
export const Approval = Context.Reference<Approver | undefined>("@effect-harness/core/Agent/Approval", {
  defaultValue: () => undefined
})

/**
 * A tool annotation: the tool journals its own steps (a sub-agent), so the
 * agent does not wrap its call in a tool step (inside a step the journal
 * records nothing, and a resumed run would run the whole tool again).
 */
export const JournalsItsSteps = Context.Reference<boolean>("@effect-harness/core/Agent/JournalsItsSteps", {
  defaultValue: () => false
})
