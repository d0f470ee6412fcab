export { evaluateCoco, cocoBoxIou, COCO_STAT_NAMES, COCO_IOU_THRESHOLDS, COCO_RECALL_THRESHOLDS, COCO_AREA_RANGES } from './coco';
export type { CocoDataset, CocoImage, CocoCategory, CocoAnnotation, CocoDetection, CocoAreaRange, CocoEvalOptions, CocoEvalResult, CocoCategoryResult } from './coco';
