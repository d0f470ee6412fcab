/**
 * Per-frame latency of the mobile video design (MobileNet + Light Flow + flow-guided GRU) against the per-frame
 * MobileNet detector, and of part 1's ResNet-18 per-frame detector and DFF non-key frame, on the wasm backend at
 * one thread, interleaved round by round by core's interleavedBench (one persistent worker; the ratios are medians
 * of per-round ratios, so load that slows a round slows both cases of a ratio). Random weights (bench/frame_cases.ts).
 * - toy: apps/video-det's configurations at 128 px (MobileNet/Light Flow widths 4 and 8; ResNet-18 w4, FlowNet-S w8),
 * - sweep: widths 4, 8, 16, 32 (stem and Light Flow conv1 tied, as the app's `--width w --flow-width w`; 32 is the
 *   paper's MobileNet 1.0 and Light Flow) at 64, 128 and 256 px: where a non-key frame becomes cheaper than a
 *   per-frame detection.
 * Run after `pnpm build`: pnpm bench (then `npx tsx scripts/latency_table.ts` for the READMEs).
 */
import { initBackend } from '@deformjs/core';
import { interleavedBench, type BenchCase } from '@deformjs/core/bench';
import { checkFlat, mobileFrameCases, resnetFrameCases } from './frame_cases';

const TOY_SIZE = 128;
const WIDTHS = [4, 8, 16, 32];
const SIZES = [64, 128, 256];
/** Every setting gets the whole-frame cases and the components; the toy widths at the toy size are the sweep's. */
const MOBILE_CASES = ['per-frame', 'key frame', 'non-key frame', 'features', 'Light Flow + warp', 'GRU', 'task'];
const settings = SIZES.flatMap((size) => WIDTHS.map((width) => ({ width, size })));
const mobileName = ({ width, size }: { width: number; size: number }, name: string) =>
  `mobile w${width} ${size}px: ${name}`;
const RESNET = { width: 4, flowWidth: 8, size: TOY_SIZE };
const resnetName = (name: string) => `ResNet-18 w${RESNET.width} ${RESNET.size}px: ${name}`;
const CASES = [
  ...settings.flatMap((s) => MOBILE_CASES.map((name) => mobileName(s, name))),
  resnetName('per-frame'),
  resnetName('DFF non-key frame'),
];

await interleavedBench({
  file: 'latency',
  title:
    'per-frame latency, wasm 1 thread, random weights: the mobile design (MobileNet + Light Flow + GRU, FPN 8) at ' +
    `widths ${WIDTHS.join(', ')} and ${SIZES.join(', ')} px; ResNet-18 w4 per-frame and DFF (FlowNet-S w8) at 128 px`,
  cases: CASES,
  caseRatios: [
    ...settings.flatMap((s) => [
      [mobileName(s, 'non-key frame'), mobileName(s, 'key frame')] as const,
      [mobileName(s, 'non-key frame'), mobileName(s, 'per-frame')] as const,
      [mobileName(s, 'key frame'), mobileName(s, 'per-frame')] as const,
      [mobileName(s, 'Light Flow + warp'), mobileName(s, 'features')] as const,
    ]),
    [resnetName('DFF non-key frame'), resnetName('per-frame')],
    [mobileName({ width: 4, size: TOY_SIZE }, 'per-frame'), resnetName('per-frame')],
    [mobileName({ width: 8, size: TOY_SIZE }, 'per-frame'), resnetName('per-frame')],
  ],
  oursThreads: [1],
  rounds: 9,
  ours: async () => {
    await initBackend('wasm');
    const cases: Record<string, BenchCase> = {};
    for (const s of settings) {
      const built = mobileFrameCases(s.width, s.width, s.size);
      checkFlat(built.cases);
      for (const [name, run] of Object.entries(built.cases)) cases[mobileName(s, name)] = run;
    }
    const resnet = resnetFrameCases(RESNET.width, RESNET.flowWidth, RESNET.size);
    checkFlat(resnet.cases);
    for (const [name, run] of Object.entries(resnet.cases)) cases[resnetName(name)] = run;
    return cases;
  },
});
