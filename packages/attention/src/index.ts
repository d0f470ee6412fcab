export { GeneralizedAttention } from './generalized_attention';
export type { GeneralizedAttentionOptions } from './generalized_attention';
export { SequenceGeneralizedAttention } from './sequence_attention';
export type { SequenceGeneralizedAttentionOptions, SequenceAttentionCall } from './sequence_attention';
export { parseAttentionType } from './terms';
export type { AttentionTerms } from './terms';
export { relativePositionEncoding, rangeMaskBias, WAVE_LENGTH } from './position';
