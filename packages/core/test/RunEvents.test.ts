import { RunStore } from "@effect-harness/core"
import { NodeFileSystem } from "@effect/platform-node"
import { Layer } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as RunEventsSuite from "@effect-harness/testing/RunEventsSuite"

const directory = mkdtempSync(join(tmpdir(), "eh-run-events-"))

RunEventsSuite.suite({
  name: "files",
  store: RunStore.layerFileSystem({ directory }).pipe(Layer.provide(NodeFileSystem.layer)),
  childStore: { module: new URL("./fixtures/fileStore.ts", import.meta.url).href, options: { directory } },
  pollInterval: "20 millis"
})
