/**
 * scatterAddRows: out[r, c] = Σ_{j : idx[j] = r} dy[j, c], the adjoint of gatherRows. Each invocation owns one
 * output row and scans the indices in order, so there are no races and the sum order is fixed; an index outside
 * [0, rows) or not an integer adds nothing, and the first one is recorded in `indexFault` (every invocation meets
 * the same first one; the host reports it at the next read, as the CPU reference would throw it).
 * Bindings: 0 params, 1 dy (read), 2 indices (read), 3 out (write), 4 indexFault (write).
 * Dispatch: grid1d(rows, WORKGROUP_SIZE), one invocation per output row.
 * Reference: CpuBackend.scatterAddRows.
 */
import { indexFaultWgsl } from "../wgsl/indexFault.wgsl.ts"

export const scatterAddRowsWgsl = /* wgsl */ `
struct Params { n: u32, rows: u32, cols: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> indices: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> indexFault: IndexFault;

${indexFaultWgsl}

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn scatterAddRows(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let r = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (r >= params.rows) {
    return;
  }
  let base = r * params.cols;
  for (var c = 0u; c < params.cols; c++) {
    out[base + c] = 0.0;
  }
  var faulted = false;
  for (var j = 0u; j < params.n; j++) {
    let v = indices[j];
    if (!isRowIndex(v, params.rows)) {
      if (!faulted) {
        recordIndexFault(INDEX_FAULT_SCATTER, j, v, params.rows);
        faulted = true;
      }
      continue;
    }
    if (u32(v) == r) {
      for (var c = 0u; c < params.cols; c++) {
        out[base + c] += dy[j * params.cols + c];
      }
    }
  }
}
`
