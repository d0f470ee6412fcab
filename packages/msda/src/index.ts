export { msDeformAttn } from './ms_deform_attn';
export { MSDeformAttn } from './layers';
export type { MSDeformAttnOptions } from './layers';
