/**
 * Measures one named component of inference (feature network, flow, warp, aggregation, task network): the video
 * designs call it around each, so an app can report milliseconds per component. The backends run ops eagerly, so
 * the time of the call is the time of the component. `untimed` just runs it.
 */
export type Timer = <T>(component: string, run: () => T) => T;

export const untimed: Timer = (_component, run) => run();
