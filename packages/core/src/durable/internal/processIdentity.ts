/**
 * Who this process is, as other processes sharing a run store see it, and
 * when a holder can be known dead.
 *
 * A process id means something only inside its PID namespace on its kernel:
 * containers sharing a volume, or hosts sharing a file system, see each
 * other's pids as unrelated numbers (`kill(pid, 0)` on a pid of another
 * namespace says nothing about that process). So a holder records its
 * `origin`, the kernel's boot id and its PID namespace, and another process
 * asks the kernel about the holder's pid only when the origins are equal.
 * Otherwise (or where the origin cannot be read) only the holder's lease
 * expiry tells that it is gone.
 *
 * Reads `/proc` through Node's built-in modules when the runtime has them
 * (`process.getBuiltinModule`); elsewhere the origin is unknown.
 *
 * @internal
 */

export interface Identity {
  readonly host: string
  /** `<boot id>-<pid namespace inode>`, or undefined where it cannot be read. */
  readonly origin: string | undefined
  readonly pid: number
}

interface NodeProcess {
  readonly pid?: number
  readonly kill?: (pid: number, signal: number) => unknown
  readonly getBuiltinModule?: (name: string) => unknown
}

const nodeProcess = (): NodeProcess | undefined => (globalThis as { process?: NodeProcess }).process

const readOrigin = (): string | undefined => {
  const fs = nodeProcess()?.getBuiltinModule?.("node:fs") as {
    readonly readFileSync: (path: string, encoding: "utf8") => string
    readonly readlinkSync: (path: string) => string
  } | undefined
  if (fs === undefined) return undefined
  try {
    const boot = fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim().replace(/-/g, "")
    const pidns = /\[(\d+)\]/.exec(fs.readlinkSync("/proc/self/ns/pid"))?.[1]
    if (!/^[0-9a-f]{32}$/.test(boot) || pidns === undefined) return undefined
    return `${boot}-${pidns}`
  } catch {
    return undefined
  }
}

const readHost = (): string => {
  const os = nodeProcess()?.getBuiltinModule?.("node:os") as { readonly hostname: () => string } | undefined
  try {
    return os?.hostname() ?? "unknown"
  } catch {
    return "unknown"
  }
}

let cached: Identity | undefined

/** This process (read once). */
export const current = (): Identity => {
  if (cached === undefined) {
    cached = { host: readHost(), origin: readOrigin(), pid: nodeProcess()?.pid ?? 0 }
  }
  return cached
}

/**
 * Whether the holder `pid` of `origin` is known to be dead: only when it is
 * another process of this very PID namespace on this very boot, and the kernel
 * says there is no such process. Everything else is "not known dead".
 */
export const holderDead = (origin: string | undefined, pid: number): boolean => {
  const self = current()
  if (origin === undefined || self.origin === undefined || origin !== self.origin) return false
  if (pid === self.pid || pid <= 0) return false
  const kill = nodeProcess()?.kill
  if (typeof kill !== "function") return false
  try {
    kill(pid, 0)
    return false
  } catch (error) {
    return (error as { code?: string }).code === "ESRCH"
  }
}
