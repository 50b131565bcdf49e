/**
 * A tiny WebAssembly assembler: enough to write the CPU backend's SIMD kernels in code (i32/f32
 * scalar ops, f32x4 SIMD, structured control flow) against one imported shared memory.
 * No dependencies; the output is a complete module binary for `WebAssembly.Module`.
 */

/** Value types. */
export const I32 = 0x7f;
/** f32 value type. */
export const F32 = 0x7d;
/** f64 value type. */
export const F64 = 0x7c;
/** v128 value type. */
export const V128 = 0x7b;

function uleb(out: number[], v: number): void {
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
}

function sleb(out: number[], v: number): void {
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

function str(out: number[], s: string): void {
  const b = new TextEncoder().encode(s);
  uleb(out, b.length);
  out.push(...b);
}

/**
 * Body builder of one function: params are locals 0..p-1; {@link local} adds more. Methods
 * append instructions and return `this` for chaining.
 */
export class FnBuilder {
  readonly code: number[] = [];
  readonly extra: number[] = [];
  constructor(readonly name: string, readonly params: number[], readonly results: number[] = []) {}

  /** Declare a new local of type `t`; returns its index. */
  local(t: number): number {
    this.extra.push(t);
    return this.params.length + this.extra.length - 1;
  }
  /** Raw opcode bytes. */
  op(...b: number[]): this {
    if (b.some((x) => !Number.isInteger(x))) throw new TypeError(`${this.name}: bad opcode ${b}`);
    this.code.push(...b);
    return this;
  }
  /** local.get */
  get(i: number): this {
    this.code.push(0x20);
    uleb(this.code, i);
    return this;
  }
  /** local.set */
  set(i: number): this {
    this.code.push(0x21);
    uleb(this.code, i);
    return this;
  }
  /** local.tee */
  tee(i: number): this {
    this.code.push(0x22);
    uleb(this.code, i);
    return this;
  }
  /** i32.const */
  i32(v: number): this {
    this.code.push(0x41);
    sleb(this.code, v | 0);
    return this;
  }
  /** f32.const */
  f32(v: number): this {
    this.code.push(0x43, ...new Uint8Array(new Float32Array([v]).buffer));
    return this;
  }
  /** f64.const */
  f64(v: number): this {
    this.code.push(0x44, ...new Uint8Array(new Float64Array([v]).buffer));
    return this;
  }
  /** A SIMD instruction (0xfd prefix, LEB opcode). */
  simd(opcode: number): this {
    if (!Number.isInteger(opcode)) throw new TypeError(`${this.name}: bad SIMD opcode ${opcode}`);
    this.code.push(0xfd);
    uleb(this.code, opcode);
    return this;
  }
  /** A load/store with memarg (alignment log2, offset). */
  mem(opcode: number, align: number, offset = 0, simd = false): this {
    if (simd) this.simd(opcode);
    else this.code.push(opcode);
    uleb(this.code, align);
    uleb(this.code, offset);
    return this;
  }
  /** `block … end` (void). `br 0` inside leaves it. */
  block(body: () => void): this {
    this.code.push(0x02, 0x40);
    body();
    this.code.push(0x0b);
    return this;
  }
  /** `loop … end` (void). `br 0` inside continues it. */
  loop(body: () => void): this {
    this.code.push(0x03, 0x40);
    body();
    this.code.push(0x0b);
    return this;
  }
  /** `if … (else …) end` on the i32 on the stack. */
  if(then: () => void, otherwise?: () => void): this {
    this.code.push(0x04, 0x40);
    then();
    if (otherwise) {
      this.code.push(0x05);
      otherwise();
    }
    this.code.push(0x0b);
    return this;
  }
  /** br_if depth */
  brIf(depth: number): this {
    this.code.push(0x0d);
    uleb(this.code, depth);
    return this;
  }
  /** br depth */
  br(depth: number): this {
    this.code.push(0x0c);
    uleb(this.code, depth);
    return this;
  }

  /**
   * `for (i = from; i < to; i += step) body` with i32 locals; `from`/`to` are emitted by the
   * callbacks (they push one i32). Stops when i ≥ to (signed).
   */
  forRange(i: number, from: () => void, to: number, step: number, body: () => void): this {
    from();
    this.set(i);
    this.block(() => {
      this.loop(() => {
        this.get(i).get(to).op(0x4e).brIf(1); // i >= to → exit
        body();
        this.get(i).i32(step).op(0x6a).set(i);
        this.br(0);
      });
    });
    return this;
  }
}

let fusedMulAdd = true;

/**
 * Whether {@link mulAdd} emits the relaxed-SIMD `f32x4.relaxed_madd` (one fused multiply-add
 * where the engine has it) or `f32x4.mul` + `f32x4.add` (for engines without relaxed SIMD).
 */
export function setFusedMultiplyAdd(on: boolean): void {
  fusedMulAdd = on;
}

/** With f32x4 `x`, `y` on the stack, emit `x·y + acc` (`pushAcc` pushes acc). */
export function mulAdd(f: FnBuilder, pushAcc: () => void): FnBuilder {
  if (fusedMulAdd) {
    pushAcc();
    return f.simd(0x105);
  }
  f.simd(0xe6);
  pushAcc();
  return f.simd(0xe4);
}

/** Opcodes used by the kernels (scalar part). */
export const OP = {
  i32Load: 0x28,
  f32Load: 0x2a,
  i32Store: 0x36,
  f32Store: 0x38,
  i32Eqz: 0x45,
  i32Ne: 0x47,
  i32LtS: 0x48,
  i32GeS: 0x4e,
  f32Eq: 0x5b,
  f32Ne: 0x5c,
  f32Gt: 0x5e,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32And: 0x71,
  i32Shl: 0x74,
  f32Sqrt: 0x91,
  f32Add: 0x92,
  f32Sub: 0x93,
  f32Mul: 0x94,
  f32Div: 0x95,
  f32Max: 0x97,
  drop: 0x1a,
  select: 0x1b,
} as const;

/** SIMD opcodes (after the 0xfd prefix). */
export const SIMD = {
  load: 0x00,
  store: 0x0b,
  f32x4Splat: 0x13,
  f32x4ExtractLane: 0x1f,
  f32x4Gt: 0x44,
  v128And: 0x4e,
  f32x4Sqrt: 0xe3,
  f32x4Add: 0xe4,
  f32x4Sub: 0xe5,
  f32x4Mul: 0xe6,
  f32x4Div: 0xe7,
  f32x4Max: 0xe9,
} as const;

/**
 * Assemble a module that imports `env.memory` (shared, `minPages`..`maxPages` of 64 KiB) and
 * exports every function by name.
 */
export function assembleModule(fns: FnBuilder[], minPages: number, maxPages: number): Uint8Array {
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const section = (id: number, body: number[]) => {
    out.push(id);
    uleb(out, body.length);
    out.push(...body);
  };
  // types: one per function
  const types: number[] = [];
  uleb(types, fns.length);
  for (const f of fns) {
    types.push(0x60);
    uleb(types, f.params.length);
    types.push(...f.params);
    uleb(types, f.results.length);
    types.push(...f.results);
  }
  section(1, types);
  const imports: number[] = [];
  uleb(imports, 1);
  str(imports, "env");
  str(imports, "memory");
  imports.push(0x02, 0x03); // memory, limits: shared with max
  uleb(imports, minPages);
  uleb(imports, maxPages);
  section(2, imports);
  const funcs: number[] = [];
  uleb(funcs, fns.length);
  fns.forEach((_, i) => uleb(funcs, i));
  section(3, funcs);
  const exps: number[] = [];
  uleb(exps, fns.length);
  fns.forEach((f, i) => {
    str(exps, f.name);
    exps.push(0x00);
    uleb(exps, i);
  });
  section(7, exps);
  const code: number[] = [];
  uleb(code, fns.length);
  for (const f of fns) {
    const body: number[] = [];
    // locals: one group per declared local (simple, valid)
    uleb(body, f.extra.length);
    for (const t of f.extra) {
      uleb(body, 1);
      body.push(t);
    }
    body.push(...f.code, 0x0b);
    uleb(code, body.length);
    code.push(...body);
  }
  section(10, code);
  return new Uint8Array(out);
}
