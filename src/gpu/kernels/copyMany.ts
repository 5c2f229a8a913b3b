/** Host side of the copyMany kernel. */
import { grid1d, type Kernel, type KernelSpec, singlePipeline } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { COPY_MANY_PARTS, copyManyWgsl } from "./copyMany.wgsl.ts"

const WORKGROUP_SIZE = 256

/** The copyMany kernel: its WGSL, bindings and pipelines. */
export const copyManySpec: KernelSpec = {
  name: "copyMany",
  code: copyManyWgsl,
  bindings: [...Array<"read">(COPY_MANY_PARTS).fill("read"), "write"],
  pipelines: singlePipeline("copyMany", { WORKGROUP_SIZE })
}

/** One source and where it goes: `dstOffset` elements into the destination binding, a multiple of 4. */
export interface CopyPart {
  readonly src: Binding
  readonly n: number
  readonly dstOffset: number
}

/** Records one copyMany dispatch of 1..COPY_MANY_PARTS parts; `unused` fills the source bindings left over. */
export const encodeCopyMany = (rec: Recorder, kernel: Kernel, parts: ReadonlyArray<CopyPart>, dst: Binding, unused: Binding): void => {
  if (parts.length === 0 || parts.length > COPY_MANY_PARTS) throw new Error(`copyMany takes 1..${COPY_MANY_PARTS} parts, got ${parts.length}`)
  const firstGroups: Array<number> = []
  let groups = 0
  for (const part of parts) {
    firstGroups.push(groups)
    groups += Math.ceil(part.n / (4 * WORKGROUP_SIZE))
  }
  const sources = Array.from({ length: COPY_MANY_PARTS }, (_, i) => parts[i]?.src ?? unused)
  rec.dispatch(kernel, "copyMany", [...sources, dst], (p) => {
    p.u32(parts.length).u32(groups).u32(0).u32(0)
    parts.forEach((part, i) => p.u32(part.dstOffset).u32(part.n).u32(firstGroups[i]).u32(0))
  }, grid1d(groups * WORKGROUP_SIZE, WORKGROUP_SIZE))
}
