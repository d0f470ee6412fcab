// tfjs-core's gradients exist only in its extensionless ESM build; Node refuses `dist/gradients` because a
// file (gradients.js) and a folder share the name. This resolve hook retries such imports as `<name>.js`.
export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (error?.code === 'ERR_UNSUPPORTED_DIR_IMPORT') return nextResolve(`${specifier}.js`, context);
    throw error;
  }
}
