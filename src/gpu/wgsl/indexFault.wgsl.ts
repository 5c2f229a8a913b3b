/**
 * The index-fault record shared by gatherRows and scatterAddRows: the first out-of-range (or non-integer) index a
 * kernel meets is stored here, and the host reports it at the next read (GpuBackend.readBack). Bound as the last
 * storage binding of those kernels, named `indexFault`; the host zeroes it after reporting.
 *   flag     0 = no fault; set once, by compare-exchange, so only the first faulting invocation writes the rest
 *   op       INDEX_FAULT_GATHER or INDEX_FAULT_SCATTER
 *   position the index's position in the indices
 *   index    its value (as stored: a float)
 *   rows     the row count it had to be below
 */
export const indexFaultWgsl = /* wgsl */ `
struct IndexFault { flag: atomic<u32>, op: u32, position: u32, index: f32, rows: u32 }

const INDEX_FAULT_GATHER = 1u;
const INDEX_FAULT_SCATTER = 2u;

fn isRowIndex(v: f32, rows: u32) -> bool {
  return v >= 0.0 && v < f32(rows) && v == floor(v);
}

// \`indexFault\` is the kernel's binding of the record.
fn recordIndexFault(op: u32, position: u32, index: f32, rows: u32) {
  loop {
    let r = atomicCompareExchangeWeak(&indexFault.flag, 0u, 1u);
    if (r.exchanged) {
      indexFault.op = op;
      indexFault.position = position;
      indexFault.index = index;
      indexFault.rows = rows;
      return;
    }
    if (r.old_value != 0u) {
      return;
    }
  }
}
`

/** Codes of the `op` field (must match the WGSL constants above). */
export const INDEX_FAULT_OPS: Readonly<Record<number, string>> = { 1: "gatherRows", 2: "scatterAddRows" }

/** Bytes of the record (five 4-byte words). */
export const INDEX_FAULT_BYTES = 20
