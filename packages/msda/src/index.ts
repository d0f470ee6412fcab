export { msDeformAttn } from './ms_deform_attn';
export { MSDeformAttn } from './ms_deform_attn_module';
export type { MSDeformAttnOptions } from './ms_deform_attn_module';
