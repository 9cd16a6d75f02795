// SPDX-License-Identifier: GPL-3.0-or-later
#include "io/torch_pickle.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <unordered_map>
#include <vector>

#include "io/safetensors.h"
#include "util/error.h"
#include "util/files.h"

namespace peft {

namespace {

// ----- bounds ---------------------------------------------------------------------------------------------
// A state dict's data.pkl holds ~150 bytes and ~20 values per tensor (BART-large: ~80 KB, 500 tensors).
constexpr uint64_t kMaxPickleBytes = 64ull << 20;
constexpr size_t kMaxValues = 4'000'000;
constexpr size_t kMaxZipEntries = 1'000'000;
constexpr size_t kMaxDims = 16;
// What the tensors read may take beyond the file's own size: views share a storage and float16 grows to
// float32, uint8 masks to int64, but a file whose views of one storage would copy it a thousand times is
// refused before it exhausts memory.
constexpr uint64_t kOutputFactor = 8, kOutputSlack = 64ull << 20;

uint16_t le16(const char* p) {
    return uint16_t(uint8_t(p[0]) | uint8_t(p[1]) << 8);
}
uint32_t le32(const char* p) {
    return uint32_t(le16(p)) | uint32_t(le16(p + 2)) << 16;
}
uint64_t le64(const char* p) {
    return uint64_t(le32(p)) | uint64_t(le32(p + 4)) << 32;
}

/// CRC-32 (IEEE, as zip), eight bytes per step ("slicing by 8"): a 500 MB checkpoint is checked in well
/// under a second.
uint32_t crc32(const char* p, size_t n) {
    static const auto table = [] {
        std::array<std::array<uint32_t, 256>, 8> t{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k)
                c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
            t[0][i] = c;
        }
        for (uint32_t i = 0; i < 256; ++i)
            for (size_t s = 1; s < 8; ++s)
                t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
        return t;
    }();
    uint32_t c = 0xffffffffu;
    const auto* u = reinterpret_cast<const uint8_t*>(p);
    for (; n >= 8; n -= 8, u += 8) {
        const uint32_t lo =
            c ^ (uint32_t(u[0]) | uint32_t(u[1]) << 8 | uint32_t(u[2]) << 16 | uint32_t(u[3]) << 24);
        c = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
            table[4][lo >> 24] ^ table[3][u[4]] ^ table[2][u[5]] ^ table[1][u[6]] ^ table[0][u[7]];
    }
    for (; n > 0; --n, ++u)
        c = table[0][(c ^ *u) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

// ----- the zip archive ------------------------------------------------------------------------------------

struct ZipEntry {
    std::string name;
    uint64_t offset = 0, size = 0;  // the stored bytes
    uint32_t crc = 0;
    uint16_t method = 0;
};

/// The bytes of a record, checked: stored (torch.save never compresses) and its CRC-32 right.
const char* recordBytes(const char* archive, const ZipEntry& e, const std::string& src) {
    if (e.method != 0)
        throw Error(src, "entry '" + e.name + "' is compressed (method " + std::to_string(e.method) +
                             "); torch.save stores its records uncompressed — re-save the checkpoint with "
                             "torch.save rather than re-zipping it");
    const char* data = archive + e.offset;
    if (crc32(data, size_t(e.size)) != e.crc)
        throw Error(src + ": " + e.name, "CRC-32 mismatch: the record is damaged");
    return data;
}

/// The entries of a zip archive, validated against `n` bytes: every entry stored (method 0), unencrypted,
/// one disk, its bytes inside the file. ZIP64 sizes and offsets are read where the 32-bit fields say so.
std::unordered_map<std::string, ZipEntry> readZip(const char* b, size_t n, const std::string& src) {
    auto bad = [&](const std::string& why) { return Error(src, "damaged zip archive: " + why); };
    if (n < 22) throw bad("shorter than a zip's end record");
    // The end-of-central-directory record: within the last 22 + 65535 (comment) bytes.
    size_t eocd = std::string::npos;
    const size_t lowest = n - 22 > 65535 ? n - 22 - 65535 : 0;
    for (size_t i = n - 22 + 1; i-- > lowest;)
        if (le32(b + i) == 0x06054b50u) {
            eocd = i;
            break;
        }
    if (eocd == std::string::npos) throw bad("no end-of-central-directory record");
    uint64_t entries = le16(b + eocd + 10), cdSize = le32(b + eocd + 12), cdOffset = le32(b + eocd + 16);
    if (le16(b + eocd + 4) != 0 || le16(b + eocd + 6) != 0) throw bad("spans several disks");
    if (entries == 0xffff || cdSize == 0xffffffffu || cdOffset == 0xffffffffu) {
        if (eocd < 20 || le32(b + eocd - 20) != 0x07064b50u) throw bad("ZIP64 locator missing");
        const uint64_t z = le64(b + eocd - 20 + 8);
        if (z > n || n - z < 56 || le32(b + z) != 0x06064b50u) throw bad("ZIP64 end record missing");
        entries = le64(b + z + 32);
        cdSize = le64(b + z + 40);
        cdOffset = le64(b + z + 48);
    }
    if (cdOffset > n || cdSize > n - cdOffset) throw bad("the central directory lies outside the file");
    if (entries > kMaxZipEntries || entries > cdSize / 46)
        throw bad(std::to_string(entries) + " entries do not fit the central directory");
    std::unordered_map<std::string, ZipEntry> out;
    const char* cd = b + cdOffset;
    uint64_t at = 0;
    for (uint64_t e = 0; e < entries; ++e) {
        if (cdSize - at < 46 || le32(cd + at) != 0x02014b50u)
            throw bad("central directory entry " + std::to_string(e) + " is cut or malformed");
        const char* h = cd + at;
        const uint16_t flags = le16(h + 8), method = le16(h + 10);
        const uint16_t nameLen = le16(h + 28), extraLen = le16(h + 30), commentLen = le16(h + 32);
        if (cdSize - at - 46 < uint64_t(nameLen) + extraLen + commentLen)
            throw bad("central directory entry " + std::to_string(e) + " runs past the directory");
        const std::string name(h + 46, nameLen);
        uint64_t comp = le32(h + 20), size = le32(h + 24), local = le32(h + 42);
        // ZIP64 extra field: the 64-bit values of the fields that hold 0xffffffff, in this order.
        for (const char *x = h + 46 + nameLen, *end = x + extraLen; end - x >= 4;) {
            const uint16_t id = le16(x), len = le16(x + 2);
            if (uint64_t(end - x - 4) < len) throw bad("entry '" + name + "' has a cut extra field");
            if (id == 0x0001) {
                const char *v = x + 4, *vend = v + len;
                for (uint64_t* field : {&size, &comp, &local}) {
                    if (*field != 0xffffffffu) continue;
                    if (vend - v < 8) throw bad("entry '" + name + "' has a cut ZIP64 field");
                    *field = le64(v);
                    v += 8;
                }
            }
            x += 4 + len;
        }
        if (flags & 1) throw bad("entry '" + name + "' is encrypted");
        if (method == 0 && comp != size) throw bad("entry '" + name + "' is stored with two different sizes");
        if (local > n || n - local < 30 || le32(b + local) != 0x04034b50u)
            throw bad("entry '" + name + "' has no local header where the directory says");
        const uint64_t data = local + 30 + le16(b + local + 26) + le16(b + local + 28);
        if (data > n || comp > n - data) throw bad("entry '" + name + "' runs past the end of the file");
        if (!out.emplace(name, ZipEntry{name, data, comp, le32(h + 16), method}).second)
            throw bad("entry '" + name + "' appears twice");
        at += 46 + uint64_t(nameLen) + extraLen + commentLen;
    }
    return out;
}

// ----- the pickle machine ---------------------------------------------------------------------------------

struct DtypeOfStorage {
    const char* storage;  // torch.<storage>
    torch::ScalarType dtype;
};
// torch.save names a storage by its legacy typed class (PyTorch 1.x and 2.x alike).
constexpr DtypeOfStorage kStorages[] = {
    {"FloatStorage", torch::kFloat},   {"HalfStorage", torch::kHalf}, {"BFloat16Storage", torch::kBFloat16},
    {"DoubleStorage", torch::kDouble}, {"LongStorage", torch::kLong}, {"IntStorage", torch::kInt},
    {"ShortStorage", torch::kShort},   {"CharStorage", torch::kChar}, {"ByteStorage", torch::kByte},
    {"BoolStorage", torch::kBool},
};

enum class Kind : uint8_t { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Storage, Tensor };

const char* kindName(Kind k) {
    switch (k) {
        case Kind::None:
            return "None";
        case Kind::Bool:
            return "a bool";
        case Kind::Int:
            return "an int";
        case Kind::Float:
            return "a float";
        case Kind::Str:
            return "a string";
        case Kind::Bytes:
            return "bytes";
        case Kind::Tuple:
            return "a tuple";
        case Kind::List:
            return "a list";
        case Kind::Dict:
            return "a dict";
        case Kind::Global:
            return "a Python name";
        case Kind::Storage:
            return "a storage";
        case Kind::Tensor:
            return "a tensor";
    }
    return "a value";
}

/// One value of the pickle. Containers refer to other values by index into the machine's arena, so that
/// no value owns another (a list appended to itself is harmless, and nothing is freed recursively).
struct Value {
    Kind kind = Kind::None;
    int64_t i = 0;              // Bool, Int; Storage: dtype; Tensor: index into `tensors`
    double f = 0;               // Float
    std::string s;              // Str, Bytes, Global ("module.name"), Storage: record key
    std::vector<size_t> items;  // Tuple, List; Dict: key, value, key, value, …
};

class Unpickler {
public:
    Unpickler(const char* archive, size_t archiveSize, const std::unordered_map<std::string, ZipEntry>& zip,
              std::string prefix, std::string source)
        : archive_(archive),
          zip_(zip),
          prefix_(std::move(prefix)),
          src_(std::move(source)),
          maxOutput_(kOutputFactor * archiveSize + kOutputSlack) {}

    std::map<std::string, torch::Tensor> run(const char* p, size_t n) {
        p_ = p;
        n_ = n;
        const size_t top = machine();
        const Value& d = values_[top];
        if (d.kind != Kind::Dict)
            throw Error(src_, std::string("holds ") + kindName(d.kind) +
                                  ", not a state dict {name: tensor}: save model.state_dict()");
        std::map<std::string, torch::Tensor> out;
        for (size_t k = 0; k + 1 < d.items.size(); k += 2) {
            const Value& key = values_[d.items[k]];
            const Value& val = values_[d.items[k + 1]];
            if (key.kind != Kind::Str)
                throw Error(src_, std::string("a state dict key is ") + kindName(key.kind) + ", not a name");
            if (val.kind != Kind::Tensor)
                throw Error(src_ + ": '" + key.s + "'",
                            std::string("is ") + kindName(val.kind) +
                                ", not a tensor (a plain state dict {name: tensor} is expected; a training "
                                "checkpoint's model weights are saved with torch.save(model.state_dict()))");
            out[key.s] = tensors_[size_t(val.i)];
        }
        return out;
    }

private:
    const char* archive_;
    const std::unordered_map<std::string, ZipEntry>& zip_;
    const std::string prefix_, src_;
    const char* p_ = nullptr;
    size_t n_ = 0, pos_ = 0, op_ = 0;  // op_: the byte of the opcode being run
    std::vector<Value> values_;
    std::vector<size_t> stack_, marks_;
    std::unordered_map<uint64_t, size_t> memo_;
    std::vector<torch::Tensor> tensors_;
    std::unordered_map<std::string, torch::Tensor> storages_;  // record key → its bytes (uint8), CRC checked
    uint64_t output_ = 0, maxOutput_;  // bytes of the tensors made so far, and the cap

    Error fail(const std::string& why) const {
        return Error(src_ + ": data.pkl byte " + std::to_string(op_), why);
    }

    const char* take(uint64_t k) {
        if (k > n_ - pos_) throw fail("the pickle ends inside a value (truncated data.pkl)");
        const char* q = p_ + pos_;
        pos_ += size_t(k);
        return q;
    }
    std::string line() {
        const size_t start = pos_;
        while (pos_ < n_ && p_[pos_] != '\n')
            if (++pos_ - start > 256) throw fail("a name line longer than 256 bytes");
        if (pos_ >= n_) throw fail("the pickle ends inside a name");
        return std::string(p_ + start, p_ + pos_++);
    }

    size_t add(Value v) {
        if (values_.size() >= kMaxValues)
            throw fail("more than " + std::to_string(kMaxValues) + " values: not a state dict");
        values_.push_back(std::move(v));
        return values_.size() - 1;
    }
    void push(Value v) { stack_.push_back(add(std::move(v))); }
    size_t pop() {
        if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) throw fail("pops an empty stack");
        const size_t v = stack_.back();
        stack_.pop_back();
        return v;
    }
    size_t topIndex() const {
        if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) throw fail("reads an empty stack");
        return stack_.back();
    }
    std::vector<size_t> popMark() {
        if (marks_.empty()) throw fail("no mark to pop to");
        const size_t m = marks_.back();
        marks_.pop_back();
        std::vector<size_t> items(stack_.begin() + std::ptrdiff_t(m), stack_.end());
        stack_.resize(m);
        return items;
    }
    Value& container(Kind k, const char* what) {
        Value& c = values_[topIndex()];
        if (c.kind != k) throw fail(std::string(what) + " on " + kindName(c.kind));
        return c;
    }
    void pushTuple(std::vector<size_t> items) {
        Value v;
        v.kind = Kind::Tuple;
        v.items = std::move(items);
        push(std::move(v));
    }
    void pushInt(int64_t x) {
        Value v;
        v.kind = Kind::Int;
        v.i = x;
        push(std::move(v));
    }
    void pushText(Kind k, uint64_t len) {
        Value v;
        v.kind = k;
        const char* q = take(len);
        v.s.assign(q, size_t(len));
        push(std::move(v));
    }

    /// Runs the pickle to STOP; returns the value left on the stack.
    size_t machine() {
        while (true) {
            op_ = pos_;
            const uint8_t op = uint8_t(*take(1));
            switch (op) {
                case 0x80:  // PROTO
                    take(1);
                    break;
                case 0x95:  // FRAME (protocol 4): the bytes follow inline
                    take(8);
                    break;
                case '.': {  // STOP
                    if (stack_.size() != 1 || !marks_.empty()) throw fail("STOP with a malformed stack");
                    return stack_.back();
                }
                case '(':  // MARK
                    marks_.push_back(stack_.size());
                    break;
                case '0':  // POP
                    pop();
                    break;
                case '1':  // POP_MARK
                    popMark();
                    break;
                case '2':  // DUP
                    stack_.push_back(topIndex());
                    break;
                case 'N':  // NONE
                    push(Value{});
                    break;
                case 0x88:
                case 0x89: {  // NEWTRUE, NEWFALSE
                    Value v;
                    v.kind = Kind::Bool;
                    v.i = op == 0x88;
                    push(std::move(v));
                    break;
                }
                case 'J':  // BININT
                    pushInt(int32_t(le32(take(4))));
                    break;
                case 'K':  // BININT1
                    pushInt(uint8_t(*take(1)));
                    break;
                case 'M':  // BININT2
                    pushInt(le16(take(2)));
                    break;
                case 0x8a: {  // LONG1: little-endian two's complement
                    const uint8_t len = uint8_t(*take(1));
                    if (len > 8) throw fail("an integer of " + std::to_string(len) + " bytes");
                    const char* q = take(len);
                    uint64_t u = 0;
                    for (int k = len - 1; k >= 0; --k)
                        u = u << 8 | uint8_t(q[k]);
                    if (len > 0 && len < 8 && (uint8_t(q[len - 1]) & 0x80)) u |= ~uint64_t(0) << (8 * len);
                    pushInt(int64_t(u));
                    break;
                }
                case 'G': {  // BINFLOAT, big-endian
                    const char* q = take(8);
                    uint64_t u = 0;
                    for (int k = 0; k < 8; ++k)
                        u = u << 8 | uint8_t(q[k]);
                    Value v;
                    v.kind = Kind::Float;
                    std::memcpy(&v.f, &u, 8);
                    push(std::move(v));
                    break;
                }
                case 'X':  // BINUNICODE
                    pushText(Kind::Str, le32(take(4)));
                    break;
                case 0x8c:  // SHORT_BINUNICODE
                    pushText(Kind::Str, uint8_t(*take(1)));
                    break;
                case 0x8d:  // BINUNICODE8
                    pushText(Kind::Str, le64(take(8)));
                    break;
                case 'T':  // BINSTRING
                    pushText(Kind::Bytes, le32(take(4)));
                    break;
                case 'U':  // SHORT_BINSTRING
                    pushText(Kind::Bytes, uint8_t(*take(1)));
                    break;
                case 'B':  // BINBYTES
                    pushText(Kind::Bytes, le32(take(4)));
                    break;
                case 'C':  // SHORT_BINBYTES
                    pushText(Kind::Bytes, uint8_t(*take(1)));
                    break;
                case ')':  // EMPTY_TUPLE
                    pushTuple({});
                    break;
                case 0x85:    // TUPLE1
                case 0x86:    // TUPLE2
                case 0x87: {  // TUPLE3
                    std::vector<size_t> items(size_t(op - 0x84));
                    for (size_t k = items.size(); k-- > 0;)
                        items[k] = pop();
                    pushTuple(std::move(items));
                    break;
                }
                case 't':  // TUPLE
                    pushTuple(popMark());
                    break;
                case ']':    // EMPTY_LIST
                case 'l': {  // LIST
                    Value v;
                    v.kind = Kind::List;
                    if (op == 'l') v.items = popMark();
                    push(std::move(v));
                    break;
                }
                case '}':    // EMPTY_DICT
                case 'd': {  // DICT
                    Value v;
                    v.kind = Kind::Dict;
                    if (op == 'd') v.items = popMark();
                    if (v.items.size() % 2) throw fail("a dict with a key but no value");
                    push(std::move(v));
                    break;
                }
                case 'a': {  // APPEND
                    const size_t x = pop();
                    container(Kind::List, "APPEND").items.push_back(x);
                    break;
                }
                case 'e': {  // APPENDS
                    const std::vector<size_t> xs = popMark();
                    auto& items = container(Kind::List, "APPENDS").items;
                    items.insert(items.end(), xs.begin(), xs.end());
                    break;
                }
                case 's': {  // SETITEM
                    const size_t v = pop(), k = pop();
                    auto& items = container(Kind::Dict, "SETITEM").items;
                    items.push_back(k);
                    items.push_back(v);
                    break;
                }
                case 'u': {  // SETITEMS
                    const std::vector<size_t> kv = popMark();
                    if (kv.size() % 2) throw fail("SETITEMS with a key but no value");
                    auto& items = container(Kind::Dict, "SETITEMS").items;
                    items.insert(items.end(), kv.begin(), kv.end());
                    break;
                }
                case 'q':  // BINPUT
                    memo_[uint8_t(*take(1))] = topIndex();
                    break;
                case 'r':  // LONG_BINPUT
                    memo_[le32(take(4))] = topIndex();
                    break;
                case 0x94:  // MEMOIZE
                    memo_[memo_.size()] = topIndex();
                    break;
                case 'h':    // BINGET
                case 'j': {  // LONG_BINGET
                    const uint64_t k = op == 'h' ? uint8_t(*take(1)) : le32(take(4));
                    const auto it = memo_.find(k);
                    if (it == memo_.end())
                        throw fail("refers to memo " + std::to_string(k) + ", never stored");
                    stack_.push_back(it->second);
                    break;
                }
                case 'c': {  // GLOBAL "module\nname\n"
                    std::string module = line();
                    global(module + "." + line());
                    break;
                }
                case 0x93: {  // STACK_GLOBAL
                    const size_t name = pop(), module = pop();
                    if (values_[name].kind != Kind::Str || values_[module].kind != Kind::Str)
                        throw fail("STACK_GLOBAL of values that are not names");
                    global(values_[module].s + "." + values_[name].s);
                    break;
                }
                case 'Q':  // BINPERSID
                    persistent(pop());
                    break;
                case 'R': {  // REDUCE
                    const size_t args = pop(), fn = pop();
                    reduce(fn, args);
                    break;
                }
                case 'b': {  // BUILD: attributes (a state dict's _metadata, a Parameter's) are not needed
                    pop();
                    const Kind k = values_[topIndex()].kind;
                    if (k != Kind::Dict && k != Kind::Tensor)
                        throw fail(std::string("BUILD on ") + kindName(k));
                    break;
                }
                default: {
                    static const char* hex = "0123456789abcdef";
                    throw fail(std::string("pickle opcode 0x") + hex[op >> 4] + hex[op & 15] +
                               " is not one a tensor state dict uses; nothing was run");
                }
            }
        }
    }

    void global(const std::string& name) {
        static const char* const allowed[] = {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
                                              "torch._utils._rebuild_parameter",
                                              "torch._utils._rebuild_parameter_with_state"};
        bool ok = false;
        for (const char* a : allowed)
            ok = ok || name == a;
        for (const auto& s : kStorages)
            ok = ok || name == std::string("torch.") + s.storage;
        if (!ok)
            throw fail("refers to the Python name '" + name.substr(0, 200) +
                       "': a state dict holds tensors only, and the workbench never runs what a checkpoint "
                       "names (only collections.OrderedDict, torch._utils._rebuild_tensor_v2 / "
                       "_rebuild_parameter and torch.*Storage are understood)");
        Value v;
        v.kind = Kind::Global;
        v.s = name;
        push(std::move(v));
    }

    const Value& arg(const Value& t, size_t k, Kind want, const char* what) const {
        if (k >= t.items.size()) throw fail(std::string("missing ") + what);
        const Value& v = values_[t.items[k]];
        if (v.kind != want)
            throw fail(std::string(what) + " is " + kindName(v.kind) + ", expected " + kindName(want));
        return v;
    }

    /// ('storage', torch.XStorage, key, location, numel): the record data/<key>.
    void persistent(size_t pid) {
        const Value& t = values_[pid];
        if (t.kind != Kind::Tuple || t.items.size() != 5 || values_[t.items[0]].kind != Kind::Str ||
            values_[t.items[0]].s != "storage")
            throw fail("a persistent reference that is not ('storage', type, key, location, size)");
        const std::string type = arg(t, 1, Kind::Global, "the storage type").s;
        const std::string key = arg(t, 2, Kind::Str, "the storage key").s;
        const int64_t numel = arg(t, 4, Kind::Int, "the storage size").i;
        std::optional<torch::ScalarType> dtype;
        for (const auto& s : kStorages)
            if (type == std::string("torch.") + s.storage) dtype = s.dtype;
        if (!dtype) throw fail("'" + type + "' is not a storage type");
        const std::string record = prefix_ + "data/" + key;
        const auto it = zip_.find(record);
        if (it == zip_.end()) throw fail("storage '" + key + "' has no record " + record + " in the archive");
        const int64_t es = int64_t(c10::elementSize(*dtype));
        if (numel < 0 || uint64_t(numel) > it->second.size / uint64_t(es))
            throw fail("storage '" + key + "' claims " + std::to_string(numel) + " elements but its record " +
                       record + " holds " + std::to_string(it->second.size) + " bytes");
        if (!storages_.count(key)) {
            const char* data = recordBytes(archive_, it->second, src_);
            // Read in place from the mapping (torch.save aligns records to 64 bytes); copied into an aligned
            // buffer only where a writer did not align it. Every tensor is copied out before the mapping
            // closes.
            if (reinterpret_cast<uintptr_t>(data) % uintptr_t(es) == 0) {
                storages_[key] = torch::from_blob(const_cast<char*>(data), {numel}, torch::dtype(*dtype));
            } else {
                torch::Tensor bytes = torch::empty({numel * es}, torch::kUInt8);
                if (numel) std::memcpy(bytes.data_ptr(), data, size_t(numel * es));
                storages_[key] = bytes.view(*dtype);
            }
        }
        Value v;
        v.kind = Kind::Storage;
        v.i = int64_t(*dtype);
        v.s = key;
        push(std::move(v));
    }

    std::vector<int64_t> ints(const Value& tuple, const char* what) const {
        if (tuple.kind != Kind::Tuple) throw fail(std::string(what) + " is not a tuple");
        if (tuple.items.size() > kMaxDims) throw fail(std::string(what) + " has more than 16 dimensions");
        std::vector<int64_t> out;
        for (size_t k : tuple.items) {
            if (values_[k].kind != Kind::Int || values_[k].i < 0)
                throw fail(std::string(what) + " holds something other than a non-negative integer");
            out.push_back(values_[k].i);
        }
        return out;
    }

    void reduce(size_t fnIndex, size_t argsIndex) {
        const Value& fn = values_[fnIndex];
        const Value& args = values_[argsIndex];
        if (fn.kind != Kind::Global) throw fail(std::string("calls ") + kindName(fn.kind));
        if (args.kind != Kind::Tuple) throw fail("call arguments that are not a tuple");
        if (fn.s == "collections.OrderedDict") {
            if (!args.items.empty()) throw fail("OrderedDict called with arguments");
            Value v;
            v.kind = Kind::Dict;
            push(std::move(v));
            return;
        }
        if (fn.s == "torch._utils._rebuild_parameter" ||
            fn.s == "torch._utils._rebuild_parameter_with_state") {
            // (tensor, requires_grad, backward_hooks[, state]): the tensor is what is kept.
            const Value& t = arg(args, 0, Kind::Tensor, "the parameter's data");
            Value v = t;
            push(std::move(v));
            return;
        }
        if (fn.s != "torch._utils._rebuild_tensor_v2")
            throw fail("calls " + fn.s + ", which makes no tensor");
        // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[,
        // metadata])
        if (args.items.size() < 4) throw fail("_rebuild_tensor_v2 with fewer than 4 arguments");
        const Value& storage = arg(args, 0, Kind::Storage, "the tensor's storage");
        const int64_t offset = arg(args, 1, Kind::Int, "the storage offset").i;
        const std::vector<int64_t> size = ints(values_[args.items[2]], "the size");
        const std::vector<int64_t> stride = ints(values_[args.items[3]], "the stride");
        if (size.size() != stride.size()) throw fail("size and stride differ in length");
        const torch::Tensor& bytes = storages_.at(storage.s);
        const int64_t avail = bytes.numel();
        // The furthest element the view reaches must lie in the storage (every step overflow-checked).
        bool empty = false;
        for (int64_t s : size)
            empty = empty || s == 0;
        if (offset < 0) throw fail("a negative storage offset");
        if (!empty) {
            uint64_t last = uint64_t(offset), count = 1;
            for (size_t d = 0; d < size.size(); ++d) {
                const uint64_t step = uint64_t(size[d] - 1), st = uint64_t(stride[d]);
                if (st && step > (std::numeric_limits<uint64_t>::max() - last) / st)
                    throw fail("a view whose extent overflows");
                last += step * st;
                if (uint64_t(size[d]) > (uint64_t(1) << 40) / count) throw fail("more than 2^40 elements");
                count *= uint64_t(size[d]);
            }
            if (last >= uint64_t(avail))
                throw fail("a tensor of size " + shapeText(size) + " reaches element " +
                           std::to_string(last) + " of storage '" + storage.s + "', which has " +
                           std::to_string(avail));
        } else if (offset > avail) {
            throw fail("a storage offset past the storage's end");
        }
        const torch::ScalarType dt = bytes.scalar_type();
        const torch::ScalarType outType =
            dt == torch::kFloat || dt == torch::kHalf || dt == torch::kBFloat16 || dt == torch::kDouble
                ? torch::kFloat
                : torch::kLong;
        uint64_t count = 1;
        for (int64_t d : size)
            count *= uint64_t(d);  // ≤ 2^40, checked above
        output_ += count * c10::elementSize(outType);
        if (output_ > maxOutput_)
            throw fail("the tensors would take more than " + std::to_string(maxOutput_ >> 20) +
                       " MiB, over 8 times the file's size: views that copy their storages over and over are "
                       "not a state dict");
        torch::Tensor view =
            empty ? torch::empty(size, bytes.options()) : bytes.as_strided(size, stride, offset);
        Value v;
        v.kind = Kind::Tensor;
        v.i = int64_t(tensors_.size());
        // A copy of its own (never a view of the mapping), float32 or int64.
        tensors_.push_back(view.to(outType, false, true).contiguous());
        push(std::move(v));
    }

    static std::string shapeText(const std::vector<int64_t>& s) {
        std::string out = "[";
        for (size_t k = 0; k < s.size(); ++k)
            out += (k ? ", " : "") + std::to_string(s[k]);
        return out + "]";
    }
};

}  // namespace

std::map<std::string, torch::Tensor> parseTorchCheckpoint(const char* b, size_t n, const std::string& src) {
    if (n >= 2 && uint8_t(b[0]) == 0x80 && uint8_t(b[1]) <= 5)
        throw Error(src,
                    "PyTorch's legacy (pre-1.6, non-zip) checkpoint format, which the workbench does not "
                    "read: re-save it with torch.save in PyTorch 1.6 or later, or as safetensors");
    if (n < 4 || le32(b) != 0x04034b50u)
        throw Error(src, "not a PyTorch checkpoint: torch.save's zip archive starts with \"PK\\3\\4\"");
    const auto zip = readZip(b, n, src);
    // torch.save writes <folder>/data.pkl and <folder>/data/<key>; TorchScript adds code/ and constants.pkl.
    std::string prefix;
    for (const auto& [name, e] : zip) {
        const size_t slash = name.find('/');
        if (slash != std::string::npos && name.compare(slash, std::string::npos, "/data.pkl") == 0)
            prefix = name.substr(0, slash + 1);
    }
    if (prefix.empty()) throw Error(src, "a zip archive without data.pkl: not a torch.save checkpoint");
    if (zip.count(prefix + "constants.pkl"))
        throw Error(src,
                    "a TorchScript module (torch.jit.save), not a state dict: save "
                    "model.state_dict() with torch.save, or as safetensors");
    if (const auto bo = zip.find(prefix + "byteorder"); bo != zip.end()) {
        const std::string order(recordBytes(b, bo->second, src),
                                size_t(std::min<uint64_t>(bo->second.size, 16)));
        if (order != "little")
            throw Error(src + ": " + prefix + "byteorder",
                        "'" + order + "': only little-endian checkpoints are read");
    }
    const ZipEntry& pkl = zip.at(prefix + "data.pkl");
    if (pkl.size > kMaxPickleBytes)
        throw Error(src, "data.pkl is " + std::to_string(pkl.size >> 20) +
                             " MiB; a state dict's is well under the 64 MiB this reader accepts");
    Unpickler u(b, n, zip, prefix, src);
    return u.run(recordBytes(b, pkl, src), size_t(pkl.size));
}

std::map<std::string, torch::Tensor> readTorchCheckpoint(const std::string& path) {
    const MappedFile file(path, "a PyTorch checkpoint");
    return parseTorchCheckpoint(file.data(), file.size(), path);
}

std::map<std::string, torch::Tensor> readTensorFile(const std::string& path) {
    const std::string ext = ".safetensors";
    if (path.size() >= ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0)
        return readSafetensors(path).tensors;
    return readTorchCheckpoint(path);
}

}  // namespace peft
