// SPDX-License-Identifier: GPL-3.0-or-later
#include "io/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/files.h"
#include "util/json_read.h"

namespace peft {

namespace {

constexpr uint64_t kMaxHeader = 100ull << 20;  // 100 MiB, as the reference implementation allows

struct Entry {
    std::string name;
    torch::ScalarType dtype;
    int64_t elemSize;
    std::vector<int64_t> shape;
    uint64_t begin, end;
};

}  // namespace

SafetensorsFile parseSafetensors(const std::string& bytes, const std::string& source) {
    return parseSafetensors(bytes.data(), bytes.size(), source);
}

SafetensorsFile parseSafetensors(const char* bytes, size_t size, const std::string& source) {
    if (size < 8)
        throw Error(source, "not a safetensors file: " + std::to_string(size) +
                                " bytes, less than the 8-byte header length");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | static_cast<unsigned char>(bytes[i]);
    if (n > kMaxHeader)
        throw Error(source, "header length " + std::to_string(n) + " exceeds the 100 MiB limit");
    if (n > size - 8)
        throw Error(source, "header length " + std::to_string(n) + " runs past the end of the file (" +
                                std::to_string(size) + " bytes)");
    nlohmann::json header;
    try {
        header = parseJson(std::string_view(bytes + 8, n), "header");
    } catch (const Error& e) {
        if (e.reason().rfind("invalid JSON", 0) == 0)
            throw Error(source, "the header is not valid JSON (" + std::string(e.what()) + ")");
        throw Error(source, "the header is refused: " + std::string(e.what()));  // duplicates, depth
    }
    if (!header.is_object()) throw Error(source, "the header is not a JSON object");
    const uint64_t dataSize = size - 8 - n;
    SafetensorsFile out;
    std::vector<Entry> entries;
    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string where = source + ": tensor '" + it.key() + "'";
        if (it.key() == "__metadata__") {
            if (!it->is_object()) throw Error(source, "__metadata__ must be an object of strings");
            for (auto m = it->begin(); m != it->end(); ++m) {
                if (!m->is_string()) throw Error(source, "__metadata__." + m.key() + " must be a string");
                out.metadata[m.key()] = m->get<std::string>();
            }
            continue;
        }
        const auto& v = *it;
        if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
            throw Error(where, "needs dtype, shape and data_offsets");
        if (!v["dtype"].is_string()) throw Error(where, "dtype must be a string");
        const std::string dt = v["dtype"].get<std::string>();
        Entry e{it.key(), torch::kFloat, 4, {}, 0, 0};
        if (dt == "F32")
            e = {it.key(), torch::kFloat, 4, {}, 0, 0};
        else if (dt == "F16")
            e = {it.key(), torch::kHalf, 2, {}, 0, 0};
        else if (dt == "BF16")
            e = {it.key(), torch::kBFloat16, 2, {}, 0, 0};
        else if (dt == "I64")
            e = {it.key(), torch::kLong, 8, {}, 0, 0};
        else
            throw Error(where, "unsupported dtype '" + dt + "' (supported: F32, F16, BF16, I64)");
        if (!v["shape"].is_array()) throw Error(where, "shape must be an array");
        // Every product overflow-checked: [2^31, 2^31] of F32 is 2^64 bytes, which wraps to 0 unchecked.
        uint64_t numel = 1;
        if (v["shape"].size() > 64) throw Error(where, "shape has more than 64 dimensions");
        for (const auto& d : v["shape"]) {
            if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0))
                throw Error(where, "shape entries must be non-negative integers");
            const uint64_t dim = d.get<uint64_t>();
            if (dim > uint64_t(INT64_MAX) || __builtin_mul_overflow(numel, dim, &numel))
                throw Error(where, "shape is too large (its element count overflows)");
            e.shape.push_back(static_cast<int64_t>(dim));
        }
        uint64_t bytesNeeded = 0;
        if (__builtin_mul_overflow(numel, uint64_t(e.elemSize), &bytesNeeded))
            throw Error(where, "shape is too large (its byte count overflows)");
        const auto& off = v["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
            !off[1].is_number_unsigned())
            throw Error(where, "data_offsets must be two non-negative integers");
        e.begin = off[0].get<uint64_t>();
        e.end = off[1].get<uint64_t>();
        if (e.begin > e.end || e.end > dataSize)
            throw Error(where, "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                                   ") fall outside the data section of " + std::to_string(dataSize) +
                                   " bytes");
        if (e.end - e.begin != bytesNeeded)
            throw Error(where, std::to_string(e.end - e.begin) + " bytes for shape of " +
                                   std::to_string(numel) + " " + dt + " elements (" +
                                   std::to_string(bytesNeeded) + " bytes)");
        entries.push_back(std::move(e));
    }
    // No two tensors may share a byte. Sorted by start, each non-empty tensor must begin at or after the
    // furthest end so far (comparing neighbours only would let an empty tensor between two overlapping
    // ones hide the overlap).
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
    const Entry* furthest = nullptr;
    for (const Entry& e : entries) {
        if (e.end == e.begin) continue;
        if (furthest && e.begin < furthest->end)
            throw Error(source, "tensors '" + furthest->name + "' and '" + e.name + "' overlap");
        if (!furthest || e.end > furthest->end) furthest = &e;
    }
    const char* data = bytes + 8 + n;
    for (const Entry& e : entries) {
        torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype));
        if (e.end > e.begin) std::memcpy(t.data_ptr(), data + e.begin, e.end - e.begin);
        if (e.dtype == torch::kHalf || e.dtype == torch::kBFloat16) t = t.to(torch::kFloat);
        out.tensors[e.name] = t;
    }
    return out;
}

SafetensorsFile readSafetensors(const std::string& path) {
    // Memory-mapped: the header and every offset are validated against the mapping's size before any
    // tensor is copied out of it, so a large checkpoint is read once, straight from the page cache. A FIFO
    // is named, not waited on.
    const MappedFile file(path, "a safetensors file");
    return parseSafetensors(file.data(), file.size(), path);
}

std::string serializeSafetensors(const std::map<std::string, torch::Tensor>& tensors,
                                 const std::map<std::string, std::string>& metadata) {
    nlohmann::json header = nlohmann::json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::vector<torch::Tensor> blobs;
    uint64_t offset = 0;
    for (const auto& [name, tensor] : tensors) {
        torch::Tensor t = tensor.detach().to(torch::kCPU);
        if (t.scalar_type() != torch::kLong) t = t.to(torch::kFloat);
        t = t.contiguous();
        const uint64_t size = uint64_t(t.numel()) * uint64_t(t.element_size());
        header[name] = {{"dtype", t.scalar_type() == torch::kLong ? "I64" : "F32"},
                        {"shape", t.sizes().vec()},
                        {"data_offsets", {offset, offset + size}}};
        offset += size;
        blobs.push_back(t);
    }
    std::string h = header.dump();
    while ((h.size() + 8) % 8)
        h += ' ';  // align the data section to 8 bytes, as the reference writer does
    std::string bytes;
    bytes.reserve(8 + h.size() + offset);
    const uint64_t n = h.size();
    for (int i = 0; i < 8; ++i)
        bytes.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    bytes += h;
    for (const auto& t : blobs)
        bytes.append(static_cast<const char*>(t.data_ptr()), size_t(t.numel() * t.element_size()));
    return bytes;
}

void writeSafetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
    const std::string bytes = serializeSafetensors(tensors, metadata);
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw Error(path, "cannot write");
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!out) throw Error(path, "write failed (disk full?)");
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw Error(path, "cannot move the written file into place: " + ec.message());
}

}  // namespace peft
