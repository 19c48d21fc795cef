/**
 * Names the instruction an arm64 run died on. qemu-user says only `uncaught target signal 4 (Illegal
 * instruction)`; a second run with `QEMU_LOG=in_asm` logs every block it translates, and the last block ends with
 * the instruction it could not execute. qemu's own disassembler (capstone) prints instructions the emulated CPU
 * lacks as `.byte …`, so the word is decoded here, for the instruction families onnxruntime's kernels select by
 * CPU feature: dot product, int8 matrix multiply, bf16, half-precision arithmetic, SVE and SME.
 */

export interface DecodedInstruction {
  /** The 32-bit instruction word. */
  word: number;
  mnemonic: string;
  /** Assembly text, operands included where known (`udot v16.4s, v0.16b, v4.4b[0]`). */
  text: string;
  /** The Linux feature flag the instruction needs (`asimddp`), when known. */
  feature?: string;
}

const hex8 = (word: number) => `0x${(word >>> 0).toString(16).padStart(8, '0')}`;
const bits = (word: number, lo: number, width: number) => (word >>> lo) & ((1 << width) - 1);
const matches = (word: number, mask: number, value: number) => (word & mask) >>> 0 === value >>> 0;

function dotOperands(word: number, byElement: boolean): string {
  const q = bits(word, 30, 1);
  const rd = bits(word, 0, 5);
  const rn = bits(word, 5, 5);
  const acc = q ? '4s' : '2s';
  const src = q ? '16b' : '8b';
  if (!byElement) return `v${rd}.${acc}, v${rn}.${src}, v${bits(word, 16, 5)}.${src}`;
  const index = (bits(word, 11, 1) << 1) | bits(word, 21, 1);
  const rm = (bits(word, 20, 1) << 4) | bits(word, 16, 4);
  return `v${rd}.${acc}, v${rn}.${src}, v${rm}.4b[${index}]`;
}

function mmlaOperands(word: number): string {
  return `v${bits(word, 0, 5)}.4s, v${bits(word, 5, 5)}.16b, v${bits(word, 16, 5)}.16b`;
}

const FP16_THREE_SAME: Readonly<Record<string, string>> = {
  '0 0 0': 'fmaxnm',
  '0 0 1': 'fmla',
  '0 0 2': 'fadd',
  '0 0 3': 'fmulx',
  '0 0 4': 'fcmeq',
  '0 0 6': 'fmax',
  '0 0 7': 'frecps',
  '0 1 0': 'fminnm',
  '0 1 1': 'fmls',
  '0 1 2': 'fsub',
  '0 1 6': 'fmin',
  '0 1 7': 'frsqrts',
  '1 0 0': 'fmaxnmp',
  '1 0 2': 'faddp',
  '1 0 3': 'fmul',
  '1 0 4': 'fcmge',
  '1 0 5': 'facge',
  '1 0 6': 'fmaxp',
  '1 0 7': 'fdiv',
  '1 1 0': 'fminnmp',
  '1 1 2': 'fabd',
  '1 1 4': 'fcmgt',
  '1 1 5': 'facgt',
  '1 1 6': 'fminp',
};

/** Decodes the instruction families above; undefined for any other word. */
export function decodeInstruction(word: number): DecodedInstruction | undefined {
  const w = word >>> 0;
  const u = bits(w, 29, 1);
  const make = (mnemonic: string, operands: string, feature?: string): DecodedInstruction => ({
    word: w,
    mnemonic,
    text: operands ? `${mnemonic} ${operands}` : mnemonic,
    ...(feature ? { feature } : {}),
  });
  // SDOT/UDOT (vector): 0 Q U 01110 10 0 Rm 100101 Rn Rd
  if (matches(w, 0x9fe0fc00, 0x0e809400)) return make(u ? 'udot' : 'sdot', dotOperands(w, false), 'asimddp');
  // SDOT/UDOT (by element): 0 Q U 01111 10 L M Rm 1110 H 0 Rn Rd
  if (matches(w, 0x9fc0f400, 0x0f80e000)) return make(u ? 'udot' : 'sdot', dotOperands(w, true), 'asimddp');
  // USDOT (vector): 0 Q 0 01110 10 0 Rm 100111 Rn Rd
  if (matches(w, 0xbfe0fc00, 0x0e809c00)) return make('usdot', dotOperands(w, false), 'i8mm');
  // SUDOT / USDOT (by element): 0 Q 0 01111 (00|10) L M Rm 1111 H 0 Rn Rd
  if (matches(w, 0xbf00f400, 0x0f00f000) && (bits(w, 22, 2) === 0 || bits(w, 22, 2) === 2))
    return make(bits(w, 23, 1) ? 'usdot' : 'sudot', dotOperands(w, true), 'i8mm');
  // SMMLA / UMMLA / USMMLA: 0 1 U 01110 10 0 Rm 1010 B 1 Rn Rd
  if (matches(w, 0xffe0fc00, 0x4e80a400)) return make('smmla', mmlaOperands(w), 'i8mm');
  if (matches(w, 0xffe0fc00, 0x6e80a400)) return make('ummla', mmlaOperands(w), 'i8mm');
  if (matches(w, 0xffe0fc00, 0x4e80ac00)) return make('usmmla', mmlaOperands(w), 'i8mm');
  // BFMMLA, BFDOT (vector and by element), BFMLALB/T
  if (matches(w, 0xffe0fc00, 0x6e40ec00))
    return make('bfmmla', mmlaOperands(w).replace(/16b/g, '8h'), 'bf16');
  if (matches(w, 0xbfe0fc00, 0x2e40fc00)) return make('bfdot', '', 'bf16');
  if (matches(w, 0xbfc0f400, 0x0f40f000)) return make('bfdot', '', 'bf16');
  if (matches(w, 0xbfe0fc00, 0x2ec0fc00)) return make(bits(w, 30, 1) ? 'bfmlalt' : 'bfmlalb', '', 'bf16');
  // Advanced SIMD three same (FP16): 0 Q U 01110 a 10 Rm 00 opcode 1 Rn Rd
  if (matches(w, 0x9f60c400, 0x0e400400)) {
    const name = FP16_THREE_SAME[`${u} ${bits(w, 23, 1)} ${bits(w, 11, 3)}`] ?? 'fp16-op';
    const arrangement = bits(w, 30, 1) ? '8h' : '4h';
    const operands = [bits(w, 0, 5), bits(w, 5, 5), bits(w, 16, 5)]
      .map((r) => `v${r}.${arrangement}`)
      .join(', ');
    return make(name, operands, 'asimdhp');
  }
  // FMLA/FMLS (by element, half precision): 0 Q 0 01111 00 L M Rm 0 o2 01 H 0 Rn Rd
  if (matches(w, 0xbfc0b400, 0x0f001000)) return make(bits(w, 14, 1) ? 'fmls' : 'fmla', '', 'asimdhp');
  // Scalar half-precision data processing (2 and 3 sources): ftype = 11
  if (matches(w, 0xffe00c00, 0x1ee00800)) return make('fp16-scalar', '', 'fphp');
  if (matches(w, 0xffc00000, 0x1fc00000)) return make('fmadd-h', '', 'fphp');
  // SME: op0 = 1, op1 = 0000
  if (bits(w, 31, 1) === 1 && bits(w, 25, 4) === 0) return make('sme', '', 'sme');
  // SVE: op1 = 0010
  if (bits(w, 25, 4) === 0b0010) return make('sve', '', 'sve');
  return undefined;
}

/** A readable description of a word: the decoded instruction and what it needs, or the raw word. */
export function describeInstruction(word: number): string {
  const decoded = decodeInstruction(word);
  if (!decoded) return `instruction word ${hex8(word)}`;
  const needs = decoded.feature ? `, needs ${decoded.feature}` : '';
  const text = decoded.text === decoded.mnemonic ? `a ${decoded.mnemonic} instruction` : decoded.text;
  return `${text} (${hex8(word)}${needs})`;
}

export interface LoggedInstruction {
  /** Guest address, `0x…`. */
  address: string;
  word: number;
  /** qemu's own disassembly of it (`.byte …` when it does not know the instruction). */
  qemuText: string;
}

/**
 * The last instruction of the last block in a `QEMU_LOG=in_asm` log: for an illegal instruction, the one that
 * could not be executed (qemu ends the block there). Capstone lines look like
 * `0x0000005533d76adc:  6f84e010      .byte    0x10, 0xe0, 0x84, 0x6f`; without capstone, qemu prints the block's
 * bytes as `OBJD-T: <hex>` lines instead.
 */
export function lastLoggedInstruction(log: string): LoggedInstruction | undefined {
  const start = log.lastIndexOf('IN:');
  if (start < 0) return undefined;
  const block = log.slice(start).split('\n').slice(1);
  let address: string | undefined;
  let last: LoggedInstruction | undefined;
  let objdump = '';
  for (const line of block) {
    const asm = /^\s*0x([0-9a-f]+):\s+([0-9a-f]{8})\b\s*(.*)$/i.exec(line);
    if (asm) {
      last = {
        address: `0x${asm[1]!.replace(/^0+(?=.)/, '')}`,
        word: Number.parseInt(asm[2]!, 16),
        qemuText: asm[3]!.trim(),
      };
      continue;
    }
    const objd = /^OBJD-[HT]:\s*([0-9a-f]+)/i.exec(line);
    if (objd) {
      objdump += objd[1];
      continue;
    }
    const head = /^\s*0x([0-9a-f]+):/i.exec(line);
    if (head && !address) address = `0x${head[1]!.replace(/^0+(?=.)/, '')}`;
    if (line.trim() === '' && (last || objdump)) break;
  }
  if (last) return last;
  if (objdump.length >= 8) {
    const bytes = objdump.slice(-8);
    const word = Number.parseInt(bytes.match(/../g)!.reverse().join(''), 16);
    const count = Math.floor(objdump.length / 8) - 1;
    const base = address ? BigInt(address) : undefined;
    return {
      address: base === undefined ? 'unknown' : `0x${(base + BigInt(count * 4)).toString(16)}`,
      word,
      qemuText: '',
    };
  }
  return undefined;
}

/** The signal qemu-user reports (`qemu: uncaught target signal 4 (Illegal instruction) - core dumped`). */
export function parseTargetSignal(
  stderr: string,
): { number: number; name: string; description: string } | undefined {
  const match = /uncaught target signal (\d+) \(([^)]*)\)/.exec(stderr);
  if (!match) return undefined;
  const number = Number(match[1]);
  const names: Record<number, string> = {
    4: 'SIGILL',
    5: 'SIGTRAP',
    6: 'SIGABRT',
    7: 'SIGBUS',
    8: 'SIGFPE',
    11: 'SIGSEGV',
  };
  return { number, name: names[number] ?? `signal ${number}`, description: match[2]! };
}
