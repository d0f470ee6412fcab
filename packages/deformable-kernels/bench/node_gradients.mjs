// tfjs-core ships its gradients only as extensionless ESM (dist/register_all_gradients.js), which Node's
// resolver refuses where a file and a folder share a name (dist/gradients.js and dist/gradients/). This hook
// retries such an import with the file's extension, so the benchmark can register the gradients.
export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (error?.code === 'ERR_UNSUPPORTED_DIR_IMPORT') return nextResolve(`${specifier}.js`, context);
    throw error;
  }
}
