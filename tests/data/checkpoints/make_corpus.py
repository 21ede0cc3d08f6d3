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
        if pickle_bytes is not None:
            z.writestr(folder + '/data.pkl', pickle_bytes)
        z.writestr(folder + '/version', b'3\n')
        for key, data in storages.items():
            z.writestr(folder + '/data/' + key, data)


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


def main():
    write_zip('tiny_zip.pth', zip_pickle(), {'0': F32, '1': F16, '2': I64}, folder='tiny_zip')
    open('tiny_legacy.pth', 'wb').write(legacy_bytes(legacy_object()))
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
