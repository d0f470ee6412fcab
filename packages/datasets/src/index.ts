export { DatasetFormatError } from './errors';
export type { ImageRecord, Sample, RgbImage, LabelMapEncoding } from './types';
export { loadSample } from './sample';
export type { LoadSampleOptions } from './sample';
export { decodeImage, encodeImage } from './image';
export { drawBoxes } from './draw';
export type { DrawnDetections } from './draw';

export { loadCoco, cocoPaths } from './coco';
export type { CocoCategory, CocoDataset, CocoLoadOptions, ImageDataset } from './coco';
export { loadVoc, VOC_CLASSES } from './voc';
export type { VocLoadOptions } from './voc';
export { loadCityscapes } from './cityscapes';
export type { CityscapesLoadOptions } from './cityscapes';
export { CITYSCAPES_CLASSES, CITYSCAPES_TRAIN_IDS } from './formats/cityscapes';
export { loadImagenetVid, VID_CLASSES, VID_CLASS_NAMES } from './vid';
export type { VidDataset, VidFrameRecord, VidLoadOptions, VidVideo } from './vid';
export { loadVqa } from './vqa';
export type { VqaAnswer, VqaDataset, VqaLoadOptions, VqaRecord } from './vqa';
export { loadConceptualCaptions, loadRegions, captionKey } from './captions';
export { loadRefexp } from './refexp';
export type { RefexpDataset, RefexpLoadOptions, RefexpRecord } from './refexp';
export { loadVcr } from './vcr';
export type { VcrDataset, VcrLoadOptions, VcrRecord } from './vcr';
export type { CaptionRecord, CaptionRegions, CaptionsDataset, CaptionsLoadOptions } from './captions';

export { decodeLabelPng, encodeLabelPng, vocPalette } from './formats/png';
export type { LabelPng } from './formats/png';
export { decodeSegmentation, maskToRuns, polygonsToMask, runsToMask, runsToString, stringToRuns } from './formats/mask';
export type { CocoSegmentation, Rle } from './formats/mask';
export { parseXml } from './formats/xml';
export type { XmlElement } from './formats/xml';
export { BOX_TOLERANCE_PX, xyxyToNormalizedCxcywh } from './boxes';

export {
  IMAGENET_MEAN,
  IMAGENET_STD,
  applyTransforms,
  crop,
  detrEvalTransforms,
  detrTrainTransforms,
  horizontalFlip,
  normalize,
  resize,
  resizeImage,
  resizeNearest,
  resizeShorterSide,
  sizeWithAspectRatio,
  validateTransforms,
} from './transforms';
export type { DetrTransformOptions, TransformSpec } from './transforms';
export { batchToTensors, collate } from './batch';
export type { Batch, BatchTarget, BatchTensors } from './batch';
export { DataLoader } from './loader';
export type { DataLoaderOptions, IterateOptions, LoaderBatch } from './loader';
export { ClipSampler } from './clips';
export type { Clip, ClipSamplerOptions, ClipSpec } from './clips';
export { decodeFlo, encodeFlo } from './formats/flo';
export type { DecodeFloOptions, FlowField } from './formats/flo';
export { loadGroundTruthFlow, loadVideoMotion } from './motion';

export { SHAPE_CLASSES, SHAPE_COLORS } from './shapes/raster';
export type { GeneratedImage, GenerateOptions } from './shapes/common';
export { generateDetection, SHAPE_CATEGORIES } from './shapes/detection';
export type { DetectionDatasetFiles, DetectionGenerateOptions } from './shapes/detection';
export { generateCityscapes, generateSegmentation, SHAPE_SEGMENTATION_CLASSES } from './shapes/segmentation';
export type { CityscapesDatasetFiles, SegmentationGenerateOptions, VocDatasetFiles } from './shapes/segmentation';
export { generateVideo, speedBin } from './shapes/video';
export type { VidDatasetFiles, VideoGenerateOptions, VideoMotion, VideoTrack } from './shapes/video';
export { groundTruthFlow } from './shapes/flow';
export type { FlowFrame, GroundTruthFlow } from './shapes/flow';
export type { ShapePose } from './shapes/raster';
export { generateCaptions, generateVqa, generateRefexp, generateVcr, languageVocabulary } from './shapes/language';
export type {
  CaptionsDatasetFiles,
  LanguageGenerateOptions,
  RefexpDatasetFiles,
  VcrDatasetFiles,
  VqaDatasetFiles,
} from './shapes/language';
export { ensureShapesDataset, SHAPES_KINDS } from './shapes/generate';
export type { ShapesKind } from './shapes/generate';
export { shapeCrops } from './shapes/crops';
export type { CropDataOptions, CropSet } from './shapes/crops';
