/**
 * copyMany: up to MAX_PARTS sources copied into disjoint ranges of one destination in one dispatch
 * (a model's gradients into its flat gradient buffer). Each part owns a contiguous run of
 * workgroups starting at `firstGroup`, so the part (and the binding read) is uniform per workgroup;
 * each invocation moves four elements through vec4 views (ranges rounded up to 16 bytes), and the
 * last, partial vec4 of a part is written per component, so the destination stays untouched past
 * each part. Destination offsets are multiples of 4 elements (views start at multiples of 64).
 * Seven sources, so that with the destination the kernel binds 8 storage buffers, WebGPU's default
 * maxStorageBuffersPerShaderStage (every adapter offers it).
 * Bindings: 0 params, 1..7 sources (read; unused ones bound to a placeholder), 8 dst (write).
 * Dispatch: grid1d(total groups × WORKGROUP_SIZE, WORKGROUP_SIZE), total groups = Σ ⌈n/(4·WORKGROUP_SIZE)⌉.
 * Reference: CpuBackend.copyIntoMany (copyInto per pair).
 */
export const COPY_MANY_PARTS = 7

export const copyManyWgsl = /* wgsl */ `
struct Params {
  count: u32,
  groups: u32,
  // Per part: (destination offset in elements, elements, first workgroup, unused).
  parts: array<vec4u, ${COPY_MANY_PARTS}>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src0: array<vec4f>;
@group(0) @binding(2) var<storage, read> src1: array<vec4f>;
@group(0) @binding(3) var<storage, read> src2: array<vec4f>;
@group(0) @binding(4) var<storage, read> src3: array<vec4f>;
@group(0) @binding(5) var<storage, read> src4: array<vec4f>;
@group(0) @binding(6) var<storage, read> src5: array<vec4f>;
@group(0) @binding(7) var<storage, read> src6: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> dst: array<vec4f>;

override WORKGROUP_SIZE: u32 = 256u;

fn load(part: u32, t: u32) -> vec4f {
  switch part {
    case 0u: { return src0[t]; }
    case 1u: { return src1[t]; }
    case 2u: { return src2[t]; }
    case 3u: { return src3[t]; }
    case 4u: { return src4[t]; }
    case 5u: { return src5[t]; }
    default: { return src6[t]; }
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn copyMany(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) grid: vec3u, @builtin(local_invocation_index) li: u32) {
  let g = wg.y * grid.x + wg.x;
  if (g >= params.groups) {
    return;
  }
  var part = 0u;
  for (var i = 1u; i < params.count; i++) {
    if (params.parts[i].z <= g) {
      part = i;
    }
  }
  let p = params.parts[part];
  let t = (g - p.z) * WORKGROUP_SIZE + li;
  if (4u * t >= p.y) {
    return;
  }
  let v = load(part, t);
  let at = p.x / 4u + t;
  if (4u * t + 4u <= p.y) {
    dst[at] = v;
    return;
  }
  for (var k = 0u; 4u * t + k < p.y; k++) {
    dst[at][k] = v[k];
  }
}
`
