export { bezier, controlPointsFromTheta, identityTheta } from './bezier';
export { autoSegLoss, surrogateMetric, TARGET_METRICS, CURVES_PER_METRIC } from './surrogates';
export type { TargetMetric, SurrogateOptions, AutoSegLossOptions } from './surrogates';
export { VOC_PRESETS, identityControlPoints } from './presets';
export { PpoSearch, runPpoSearch, PPO_DEFAULTS } from './ppo';
export type { PpoOptions, PpoState, RoundRecord } from './ppo';
