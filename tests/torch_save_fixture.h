// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Test fixture: PyTorch checkpoints in torch.save's zip format, written here from the format's description
// (a stored zip of <folder>/data.pkl, a protocol-2 pickle of an OrderedDict of
// torch._utils._rebuild_tensor_v2 calls, and <folder>/data/<key>, each storage's little-endian bytes),
// independently of the core's reader. Every field can be set wrong on purpose, for the hostile-input tests.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace torch_save_fixture {

/// One state dict entry: `storage` (a record key) viewed with offset / size / stride.
struct Entry {
    std::string name, storage;
    int64_t offset = 0;
    std::vector<int64_t> size, stride;
};
/// One storage: its class (torch.<type>), the element count the pickle claims, and its record's bytes.
struct Storage {
    std::string type = "FloatStorage";
    int64_t numel = 0;
    std::string bytes;
};

/// A bitwise CRC-32 (IEEE), as zip computes it.
inline uint32_t crc32(const std::string& s) {
    uint32_t c = 0xffffffffu;
    for (unsigned char ch : s) {
        c ^= ch;
        for (int k = 0; k < 8; ++k)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

inline void putLe(std::string& out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
        out += char((v >> (8 * i)) & 0xff);
}

/// Pickle pieces (protocol 2).
inline std::string pkInt(int64_t v) {
    std::string s;
    if (v >= INT32_MIN && v <= INT32_MAX) {
        s = "J";
        putLe(s, uint64_t(uint32_t(int32_t(v))), 4);
    } else {
        s = "\x8a\x08";
        putLe(s, uint64_t(v), 8);
    }
    return s;
}
inline std::string pkStr(const std::string& v) {
    std::string s = "X";
    putLe(s, v.size(), 4);
    return s + v;
}
inline std::string pkGlobal(const std::string& module, const std::string& name) {
    return "c" + module + "\n" + name + "\n";
}
inline std::string pkIntTuple(const std::vector<int64_t>& v) {
    std::string s = "(";
    for (int64_t x : v)
        s += pkInt(x);
    return s + "t";
}

/// data.pkl of an OrderedDict {entry.name: _rebuild_tensor_v2(persistent storage, offset, size, stride,
/// False, OrderedDict())}.
inline std::string statePickle(const std::vector<Entry>& entries, const std::map<std::string, Storage>& st) {
    std::string p = "\x80\x02" + pkGlobal("collections", "OrderedDict") + ")R(";
    for (const Entry& e : entries) {
        const Storage& s = st.at(e.storage);
        p += pkStr(e.name) + pkGlobal("torch._utils", "_rebuild_tensor_v2") + "((" + pkStr("storage") +
             pkGlobal("torch", s.type) + pkStr(e.storage) + pkStr("cpu") + pkInt(s.numel) + "tQ" +
             pkInt(e.offset) + pkIntTuple(e.size) + pkIntTuple(e.stride) + "\x89" +
             pkGlobal("collections", "OrderedDict") + ")RtR";
    }
    return p + "u.";
}

struct ZipOptions {
    uint16_t method = 0;  // 8 would claim deflate
    bool zip64 = false;   // sizes and offsets through the ZIP64 extra field and end records
};

/// A zip archive of `files` (name → bytes), entries stored, each record's data aligned to 64 bytes as
/// torch.save aligns them.
inline std::string zipArchive(const std::vector<std::pair<std::string, std::string>>& files,
                              const ZipOptions& o = {}) {
    std::string out, cd;
    for (const auto& [name, data] : files) {
        const uint64_t local = out.size();
        const size_t headerEnd = local + 30 + name.size() + 4;  // + a padding extra field's header
        const size_t pad = (64 - headerEnd % 64) % 64;
        std::string extra;
        putLe(extra, 0x4246, 2);  // "FB": PyTorch's padding field
        putLe(extra, pad, 2);
        extra += std::string(pad, 'Z');
        const uint32_t crc = crc32(data);
        out += "PK\x03\x04";
        putLe(out, 20, 2);
        putLe(out, 0, 2);
        putLe(out, o.method, 2);
        putLe(out, 0, 4);  // time, date
        putLe(out, crc, 4);
        putLe(out, o.zip64 ? 0xffffffffu : data.size(), 4);
        putLe(out, o.zip64 ? 0xffffffffu : data.size(), 4);
        putLe(out, name.size(), 2);
        putLe(out, extra.size(), 2);
        out += name + extra + data;
        std::string cextra;
        if (o.zip64) {
            putLe(cextra, 0x0001, 2);
            putLe(cextra, 24, 2);
            putLe(cextra, data.size(), 8);
            putLe(cextra, data.size(), 8);
            putLe(cextra, local, 8);
        }
        cd += "PK\x01\x02";
        putLe(cd, 45, 2);
        putLe(cd, 45, 2);
        putLe(cd, 0, 2);
        putLe(cd, o.method, 2);
        putLe(cd, 0, 4);
        putLe(cd, crc, 4);
        putLe(cd, o.zip64 ? 0xffffffffu : data.size(), 4);
        putLe(cd, o.zip64 ? 0xffffffffu : data.size(), 4);
        putLe(cd, name.size(), 2);
        putLe(cd, cextra.size(), 2);
        putLe(cd, 0, 2);  // comment
        putLe(cd, 0, 2);  // disk
        putLe(cd, 0, 2);  // internal attributes
        putLe(cd, 0, 4);  // external attributes
        putLe(cd, o.zip64 ? 0xffffffffu : local, 4);
        cd += name + cextra;
    }
    const uint64_t cdOffset = out.size();
    out += cd;
    if (o.zip64) {
        const uint64_t z = out.size();
        out += "PK\x06\x06";
        putLe(out, 44, 8);
        putLe(out, 45, 2);
        putLe(out, 45, 2);
        putLe(out, 0, 4);
        putLe(out, 0, 4);
        putLe(out, files.size(), 8);
        putLe(out, files.size(), 8);
        putLe(out, cd.size(), 8);
        putLe(out, cdOffset, 8);
        out += "PK\x06\x07";
        putLe(out, 0, 4);
        putLe(out, z, 8);
        putLe(out, 1, 4);
    }
    out += "PK\x05\x06";
    putLe(out, 0, 2);
    putLe(out, 0, 2);
    putLe(out, o.zip64 ? 0xffff : files.size(), 2);
    putLe(out, o.zip64 ? 0xffff : files.size(), 2);
    putLe(out, o.zip64 ? 0xffffffffu : cd.size(), 4);
    putLe(out, o.zip64 ? 0xffffffffu : cdOffset, 4);
    putLe(out, 0, 2);
    return out;
}

/// The checkpoint file's bytes: `folder`/data.pkl, `folder`/data/<key>, `folder`/version.
inline std::string checkpoint(const std::vector<Entry>& entries, const std::map<std::string, Storage>& st,
                              const ZipOptions& o = {}, const std::string& folder = "archive") {
    std::vector<std::pair<std::string, std::string>> files{{folder + "/data.pkl", statePickle(entries, st)}};
    for (const auto& [key, s] : st)
        files.emplace_back(folder + "/data/" + key, s.bytes);
    files.emplace_back(folder + "/version", "3\n");
    return zipArchive(files, o);
}

/// The bytes of a state dict of contiguous tensors: float tensors stored as `dtype` (kFloat, kHalf,
/// kBFloat16), int64 tensors as LongStorage; one storage per tensor.
inline std::string checkpointOf(const std::map<std::string, torch::Tensor>& tensors,
                                torch::ScalarType dtype = torch::kFloat) {
    std::vector<Entry> entries;
    std::map<std::string, Storage> st;
    for (const auto& [name, t0] : tensors) {
        const bool isLong = t0.scalar_type() == torch::kLong;
        const torch::Tensor t = (isLong ? t0 : t0.to(dtype)).contiguous();
        const std::string key = std::to_string(entries.size());
        Storage s;
        s.type = isLong                      ? "LongStorage"
                 : dtype == torch::kHalf     ? "HalfStorage"
                 : dtype == torch::kBFloat16 ? "BFloat16Storage"
                                             : "FloatStorage";
        s.numel = t.numel();
        s.bytes.assign(static_cast<const char*>(t.data_ptr()), size_t(t.numel() * t.element_size()));
        st[key] = s;
        Entry e{name, key, 0, t.sizes().vec(), t.strides().vec()};
        entries.push_back(e);
    }
    return checkpoint(entries, st);
}

}  // namespace torch_save_fixture
