/**
 * stridedCopy: dst[dstOffset + r·dstRowStride + c] = src[srcOffset + r·srcRowStride + c·srcColStride]
 * for r < rows, c < cols. With zero source strides it broadcasts; with offsets it slices, pads and
 * concatenates columns.
 * Bindings: 0 params, 1 src (read), 2 dst (write).
 * Dispatch: grid1d(rows·cols, WORKGROUP_SIZE), one invocation per copied element.
 * Reference: CpuBackend.broadcastTo, concatCols, sliceCols, padCols, copyInto.
 */
export const stridedCopyWgsl = /* wgsl */ `
struct Params {
  rows: u32,
  cols: u32,
  srcOffset: u32,
  srcRowStride: u32,
  srcColStride: u32,
  dstOffset: u32,
  dstRowStride: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn stridedCopy(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (i >= params.rows * params.cols) {
    return;
  }
  let r = i / params.cols;
  let c = i % params.cols;
  dst[params.dstOffset + r * params.dstRowStride + c] =
    src[params.srcOffset + r * params.srcRowStride + c * params.srcColStride];
}
`
