export {
  BertModel,
  BertForMaskedLM,
  BertEmbeddings,
  BertEncoder,
  BertLayer,
  BertSelfAttention,
  BertLMPredictionHead,
  gelu,
  BERT_BASE_UNCASED,
  BERT_TIED_KEYS,
} from './bert';
export type { BertConfig, BertOutputs } from './bert';
export { WordPieceTokenizer, syntheticWorldTokenizer, SPECIAL_TOKENS } from './tokenizer';
export type { EncodedText, SpecialToken } from './tokenizer';
export {
  VLBert,
  RoiClassificationHead,
  VqaHead,
  ScoreHead,
  boxGeometryEmbedding,
  SEGMENT_A,
  SEGMENT_B,
  SEGMENT_VISUAL,
} from './vl_bert';
export type { VLBertConfig, VLBertInputs, VLBertOutputs } from './vl_bert';
export { softCrossEntropy, crossEntropy, binaryCrossEntropyWithLogits, vqaLoss } from './losses';
export {
  IGNORE,
  maskWords,
  maskSelectedWords,
  zeroBoxes,
  collate,
  disposeBatch,
  labelledRows,
  pretrainingLosses,
} from './pretraining';
export type { VLExample, VLBatch, PretrainingLosses } from './pretraining';
export { vqaLogits, groundingScores, groundingLoss, vcrLogits, xyxyIou, trainStep } from './tasks';
export type { StepResult } from './tasks';
