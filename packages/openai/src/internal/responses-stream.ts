/**
 * The Responses API's stream of events to effect's stream parts: text and
 * reasoning-summary deltas as they come, function-call argument deltas
 * assembled into complete calls, and the finish reason and usage of the
 * final `response.completed` (or `incomplete` / `failed`) event.
 *
 * @internal
 */
import type { Response } from "effect/ai"
import * as Errors from "./errors.ts"
import { finishPart, type JsonObject, metadataPart, parseArguments, responsesTokens } from "./shared.ts"
import { finishReason } from "./responses.ts"

interface PendingCall {
  readonly callId: string
  readonly name: string
  readonly itemId: string
  args: string
  done: boolean
}

interface PendingReasoning {
  readonly ids: Array<string>
}

/** Assembles the parts of one streamed response; keeps what arrived for the error of a broken stream. */
export class StreamState {
  private started = false
  private text = ""
  private refusal = ""
  private readonly openText = new Set<string>()
  private readonly calls = new Map<string, PendingCall>()
  private readonly reasoning = new Map<string, PendingReasoning>()
  private readonly done = new Set<string>()
  private finished: Array<Response.StreamPartEncoded> | undefined
  readonly method: string

  constructor(method: string) {
    this.method = method
  }

  private metadata(response: JsonObject | undefined, out: Array<Response.StreamPartEncoded>) {
    if (this.started || response === undefined) return
    this.started = true
    out.push(metadataPart(response.id, response.model, response.created_at))
  }

  /** The parts for one event. */
  chunk(event: JsonObject): Array<Response.StreamPartEncoded> {
    const out: Array<Response.StreamPartEncoded> = []
    switch (event.type) {
      case "response.created":
      case "response.in_progress":
      case "response.queued":
        this.metadata(event.response, out)
        break
      case "response.output_text.delta": {
        const id: string = event.item_id
        if (!this.openText.has(id)) {
          this.openText.add(id)
          out.push({ type: "text-start", id, metadata: { openai: { itemId: id } } })
        }
        this.text += event.delta
        out.push({ type: "text-delta", id, delta: event.delta })
        break
      }
      case "response.refusal.delta":
        this.refusal += event.delta
        break
      case "response.output_item.added": {
        const item = event.item
        if (item?.type === "function_call") {
          const call = { callId: item.call_id, name: item.name, itemId: item.id, args: "", done: false }
          this.calls.set(item.id, call)
          out.push({ type: "tool-params-start", id: call.callId, name: call.name })
        }
        break
      }
      case "response.function_call_arguments.delta": {
        const call = this.calls.get(event.item_id)
        if (call !== undefined) {
          call.args += event.delta
          out.push({ type: "tool-params-delta", id: call.callId, delta: event.delta })
        }
        break
      }
      case "response.reasoning_summary_part.added": {
        const id = `${event.item_id}:${event.summary_index}`
        let pending = this.reasoning.get(event.item_id)
        if (pending === undefined) this.reasoning.set(event.item_id, pending = { ids: [] })
        pending.ids.push(id)
        out.push({ type: "reasoning-start", id, metadata: { openai: { itemId: event.item_id } } })
        break
      }
      case "response.reasoning_summary_text.delta":
        out.push({ type: "reasoning-delta", id: `${event.item_id}:${event.summary_index}`, delta: event.delta })
        break
      case "response.output_item.done":
        this.itemDone(event.item, out)
        break
      case "response.completed":
      case "response.incomplete":
      case "response.failed":
        this.complete(event.response, out)
        break
    }
    return out
  }

  private itemDone(item: JsonObject | undefined, out: Array<Response.StreamPartEncoded>) {
    if (item === undefined || this.done.has(item.id)) return
    this.done.add(item.id)
    switch (item.type) {
      case "message":
        if (this.openText.delete(item.id)) out.push({ type: "text-end", id: item.id })
        for (const content of item.content ?? []) {
          if (content.type === "refusal" && this.refusal.length === 0) this.refusal = content.refusal
        }
        break
      case "function_call": {
        let call = this.calls.get(item.id)
        if (call === undefined) {
          // a call the events never announced: it still counts
          call = { callId: item.call_id, name: item.name, itemId: item.id, args: "", done: false }
          this.calls.set(item.id, call)
          out.push({ type: "tool-params-start", id: call.callId, name: call.name })
        }
        call.done = true
        call.args = item.arguments ?? call.args
        out.push({ type: "tool-params-end", id: call.callId })
        out.push({
          type: "tool-call",
          id: call.callId,
          name: call.name,
          params: parseArguments(call.args),
          metadata: { openai: { itemId: call.itemId } }
        })
        break
      }
      case "reasoning": {
        // the summary parts close here, with the encrypted content that only
        // the finished item carries
        const metadata = { openai: { itemId: item.id, encryptedContent: item.encrypted_content ?? null } }
        const ids = this.reasoning.get(item.id)?.ids ?? []
        this.reasoning.delete(item.id)
        if (ids.length === 0) {
          const id = `${item.id}:0`
          out.push({ type: "reasoning-start", id, metadata }, { type: "reasoning-end", id, metadata })
        }
        for (const id of ids) out.push({ type: "reasoning-end", id, metadata })
        break
      }
    }
  }

  private complete(response: JsonObject | undefined, out: Array<Response.StreamPartEncoded>) {
    if (response === undefined) return
    this.metadata(response, out)
    if (response.status === "failed") {
      const error = response.error
      throw Errors.make(
        this.method,
        Errors.fromCode(error?.code ?? undefined, error?.message ?? "The response failed", this.partial())
      )
    }
    // items the events left open (a server that skipped output_item.done)
    for (const item of response.output ?? []) this.itemDone(item, out)
    for (const id of this.openText) out.push({ type: "text-end", id })
    this.openText.clear()
    this.finished = [finishPart(finishReason(response, this.calls.size > 0), responsesTokens(response.usage))]
  }

  /** Whether the final event (`response.completed`, `incomplete` or `failed`) arrived. */
  get completed(): boolean {
    return this.finished !== undefined
  }

  /** The closing parts once the stream ended; fails when it ended too early or was a refusal. */
  end(): Array<Response.StreamPartEncoded> {
    if (this.finished === undefined) throw Errors.truncated(this.method, this.partial())
    if (this.refusal.length > 0) throw Errors.refusal(this.method, this.refusal)
    return this.finished
  }

  /** What arrived so far. */
  partial(): Errors.Partial {
    const toolCalls: Array<Errors.Partial["toolCalls"][number]> = []
    for (const call of this.calls.values()) {
      toolCalls.push({ id: call.callId, name: call.name, params: parseArguments(call.args) })
    }
    return { text: this.text, toolCalls }
  }
}
