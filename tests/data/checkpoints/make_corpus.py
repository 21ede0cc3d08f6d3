#!/usr/bin/env python3
"""Writes the tiny hand-made checkpoints in this folder (run once; tests never run Python).

The pickles are assembled opcode by opcode, so no torch is needed. Contents of the valid files
(the tests assert these exact values):
  storage 0 float32 [0, 1, 2, 3, 4, 5]; storage 1 float16 [1, -2.5, 65504]; storage 2 int64 [12345]
  w    = storage 0, offset 0, size (2, 3), stride (1, 2)  -> [[0, 2, 4], [1, 3, 5]]  (transposed)
  tail = storage 0, offset 4, size (2,),  stride (1,)     -> [4, 5]  (shared storage + offset)
  h    = storage 1 as an nn.Parameter                     -> [1, -2.5, 65504]
  n    = storage 2, size ()                               -> 12345  (0-dim int64)
tiny_zip.pth nests them: {"model": OrderedDict(w, tail, h, n), "epoch": 3}.
tiny_legacy.pth is a flat OrderedDict; its "tail" uses a legacy storage view (offset 4, size 2).
tiny_zip_proto4.pth / tiny_legacy_proto5.pth: the same, written by Python's pickler at protocol
4 / 5 (FRAME, MEMOIZE, STACK_GLOBAL, SHORT_BINUNICODE), as torch.save(..., pickle_protocol=4).
"""
import struct
import zipfile

MAGIC = 0x1950a86a20f9469cfc6c


def proto():
    return b'\x80\x02'


def uni(s):
    b = s.encode()
    return b'X' + struct.pack('<I', len(b)) + b


def glob(module, name):
    return b'c' + module.encode() + b'\n' + name.encode() + b'\n'


def int_(v):
    if 0 <= v < 256:
        return b'K' + bytes([v])
    if 0 <= v < 65536:
        return b'M' + struct.pack('<H', v)
    return b'J' + struct.pack('<i', v)


def tup(items):
    return b'(' + b''.join(items) + b't'


def storage_pid(stype, key, numel, view=None, legacy=False):
    fields = [uni('storage'), glob('torch', stype), uni(key), uni('cpu'), int_(numel)]
    if legacy:
        fields.append(b'N' if view is None else tup([uni(view[0]), int_(view[1]), int_(view[2])]))
    return tup(fields) + b'Q'


def tensor(pid, offset, size, stride):
    return (glob('torch._utils', '_rebuild_tensor_v2') +
            tup([pid, int_(offset), tup([int_(s) for s in size]), tup([int_(s) for s in stride]),
                 b'\x89', glob('collections', 'OrderedDict') + b')R']) + b'R')


def parameter(t):
    return glob('torch._utils', '_rebuild_parameter') + tup([t, b'\x88', b'}']) + b'R'


def odict(items):
    body = b''.join(uni(k) + v for k, v in items)
    return glob('collections', 'OrderedDict') + b')R' + b'(' + body + b'u'


F32 = struct.pack('<6f', 0, 1, 2, 3, 4, 5)
F16 = struct.pack('<3e', 1.0, -2.5, 65504.0)
I64 = struct.pack('<q', 12345)


def state_items(legacy):
    s0 = lambda view=None: storage_pid('FloatStorage', '0', 6, view, legacy)
    tail = (tensor(s0(('v1', 4, 2)), 0, (2,), (1,)) if legacy else tensor(s0(), 4, (2,), (1,)))
    return [
        ('w', tensor(s0(), 0, (2, 3), (1, 2))),
        ('tail', tail),
        ('h', parameter(tensor(storage_pid('HalfStorage', '1', 3, None, legacy), 0, (3,), (1,)))),
        ('n', tensor(storage_pid('LongStorage', '2', 1, None, legacy), 0, (), ())),
    ]


def zip_pickle():
    return proto() + b'}(' + uni('model') + odict(state_items(False)) + uni('epoch') + int_(3) + b'u.'


def write_zip(path, pickle_bytes, storages, folder='archive'):
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as z:
        def add(name, data):  # a fixed date keeps regenerated files byte-identical
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)

        if pickle_bytes is not None:
            add(folder + '/data.pkl', pickle_bytes)
        add(folder + '/version', b'3\n')
        for key, data in storages.items():
            add(folder + '/data/' + key, data)


def long1(v):
    b = v.to_bytes((v.bit_length() + 8) // 8, 'little', signed=True)
    return b'\x8a' + bytes([len(b)]) + b


def legacy_bytes(object_pickle, counts=(6, 3, 1), datas=(F32, F16, I64), keys=('0', '1', '2')):
    out = proto() + long1(MAGIC) + b'.'
    out += proto() + int_(1001) + b'.'
    out += proto() + b'}(' + uni('protocol_version') + int_(1001) + uni('little_endian') + b'\x88' + b'u.'
    out += object_pickle
    out += proto() + b']' + b'(' + b''.join(uni(k) for k in keys) + b'e.'
    for count, data in zip(counts, datas):
        out += struct.pack('<q', count) + data
    return out


def legacy_object():
    return proto() + odict(state_items(True)) + b'.'


# --- the same checkpoints written by Python's own pickler at protocols 4/5 (torch.save's
# pickle_protocol argument), which use SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE and FRAME.
# Stand-in modules named like torch's let the pickler reference the classes by name, exactly
# as torch.save does through persistent_id.
def python_pickles(protocol, legacy):
    import collections
    import io
    import pickle
    import sys
    import types

    torch = types.ModuleType('torch')
    utils = types.ModuleType('torch._utils')
    sys.modules.update({'torch': torch, 'torch._utils': utils})
    storage_types = {}
    for name in ('FloatStorage', 'HalfStorage', 'LongStorage'):
        cls = type(name, (), {'__module__': 'torch'})
        setattr(torch, name, cls)
        storage_types[name] = cls

    def _rebuild_tensor_v2(*args):
        raise NotImplementedError

    def _rebuild_parameter(*args):
        raise NotImplementedError

    for fn in (_rebuild_tensor_v2, _rebuild_parameter):
        fn.__module__ = 'torch._utils'
        fn.__qualname__ = fn.__name__
        setattr(utils, fn.__name__, fn)

    class Storage:
        def __init__(self, stype, key, numel, view=None):
            self.pid = ('storage', storage_types[stype], key, 'cpu', numel)
            if legacy:
                self.pid += (view,)

    class Tensor:
        def __init__(self, storage, offset, size, stride):
            self.args = (storage, offset, size, stride, False, collections.OrderedDict())

        def __reduce__(self):
            return (_rebuild_tensor_v2, self.args)

    class Parameter:
        def __init__(self, tensor):
            self.tensor = tensor

        def __reduce__(self):
            return (_rebuild_parameter, (self.tensor, True, collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return obj.pid if isinstance(obj, Storage) else None

    s0 = Storage('FloatStorage', '0', 6)
    tail = (Tensor(Storage('FloatStorage', '0', 6, ('v1', 4, 2)), 0, (2,), (1,)) if legacy
            else Tensor(s0, 4, (2,), (1,)))
    sd = collections.OrderedDict([
        ('w', Tensor(s0, 0, (2, 3), (1, 2))),
        ('tail', tail),
        ('h', Parameter(Tensor(Storage('HalfStorage', '1', 3), 0, (3,), (1,)))),
        ('n', Tensor(Storage('LongStorage', '2', 1), 0, (), ())),
    ])
    obj = sd if legacy else {'model': sd, 'epoch': 3}

    def dumps(value):
        buf = io.BytesIO()
        Pickler(buf, protocol=protocol).dump(value)
        return buf.getvalue()

    try:
        if not legacy:
            return dumps(obj)
        out = dumps(MAGIC) + dumps(1001) + dumps({'protocol_version': 1001, 'little_endian': True})
        out += dumps(obj) + dumps(['0', '1', '2'])
        for count, data in zip((6, 3, 1), (F32, F16, I64)):
            out += struct.pack('<q', count) + data
        return out
    finally:
        for name in ('torch', 'torch._utils'):
            del sys.modules[name]


def main():
    write_zip('tiny_zip.pth', zip_pickle(), {'0': F32, '1': F16, '2': I64}, folder='tiny_zip')
    open('tiny_legacy.pth', 'wb').write(legacy_bytes(legacy_object()))
    write_zip('tiny_zip_proto4.pth', python_pickles(4, legacy=False), {'0': F32, '1': F16, '2': I64})
    open('tiny_legacy_proto5.pth', 'wb').write(python_pickles(5, legacy=True))
    # --- broken files: each must be rejected with a clear message ---
    write_zip('zip_without_data_pkl.pth', None, {'0': F32})
    write_zip('zip_short_storage.pth', zip_pickle(), {'0': F32[:20], '1': F16, '2': I64})
    write_zip('zip_missing_storage.pth', zip_pickle(), {'0': F32, '2': I64})
    open('legacy_unknown_opcode.pth', 'wb').write(
        legacy_bytes(legacy_object().replace(uni('tail'), b'\xff' + uni('tail'))))
    open('legacy_bad_storage_size.pth', 'wb').write(legacy_bytes(legacy_object(), counts=(6, 1000, 1)))
    bad_view = legacy_object().replace(
        tup([int_(2)]) + tup([int_(1)]), tup([int_(3)]) + tup([int_(1)]), 1)  # tail: size 3 > view 2
    open('legacy_view_out_of_bounds.pth', 'wb').write(legacy_bytes(bad_view))
    open('not_a_checkpoint.png', 'wb').write(b'\x89PNG\r\n\x1a\n' + b'\x00' * 24)


if __name__ == '__main__':
    main()
