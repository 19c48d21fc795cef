import { describe, expect, it } from 'vitest';
import {
  decodeInstruction,
  describeInstruction,
  lastLoggedInstruction,
  parseTargetSignal,
} from '../../../src/devices/qemu/disasm.ts';

describe('decoding the instructions kernels are chosen by', () => {
  it.each([
    // The word qemu 7.2 stopped at when a Pi 4 ran onnxruntime's dot-product int8 kernel.
    [0x6f84e010, 'udot v16.4s, v0.16b, v4.4b[0]', 'asimddp'],
    [0x4f84e010, 'sdot v16.4s, v0.16b, v4.4b[0]', 'asimddp'],
    [0x6fa4e810, 'udot v16.4s, v0.16b, v4.4b[3]', 'asimddp'],
    [0x4e829420, 'sdot v0.4s, v1.16b, v2.16b', 'asimddp'],
    [0x2e829420, 'udot v0.2s, v1.8b, v2.8b', 'asimddp'],
    [0x4e82a420, 'smmla v0.4s, v1.16b, v2.16b', 'i8mm'],
    [0x6e82a420, 'ummla v0.4s, v1.16b, v2.16b', 'i8mm'],
    [0x4e82ac20, 'usmmla v0.4s, v1.16b, v2.16b', 'i8mm'],
    [0x4e829c20, 'usdot v0.4s, v1.16b, v2.16b', 'i8mm'],
    [0x4e421420, 'fadd v0.8h, v1.8h, v2.8h', 'asimdhp'],
    [0x4e420c20, 'fmla v0.8h, v1.8h, v2.8h', 'asimdhp'],
  ])('decodes %s as %s (needs %s)', (word, text, feature) => {
    expect(decodeInstruction(word)).toMatchObject({ text, feature });
  });

  it('recognizes SVE and SME encodings by their top-level group', () => {
    expect(decodeInstruction(0x04a00000)).toMatchObject({ mnemonic: 'sve', feature: 'sve' });
    expect(decodeInstruction(0x80800000)).toMatchObject({ mnemonic: 'sme', feature: 'sme' });
  });

  it('leaves ordinary instructions undecoded and describes them by their word', () => {
    expect(decodeInstruction(0xd503201f)).toBeUndefined(); // nop
    expect(decodeInstruction(0x4eb18470)).toBeUndefined(); // add v16.4s, v3.4s, v17.4s
    expect(describeInstruction(0xd503201f)).toBe('instruction word 0xd503201f');
    expect(describeInstruction(0x6f84e010)).toBe('udot v16.4s, v0.16b, v4.4b[0] (0x6f84e010, needs asimddp)');
  });
});

describe('reading qemu output', () => {
  it('takes the last instruction of the last block of a QEMU_LOG=in_asm log', () => {
    const log = [
      '----------------',
      'IN: ',
      '0x5533d769d4:  b4000549  cbz      x9, #0x5533d76a7c',
      '',
      '----------------',
      'IN: ',
      '0x5533d76a7c:  4cdf7020  ld1      {v0.16b}, [x1], #0x10',
      '0x5533d76ad4:  d1000463  sub      x3, x3, #1',
      '0x5533d76ad8:  4cdf7023  ld1      {v3.16b}, [x1], #0x10',
      '0x5533d76adc:  6f84e010  .byte    0x10, 0xe0, 0x84, 0x6f',
      '',
    ].join('\n');
    expect(lastLoggedInstruction(log)).toEqual({
      address: '0x5533d76adc',
      word: 0x6f84e010,
      qemuText: '.byte    0x10, 0xe0, 0x84, 0x6f',
    });
  });

  it('reads the bytes of a block logged without a disassembler', () => {
    const log = ['IN: ', '0x0000004000a000:', 'OBJD-T: 1f2003d5', 'OBJD-T: 10e0846f', ''].join('\n');
    expect(lastLoggedInstruction(log)).toEqual({ address: '0x4000a004', word: 0x6f84e010, qemuText: '' });
  });

  it('finds nothing in a log without blocks', () => {
    expect(lastLoggedInstruction('nothing logged')).toBeUndefined();
  });

  it('reads the guest signal qemu reports', () => {
    expect(parseTargetSignal('qemu: uncaught target signal 4 (Illegal instruction) - core dumped\n')).toEqual(
      {
        number: 4,
        name: 'SIGILL',
        description: 'Illegal instruction',
      },
    );
    expect(
      parseTargetSignal('qemu: uncaught target signal 11 (Segmentation fault) - core dumped')?.name,
    ).toBe('SIGSEGV');
    expect(parseTargetSignal('all fine')).toBeUndefined();
  });
});
