import { ITEM_SIZE, convertStored, tfDtypeOf, type StoredDtype } from './dtypes';
import {
  GlobalRef,
  isDict,
  newDict,
  unpickle,
  unpickleAt,
  type AllowedGlobal,
  type PickleDict,
  type PickleValue,
} from './pickle';
import { emptyRecord, isTensorData, type TensorData } from './tensor_data';
import { memoryBudget, type MemoryBudget, type ReadPthOptions } from './budget';
import { readZip } from './zip';

/** torch's storage classes, as named in a checkpoint's persistent ids, and their element types. */
const STORAGE_DTYPES: Record<string, StoredDtype> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

interface Storage {
  dtype: StoredDtype;
  bytes: Uint8Array;
  numel: number;
  key: string;
}

/**
 * Reads a PyTorch checkpoint written by `torch.save`: the zip format (PyTorch >= 1.6, `<archive>/data.pkl`
 * plus one `<archive>/data/<key>` entry per storage) or the legacy format of older releases (a sequence of
 * pickles followed by the raw storages). The pickle goes through a restricted unpickler that accepts only the
 * globals a state_dict (or a `{'model': state_dict, 'epoch': ..}` checkpoint) needs and refuses any other with
 * an error naming it; nothing is ever executed. Tensors come back as `TensorData` (dtype rule in `dtypes.ts`),
 * with strided views and storage offsets resolved; dicts as prototype-less objects.
 */
export function readPth(bytes: Uint8Array, fileName = 'checkpoint.pth', options: ReadPthOptions = {}): PickleValue {
  const budget = memoryBudget(bytes.length, fileName, options);
  const isZip = bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  if (!isZip && bytes.length >= 2 && bytes[0] === 0x80) return readLegacy(bytes, fileName, budget);
  const entries = readZip(bytes, fileName, budget);
  const pickles = [...entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pickles.length !== 1)
    throw new Error(`${fileName}: expected one '<archive>/data.pkl' in the zip, found ${pickles.length}`);
  const prefix = pickles[0].slice(0, -'data.pkl'.length);
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder && new TextDecoder().decode(byteorder) !== 'little')
    throw new Error(`${fileName}: big-endian checkpoints are not supported`);

  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: PickleValue): PickleValue => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5)
      throw new Error(`${fileName}: unsupported persistent id ${JSON.stringify(String(pid))}`);
    const [, type, key, , numel] = pid as [string, PickleValue, PickleValue, PickleValue, PickleValue];
    const dtype = storageDtype(type, fileName);
    if (typeof key !== 'string' || !isCount(numel))
      throw new Error(`${fileName}: malformed storage id for key ${String(key)} (element count ${String(numel)})`);
    const cached = storages.get(key);
    if (cached) return cached;
    const data = entries.get(`${prefix}data/${key}`);
    if (!data) throw new Error(`${fileName}: storage '${key}' is missing from the archive (no ${prefix}data/${key})`);
    if (data.length < numel * ITEM_SIZE[dtype])
      throw new Error(`${fileName}: storage '${key}' holds ${data.length} bytes, fewer than ${numel} x ${dtype}`);
    const storage: Storage = { dtype, bytes: data, numel, key };
    storages.set(key, storage);
    return storage;
  };
  return unpickle(entries.get(pickles[0]) as Uint8Array, {
    fileName,
    allowed: tensorGlobals(fileName, budget),
    persistentLoad,
  });
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/**
 * The legacy format: pickles of the magic number, the protocol version (1001) and system info, then the
 * object pickle (storages as persistent ids), the pickled list of storage keys, and each storage in that
 * order as an int64 element count followed by its bytes. The storages come after the pickle that uses them,
 * so the object pickle is read twice: once to find where it ends, once with the storages in hand.
 */
function readLegacy(bytes: Uint8Array, fileName: string, budget: MemoryBudget): PickleValue {
  const plain = { fileName, allowed: {} };
  const magic = unpickleAt(bytes, 0, plain);
  if (magic.value !== LEGACY_MAGIC)
    throw new Error(`${fileName}: neither a zip checkpoint nor a legacy torch.save file (bad magic number)`);
  const protocol = unpickleAt(bytes, magic.end, plain);
  if (protocol.value !== 1001)
    throw new Error(`${fileName}: legacy checkpoint protocol ${String(protocol.value)}, expected 1001`);
  const sysInfo = unpickleAt(bytes, protocol.end, plain);
  if (!isDict(sysInfo.value) || sysInfo.value.little_endian !== true)
    throw new Error(`${fileName}: big-endian checkpoints are not supported`);

  const declared = new Map<string, { dtype: StoredDtype; numel: number }>();
  const placeholder = (pid: PickleValue): PickleValue => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 6)
      throw new Error(`${fileName}: unsupported persistent id ${JSON.stringify(String(pid))}`);
    const [, type, key, , numel, view] = pid as [
      string,
      PickleValue,
      PickleValue,
      PickleValue,
      PickleValue,
      PickleValue,
    ];
    if (view !== null) throw new Error(`${fileName}: storage views (legacy view_metadata) are not supported`);
    if (typeof key !== 'string' || !isCount(numel))
      throw new Error(`${fileName}: malformed storage id for key ${String(key)} (element count ${String(numel)})`);
    declared.set(key, { dtype: storageDtype(type, fileName), numel });
    return null;
  };
  const skipped = unpickleAt(bytes, sysInfo.end, {
    fileName,
    allowed: placeholderGlobals(fileName, budget),
    persistentLoad: placeholder,
  });
  const keys = unpickleAt(bytes, skipped.end, plain);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string'))
    throw new Error(`${fileName}: malformed storage key list`);
  const storages = new Map<string, Storage>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = keys.end;
  for (const key of keys.value as string[]) {
    const info = declared.get(key);
    if (!info) throw new Error(`${fileName}: storage '${key}' is listed but never used`);
    if (at + 8 > bytes.length) throw new Error(`${fileName}: storage '${key}' runs past the end of the file`);
    const numel = Number(view.getBigInt64(at, true));
    const size = numel * ITEM_SIZE[info.dtype];
    if (numel !== info.numel || at + 8 + size > bytes.length)
      throw new Error(
        `${fileName}: storage '${key}' (${numel} elements at byte ${at}) does not match its declaration or runs past the end`,
      );
    storages.set(key, { dtype: info.dtype, bytes: bytes.subarray(at + 8, at + 8 + size), numel, key });
    at += 8 + size;
  }
  const persistentLoad = (pid: PickleValue): PickleValue =>
    storages.get((pid as PickleValue[])[2] as string) as unknown as PickleValue;
  return unpickleAt(bytes, sysInfo.end, { fileName, allowed: tensorGlobals(fileName, budget), persistentLoad }).value;
}

function storageDtype(type: PickleValue, fileName: string): StoredDtype {
  if (!(type instanceof GlobalRef) || !(type.name in STORAGE_DTYPES))
    throw new Error(
      `${fileName}: storage of unsupported type ${type instanceof GlobalRef ? type.qualifiedName : String(type)}`,
    );
  return STORAGE_DTYPES[type.name];
}

/** The globals a checkpoint may name: tensor rebuilding, OrderedDict, storage types, argparse records. */
function tensorGlobals(fileName: string, budget: MemoryBudget): Record<string, AllowedGlobal> {
  const rebuild = (args: PickleValue[]): TensorData => {
    const [storage, offset, size, stride] = args;
    return viewOf(storage as unknown as Storage, offset, size, stride, fileName, budget);
  };
  const allowed: Record<string, AllowedGlobal> = {
    'torch._utils._rebuild_tensor_v2': { call: rebuild },
    'torch._utils._rebuild_tensor': { call: rebuild },
    'torch._utils._rebuild_parameter': { call: (args) => args[0] },
    'torch._utils._rebuild_parameter_with_state': { call: (args) => args[0] },
    'collections.OrderedDict': {
      call: (args) => {
        const dict = newDict();
        for (const pair of (args[0] as PickleValue[] | undefined) ?? []) {
          if (Array.isArray(pair) && pair.length === 2) dict[String(pair[0])] = pair[1];
        }
        return dict;
      },
      // A state_dict pickles its `_metadata` (per-module versions) as instance state: not needed here.
      build: () => {},
    },
    // Training scripts often store their argparse arguments; they load as a plain record of values.
    'argparse.Namespace': {
      call: () => newDict(),
      build: (target, state) => {
        if (isDict(state)) Object.assign(target as PickleDict, state);
      },
    },
  };
  for (const name of Object.keys(STORAGE_DTYPES)) allowed[`torch.${name}`] = {};
  return allowed;
}

/** The same globals, with tensor rebuilding returning null placeholders: the legacy format's first pass reads only structure. */
function placeholderGlobals(fileName: string, budget: MemoryBudget): Record<string, AllowedGlobal> {
  const allowed = tensorGlobals(fileName, budget);
  for (const name of ['torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor'])
    allowed[name] = { call: () => null };
  return allowed;
}

/** A non-negative safe integer: an element count, offset, size or stride (NaN and 2^53 are not). */
function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function viewOf(
  storage: Storage,
  offset: PickleValue,
  size: PickleValue,
  stride: PickleValue,
  fileName: string,
  budget: MemoryBudget,
): TensorData {
  if (!storage || typeof storage !== 'object' || !('bytes' in storage))
    throw new Error(`${fileName}: a tensor rebuild without a storage`);
  const where = `${fileName}: tensor on storage '${storage.key}'`;
  if (!isCount(offset)) throw new Error(`${where}: bad storage offset ${String(offset)}`);
  const ints = (v: PickleValue) => Array.isArray(v) && v.every(isCount);
  if (!ints(size) || !ints(stride) || (size as number[]).length !== (stride as number[]).length) {
    throw new Error(`${where}: bad size/stride ${JSON.stringify(size)} / ${JSON.stringify(stride)}`);
  }
  const shape = size as number[];
  const strides = stride as number[];
  const dtype = tfDtypeOf(storage.dtype);
  if (shape.includes(0)) return { dtype, shape, values: convertStored(new Uint8Array(0), storage.dtype, null, where) };
  // Every element addressed lies in the storage exactly when the last one does (strides are >= 0); the sums
  // are checked one term at a time so no product overflows past 2^53 unnoticed.
  let last = offset;
  let count = 1;
  for (let i = 0; i < shape.length; i++) {
    last += (shape[i] - 1) * strides[i];
    count *= shape[i];
    if (!Number.isSafeInteger(last) || !Number.isSafeInteger(count)) break;
  }
  if (!Number.isSafeInteger(last) || last >= storage.numel)
    throw new Error(
      `${where}: view (offset ${offset}, size [${shape}], stride [${strides}]) reaches element ${last} of a ${storage.numel}-element storage`,
    );
  if (!Number.isSafeInteger(count)) throw new Error(`${where}: size [${shape}] has more than 2^53 elements`);
  const outBytes = count * (dtype === 'bool' ? 1 : 4);
  budget.take(contiguousView(shape, strides) ? outBytes : outBytes + 8 * count, `a [${shape}] ${storage.dtype} tensor`);
  const itemSize = ITEM_SIZE[storage.dtype];
  if (contiguousView(shape, strides)) {
    return {
      dtype,
      shape,
      values: convertStored(
        storage.bytes.subarray(offset * itemSize, (offset + count) * itemSize),
        storage.dtype,
        null,
        where,
      ),
    };
  }
  // A strided view (a transpose, a slice): gather its elements in row-major order.
  const indices = new Float64Array(count);
  const index = new Array<number>(shape.length).fill(0);
  let at = offset;
  for (let n = 0; n < count; n++) {
    indices[n] = at;
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d]++;
      at += strides[d];
      if (index[d] < shape[d]) break;
      at -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
  return { dtype, shape, values: convertStored(storage.bytes, storage.dtype, indices, where) };
}

function contiguousView(shape: number[], strides: number[]): boolean {
  for (let i = shape.length - 1, expected = 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

/**
 * The tensors of a loaded checkpoint flattened to dotted names. With `key`, starts from that entry
 * (`'model'`, `'state_dict'`); without, uses `model` or `state_dict` when the top level has one and is
 * otherwise the state_dict itself. Non-tensor leaves (epoch numbers, args) are skipped.
 */
export function stateDictOf(checkpoint: PickleValue, key?: string): Record<string, TensorData> {
  let root = checkpoint;
  if (key !== undefined) {
    if (!isDict(root) || !(key in root))
      throw new Error(
        `stateDictOf: the checkpoint has no entry '${key}' (top-level keys: ${isDict(root) ? Object.keys(root).join(', ') : 'none'})`,
      );
    root = root[key];
  } else if (isDict(root)) {
    for (const candidate of ['model', 'state_dict']) {
      if (isDict(root[candidate])) {
        root = root[candidate];
        break;
      }
    }
  }
  const out = emptyRecord<TensorData>();
  const walk = (value: PickleValue, prefix: string) => {
    if (isTensorData(value)) out[prefix.slice(0, -1)] = value;
    else if (isDict(value)) for (const [k, v] of Object.entries(value)) walk(v, `${prefix}${k}.`);
  };
  walk(root, '');
  return out;
}
