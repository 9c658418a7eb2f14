/**
 * Server-sent events decoded synchronously from a streamed body's bytes: every
 * event of one network read in one go, instead of the `openai` SDK's chain of
 * async generators (several promise hops per event). The SDK's semantics are
 * kept: `data` lines joined with newlines, comments and unknown fields
 * ignored, a pending event flushed at the end of the body, `[DONE]` ending
 * the events, an `error` event or a payload with an `error` field failing as
 * the SDK's `APIError`, malformed JSON as a `SyntaxError`.
 *
 * Unlike the SDK's iterator, which cancels the body at `[DONE]`, the caller
 * reads the body to its end: cancelling a body whose last bytes have not
 * arrived yet destroys the keep-alive connection, and the next call pays for
 * a new one.
 *
 * @internal
 */
import { APIError } from "openai"

const CR = 13
const COLON = 58
const SPACE = 32

/** Decodes one response's events. */
export class SseDecoder {
  private readonly utf8 = new TextDecoder()
  private readonly headers: Headers | undefined
  private carry = ""
  private event: string | undefined = undefined
  private data: string | undefined = undefined
  /** `[DONE]` arrived: whatever follows is ignored. */
  done = false

  constructor(headers?: Headers) {
    this.headers = headers
  }

  /** Decodes a chunk of the body; `onEvent` gets each complete event's parsed payload. */
  feed(bytes: Uint8Array, onEvent: (payload: any) => void): void {
    this.lines(this.carry + this.utf8.decode(bytes, { stream: true }), onEvent, false)
  }

  /** The end of the body: the last line and a pending event, if any. */
  end(onEvent: (payload: any) => void): void {
    this.lines(this.carry + this.utf8.decode(), onEvent, true)
    this.dispatch(onEvent)
  }

  // Lines end with \n, \r\n or \r; an unfinished line (or a \r that a \n may
  // follow) waits in `carry` for the next chunk.
  private lines(text: string, onEvent: (payload: any) => void, final: boolean) {
    let start = 0
    let lf = text.indexOf("\n")
    let cr = text.indexOf("\r")
    while (true) {
      if (lf !== -1 && lf < start) lf = text.indexOf("\n", start)
      if (cr !== -1 && cr < start) cr = text.indexOf("\r", start)
      let end: number
      let next: number
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        if (cr === text.length - 1 && !final) break
        end = cr
        next = lf === cr + 1 ? cr + 2 : cr + 1
      } else if (lf !== -1) {
        end = lf
        next = lf + 1
      } else break
      this.line(text.slice(start, end), onEvent)
      start = next
    }
    this.carry = start === 0 ? text : text.slice(start)
    if (final && this.carry.length > 0) {
      const last = this.carry
      this.carry = ""
      this.line(last.charCodeAt(last.length - 1) === CR ? last.slice(0, -1) : last, onEvent)
    }
  }

  private line(line: string, onEvent: (payload: any) => void) {
    if (line.length === 0) return this.dispatch(onEvent)
    if (line.charCodeAt(0) === COLON) return
    const colon = line.indexOf(":")
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? "" : line.slice(colon + 1)
    if (value.charCodeAt(0) === SPACE) value = value.slice(1)
    if (field === "data") this.data = this.data === undefined ? value : `${this.data}\n${value}`
    else if (field === "event") this.event = value
  }

  private dispatch(onEvent: (payload: any) => void) {
    if (this.data === undefined && this.event === undefined) return
    const data = this.data ?? ""
    const event = this.event
    this.data = undefined
    this.event = undefined
    if (this.done) return
    if (data === "[DONE]") {
      this.done = true
      return
    }
    let payload: any
    try {
      payload = JSON.parse(data)
    } catch {
      throw new SyntaxError("Error reading response: malformed server-sent event JSON.")
    }
    if (event === "error") throw new APIError(undefined, payload?.error ?? payload, undefined, this.headers)
    if (payload?.error) throw new APIError(undefined, payload.error, undefined, this.headers)
    onEvent(payload)
  }
}
