/**
 * A restricted unpickler: it understands the pickle opcodes `torch.save` emits (protocols 2 to 5) and builds
 * plain data. It never imports or calls anything: a GLOBAL / STACK_GLOBAL resolves only through the
 * `allowed` table the caller gives, and REDUCE / NEWOBJ / BUILD call only the functions of that table. Any
 * other global is refused when it is first named, before anything could use it.
 */

/** A pickled dict: string keys (other keys are stringified), no prototype (so '__proto__' is just a key). */
export type PickleDict = { [key: string]: PickleValue };
export type PickleValue = null | boolean | number | bigint | string | Uint8Array | PickleValue[] | PickleDict | object;

/** What an allowed global does when REDUCE calls it, or NEWOBJ instantiates it. */
export interface AllowedGlobal {
  call?: (args: PickleValue[]) => PickleValue;
  /** BUILD with a state on an object this global made; without it the state is refused. */
  build?: (target: PickleValue, state: PickleValue) => void;
}

export class GlobalRef {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly allowed: AllowedGlobal,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

export interface UnpickleOptions {
  fileName: string;
  /** Allowed globals by qualified name (`torch._utils._rebuild_tensor_v2`). */
  allowed: Record<string, AllowedGlobal>;
  /** Resolves a persistent id (torch's storages); without it, BINPERSID is refused. */
  persistentLoad?: (pid: PickleValue) => PickleValue;
  /** The deepest nesting of lists, tuples and dicts accepted (default 1000; checkpoints nest fewer than 10). */
  maxDepth?: number;
}

const MAX_DEPTH = 1000;

const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

export function newDict(): PickleDict {
  return Object.create(null) as PickleDict;
}

export function isDict(value: unknown): value is PickleDict {
  return value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === null;
}

export function unpickle(bytes: Uint8Array, options: UnpickleOptions): PickleValue {
  return unpickleAt(bytes, 0, options).value;
}

/** Unpickles the pickle starting at byte `start` and returns it with the position just after its STOP. */
export function unpickleAt(
  bytes: Uint8Array,
  start: number,
  options: UnpickleOptions,
): { value: PickleValue; end: number } {
  const { fileName, allowed, persistentLoad, maxDepth = MAX_DEPTH } = options;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: PickleValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  const makers = new WeakMap<object, GlobalRef>();
  let pos = start;

  const fail = (what: string) => new Error(`${fileName}: refusing to unpickle: ${what}`);
  const need = (n: number) => {
    if (pos + n > bytes.length) throw fail(`truncated pickle (needs ${n} bytes at ${pos}, has ${bytes.length - pos})`);
  };
  const u8 = () => (need(1), bytes[pos++]);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u64 = () => {
    need(8);
    const value = view.getBigUint64(pos, true);
    pos += 8;
    if (value > BigInt(bytes.length)) throw fail(`a length of ${value} exceeds the pickle`);
    return Number(value);
  };
  const take = (n: number) => (need(n), (pos += n), bytes.subarray(pos - n, pos));
  const text = (n: number) => new TextDecoder().decode(take(n));
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw fail('unterminated text line');
    const s = new TextDecoder().decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = () => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]))
      throw fail(`stack underflow at byte ${pos - 1}`);
    return stack.pop() as PickleValue;
  };
  const top = () => {
    if (stack.length === 0) throw fail(`stack underflow at byte ${pos - 1}`);
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const mark = marks.pop();
    if (mark === undefined) throw fail(`no MARK before byte ${pos - 1}`);
    return stack.splice(mark);
  };
  const resolveGlobal = (module: string, name: string) => {
    const qualified = `${module}.${name}`;
    const entry = allowed[qualified];
    if (entry === undefined || !Object.prototype.hasOwnProperty.call(allowed, qualified)) {
      throw fail(
        `global '${qualified}' is not allowed (only tensor-rebuilding globals are; this file may run code when loaded by PyTorch)`,
      );
    }
    return new GlobalRef(module, name, entry);
  };
  const asLong = (raw: Uint8Array) => {
    if (raw.length === 0) return 0;
    // Hex digits, most significant byte first, then one BigInt parse: linear in the length (a BigInt shift
    // per byte is quadratic, and a hostile LONG4 can be megabytes long).
    const hex = new Array<string>(raw.length);
    for (let i = 0; i < raw.length; i++) hex[i] = HEX_BYTE[raw[raw.length - 1 - i]];
    const value = BigInt.asIntN(8 * raw.length, BigInt(`0x${hex.join('')}`));
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  };
  const setItems = (target: PickleValue, items: PickleValue[]) => {
    if (!isDict(target)) throw fail(`SETITEM(S) on a non-dict at byte ${pos - 1}`);
    for (let i = 0; i + 1 < items.length; i += 2) target[keyOf(items[i])] = items[i + 1];
  };
  const keyOf = (k: PickleValue): string => {
    if (typeof k === 'string') return k;
    if (Array.isArray(k) && k.every((v) => v === null || typeof v !== 'object')) return JSON.stringify(k.map(String));
    if (k !== null && typeof k === 'object') throw fail(`a dict key that is a container at byte ${pos - 1}`);
    return String(k);
  };
  const call = (callable: PickleValue, args: PickleValue, opcode: string) => {
    if (!(callable instanceof GlobalRef))
      throw fail(`${opcode} of something that is not an allowed global at byte ${pos - 1}`);
    if (!callable.allowed.call)
      throw fail(`${opcode} of '${callable.qualifiedName}', which may be named but not called`);
    if (!Array.isArray(args)) throw fail(`${opcode} of '${callable.qualifiedName}' without an argument tuple`);
    const result = callable.allowed.call(args);
    if (result !== null && typeof result === 'object') makers.set(result, callable);
    return result;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw fail('pickle protocol above 5');
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) throw fail(`STOP with ${stack.length} values on the stack`);
        checkNesting(stack[0], maxDepth, fail);
        return { value: stack[0], end: pos };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(newDict());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x64: {
        // DICT
        const d = newDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: // LONG1
        stack.push(asLong(take(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(asLong(take(u32())));
        break;
      case 0x49: {
        // INT (text; protocol 0 booleans are I00 / I01)
        const s = line();
        stack.push(s === '00' ? false : s === '01' ? true : Number.parseInt(s, 10));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x54: // BINSTRING
        stack.push(text(u32()));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(text(u8()));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
        stack.push(take(u64()).slice());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const index = op === 0x68 ? u8() : u32();
        if (!memo.has(index)) throw fail(`memo entry ${index} read before it was written`);
        stack.push(memo.get(index) as PickleValue);
        break;
      }
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const value = pop();
        const list = top();
        if (!Array.isArray(list)) throw fail('APPEND to a non-list');
        list.push(value);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) throw fail('APPENDS to a non-list');
        for (const item of items) list.push(item);
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        stack.push(resolveGlobal(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw fail('STACK_GLOBAL with non-string names');
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        stack.push(call(callable, args, 'REDUCE'));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args, 'NEWOBJ'));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const target = top();
        const maker = target !== null && typeof target === 'object' ? makers.get(target) : undefined;
        if (!maker?.allowed.build)
          throw fail(
            `BUILD (setting state) on an object ${maker ? `made by '${maker.qualifiedName}'` : 'made by no allowed global'}`,
          );
        maker.allowed.build(target, state);
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!persistentLoad) throw fail('a persistent id, but this file type has none');
        stack.push(persistentLoad(pid));
        break;
      }
      default:
        throw fail(
          `unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} ('${String.fromCharCode(op)}') at byte ${pos - 1}`,
        );
    }
  }
}

/**
 * Refuses a result nested deeper than `maxDepth` or holding a cycle (the memo lets a pickle put a container
 * inside itself), so code that walks it recursively (stateDictOf, JSON, a caller's own) cannot overflow the
 * stack. Iterative, and each container is expanded once however often the memo shares it: linear in the size.
 */
function checkNesting(root: PickleValue, maxDepth: number, fail: (what: string) => Error): void {
  const depthOf = new Map<object, number>(); // finished containers: the depth of their deepest descendant + 1
  const onPath = new Set<object>();
  const children = (value: object): PickleValue[] =>
    Array.isArray(value) ? value : isDict(value) ? Object.values(value) : [];
  const frames: { node: object; next: number; items: PickleValue[] }[] = [];
  const enter = (node: PickleValue): void => {
    if (node === null || typeof node !== 'object' || ArrayBuffer.isView(node) || depthOf.has(node)) return;
    if (onPath.has(node)) throw fail('the structure contains itself (a cycle)');
    if (frames.length >= maxDepth) throw fail(`nesting deeper than ${maxDepth} levels`);
    onPath.add(node);
    frames.push({ node, next: 0, items: children(node) });
  };
  enter(root);
  while (frames.length > 0) {
    const frame = frames[frames.length - 1];
    if (frame.next < frame.items.length) {
      const child = frame.items[frame.next++];
      const known = child !== null && typeof child === 'object' ? depthOf.get(child) : undefined;
      if (known !== undefined && frames.length + known > maxDepth) throw fail(`nesting deeper than ${maxDepth} levels`);
      enter(child);
      continue;
    }
    frames.pop();
    onPath.delete(frame.node);
    let deepest = 0;
    for (const child of frame.items) {
      const d = child !== null && typeof child === 'object' ? (depthOf.get(child) ?? 0) : 0;
      if (d > deepest) deepest = d;
    }
    depthOf.set(frame.node, deepest + 1);
  }
}
