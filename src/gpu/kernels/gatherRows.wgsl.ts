/**
 * gatherRows: out[j, c] = x[idx[j], c] for indices (integer-valued floats) in [0, rows). The indices live on the
 * device, so they cannot be checked before dispatch: the invocation of (j, 0) checks idx[j] and a bad one is
 * recorded in `indexFault` (reported by the host at the next read, as the CPU reference would throw it; with
 * several bad indices the one recorded is whichever invocation got there first, where the CPU names the first
 * position). Rows of bad indices are written as 0.
 * Bindings: 0 params, 1 x (read), 2 indices (read), 3 out (write), 4 indexFault (write).
 * Dispatch: grid1d(n·cols, WORKGROUP_SIZE), one invocation per output element.
 * Reference: CpuBackend.gatherRows.
 */
import { indexFaultWgsl } from "../wgsl/indexFault.wgsl.ts"

export const gatherRowsWgsl = /* wgsl */ `
struct Params { n: u32, rows: u32, cols: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> indices: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> indexFault: IndexFault;

${indexFaultWgsl}

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn gatherRows(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (i >= params.n * params.cols) {
    return;
  }
  let j = i / params.cols;
  let c = i % params.cols;
  let v = indices[j];
  if (!isRowIndex(v, params.rows)) {
    if (c == 0u) {
      recordIndexFault(INDEX_FAULT_GATHER, j, v, params.rows);
    }
    out[i] = 0.0;
    return;
  }
  out[i] = x[u32(v) * params.cols + c];
}
`
