/**
 * Host-side CSR sparse codes used by the CPU kernels (same layout as {@link SparseCodes}): the
 * data layer's {@link CsrCodes}. `index`/`value` may be longer than the entries used (capacity);
 * the used count is rowPtr[rows].
 */
export type { CsrCodes } from "../data/csr_codes.ts";
