export {
  BertModel,
  BertForMaskedLM,
  BertEmbeddings,
  BertEncoder,
  BertLayer,
  BertSelfAttention,
  BertLMPredictionHead,
  Embedding,
  gelu,
  BERT_BASE_UNCASED,
  BERT_TIED_KEYS,
} from './bert';
export type { BertConfig, BertOutputs } from './bert';
export { WordPieceTokenizer, syntheticWorldTokenizer, SPECIAL_TOKENS } from './tokenizer';
export type { EncodedText, SpecialToken } from './tokenizer';
