import * as tf from '@tensorflow/tfjs-core';

/**
 * How a parameter is laid out in PyTorch relative to ours, so that checkpoints convert at import and export:
 * - `same`: identical (biases, norms, embeddings, anything without spatial or in/out axes)
 * - `linear`: torch (out, in) <-> ours (in, out)
 * - `conv2d`: torch OIHW <-> ours HWIO
 * - `depthwise`: torch (C*mult, 1, kh, kw) <-> ours (kh, kw, C, mult)
 */
export type TorchLayout = 'same' | 'linear' | 'conv2d' | 'depthwise';

export interface Parameter {
  variable: tf.Variable;
  layout: TorchLayout;
  /** False for buffers such as batch-norm running statistics: saved and loaded, never optimised. */
  trainable: boolean;
}

/**
 * The base of every layer and model: parameters and buffers registered under PyTorch state_dict names
 * (`backbone.0.body.layer1.0.conv1.weight`), so a checkpoint of the official implementation maps onto ours
 * key for key.
 */
export abstract class Module {
  private readonly ownParameters = new Map<string, Parameter>();
  private readonly childModules = new Map<string, Module>();
  training = true;

  protected addParameter(name: string, init: tf.Tensor, layout: TorchLayout = 'same'): tf.Variable {
    return this.register(name, init, layout, true);
  }

  protected addBuffer(name: string, init: tf.Tensor, layout: TorchLayout = 'same'): tf.Variable {
    return this.register(name, init, layout, false);
  }

  protected addModule<M extends Module>(name: string, module: M): M {
    if (this.childModules.has(name) || this.ownParameters.has(name))
      throw new Error(`${this.constructor.name}: '${name}' is registered twice`);
    this.childModules.set(name, module);
    return module;
  }

  private register(name: string, init: tf.Tensor, layout: TorchLayout, trainable: boolean): tf.Variable {
    if (this.childModules.has(name) || this.ownParameters.has(name))
      throw new Error(`${this.constructor.name}: '${name}' is registered twice`);
    const variable = tf.variable(init, trainable);
    init.dispose();
    this.ownParameters.set(name, { variable, layout, trainable });
    return variable;
  }

  /** Every parameter and buffer under its dotted state_dict name. */
  namedParameters(prefix = ''): Array<[string, Parameter]> {
    const out: Array<[string, Parameter]> = [];
    for (const [name, p] of this.ownParameters) out.push([prefix + name, p]);
    for (const [name, child] of this.childModules) out.push(...child.namedParameters(`${prefix}${name}.`));
    return out;
  }

  /** Every trainable variable once, as PyTorch's parameters(): a module shared under two names is listed once. */
  trainableVariables(): tf.Variable[] {
    return [
      ...new Set(
        this.namedParameters()
          .filter(([, p]) => p.trainable)
          .map(([, p]) => p.variable),
      ),
    ];
  }

  /** Sets training mode here and in every child (dropout, batch-norm statistics). */
  train(mode = true): this {
    this.training = mode;
    for (const child of this.childModules.values()) child.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Our tensors keyed by state_dict name, in our layout or converted to PyTorch's. */
  stateDict(options: { torchLayout?: boolean } = {}): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [name, p] of this.namedParameters()) {
      out[name] = options.torchLayout ? toTorchLayout(p.variable, p.layout) : tf.clone(p.variable);
    }
    return out;
  }

  /**
   * Assigns tensors by state_dict name. `torchLayout` converts from PyTorch's layouts first. With `strict`
   * (the default), a missing or unexpected key is an error, as are shape mismatches always. The caller keeps
   * ownership of `entries`.
   */
  loadStateDict(
    entries: Record<string, tf.Tensor>,
    options: { torchLayout?: boolean; strict?: boolean } = {},
  ): { missing: string[]; unexpected: string[] } {
    const { torchLayout = false, strict = true } = options;
    const params = new Map(this.namedParameters());
    const missing = [...params.keys()].filter((k) => !(k in entries));
    const unexpected = Object.keys(entries).filter((k) => !params.has(k));
    if (strict && (missing.length > 0 || unexpected.length > 0)) {
      throw new Error(
        `loadStateDict: missing keys [${missing.join(', ')}], unexpected keys [${unexpected.join(', ')}]`,
      );
    }
    for (const [name, p] of params) {
      if (!(name in entries)) continue;
      tf.tidy(() => {
        const value = torchLayout ? fromTorchLayout(entries[name], p.layout) : entries[name];
        if (!tf.util.arraysEqual(value.shape, p.variable.shape)) {
          const source = torchLayout ? ` (PyTorch shape [${entries[name].shape.join(', ')}], layout ${p.layout})` : '';
          throw new Error(
            `loadStateDict: '${name}' expected shape [${p.variable.shape.join(', ')}], got [${value.shape.join(', ')}]${source}`,
          );
        }
        p.variable.assign(tf.cast(value, p.variable.dtype));
      });
    }
    return { missing, unexpected };
  }

  dispose(): void {
    for (const [, p] of this.namedParameters()) p.variable.dispose();
  }
}

export function fromTorchLayout(t: tf.Tensor, layout: TorchLayout): tf.Tensor {
  switch (layout) {
    case 'same':
      return tf.clone(t);
    case 'linear':
      return tf.transpose(expectRank(t, 2, layout));
    case 'conv2d':
      return tf.transpose(expectRank(t, 4, layout), [2, 3, 1, 0]);
    case 'depthwise': {
      const [cm, one, kh, kw] = expectRank(t, 4, layout).shape;
      if (one !== 1)
        throw new Error(
          `fromTorchLayout: a depthwise weight has shape (C*mult, 1, kh, kw), got [${t.shape.join(', ')}]`,
        );
      // Without knowing C, keep mult = 1 (the depthwise convs here all have channel multiplier 1).
      return tf.reshape(tf.transpose(tf.reshape(t, [cm, kh, kw]), [1, 2, 0]), [kh, kw, cm, 1]);
    }
  }
}

export function toTorchLayout(t: tf.Tensor, layout: TorchLayout): tf.Tensor {
  switch (layout) {
    case 'same':
      return tf.clone(t);
    case 'linear':
      return tf.transpose(expectRank(t, 2, layout));
    case 'conv2d':
      return tf.transpose(expectRank(t, 4, layout), [3, 2, 0, 1]);
    case 'depthwise': {
      const [kh, kw, c, mult] = expectRank(t, 4, layout).shape;
      return tf.reshape(tf.transpose(tf.reshape(t, [kh, kw, c * mult]), [2, 0, 1]), [c * mult, 1, kh, kw]);
    }
  }
}

function expectRank(t: tf.Tensor, rank: number, layout: TorchLayout): tf.Tensor {
  if (t.rank !== rank)
    throw new Error(`torch layout '${layout}' needs rank ${rank}, got shape [${t.shape.join(', ')}]`);
  return t;
}

/** A module that maps one NHWC (or [..., features]) tensor to another. */
export interface Layer extends Module {
  forward(x: tf.Tensor): tf.Tensor;
}
