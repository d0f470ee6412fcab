export { GeneralizedAttention, parseAttentionType } from './generalized_attention';
export type { GeneralizedAttentionOptions } from './generalized_attention';
export { relativePositionEncoding, rangeMaskBias, WAVE_LENGTH } from './position';
