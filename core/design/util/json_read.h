// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The one way JSON enters the workbench: parseJson / readJsonFile refuse nesting deeper than kMaxJsonDepth
// (before anything recursive touches the value), duplicate keys and oversized files, and name the file,
// line and column. JsonReader reads the workbench's own objects strictly (unknown fields are errors);
// JsonFields reads other tools' files (Hugging Face configs) leniently, but still type-checked, with the
// file and the key in every message ("config.json: n_layer: must be an integer, got string").
#include <cmath>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace peft {

/// The deepest nesting of arrays and objects any JSON input may have.
constexpr int kMaxJsonDepth = 128;
/// The largest JSON file read by default (configs, adapter configs, specs); tokenizer files may be larger.
constexpr uint64_t kMaxJsonFileBytes = uint64_t(64) << 20;
/// The largest tokenizer.json / vocab.json read.
constexpr uint64_t kMaxTokenizerFileBytes = uint64_t(1) << 30;

/// Parses `text`; every problem is a peft::Error naming `source` (and the line): invalid JSON, nesting
/// deeper than kMaxJsonDepth, a key given twice in one object.
nlohmann::json parseJson(std::string_view text, const std::string& source);
/// The same, keeping the objects' key order.
nlohmann::ordered_json parseOrderedJson(std::string_view text, const std::string& source);
/// Reads and parses a regular file of at most `maxBytes`.
nlohmann::json readJsonFile(const std::string& path, uint64_t maxBytes = kMaxJsonFileBytes);

class JsonReader {
public:
    JsonReader(const nlohmann::json& j, std::string path) : j_(j), path_(std::move(path)) {
        if (!j_.is_object())
            throw Error(path_.empty() ? "(top level)" : path_, "expected an object, got " + typeName(j_));
    }

    std::string path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
    bool has(const std::string& key) const { return j_.contains(key); }
    const nlohmann::json& raw(const std::string& key) {
        seen_.insert(key);
        return j_.at(key);
    }

    template <typename T>
    bool get(const std::string& key, T& out) {
        auto it = j_.find(key);
        if (it == j_.end()) return false;
        seen_.insert(key);
        read(*it, path(key), out);
        return true;
    }

    /// Reports the first field that was never read.
    void finish() const {
        for (auto it = j_.begin(); it != j_.end(); ++it)
            if (!seen_.count(it.key())) throw Error(path(it.key()), "unknown field");
    }

    static std::string typeName(const nlohmann::json& v) {
        if (v.is_number_integer()) return "integer";
        if (v.is_number_float()) return "number";
        return v.type_name();
    }

    static void read(const nlohmann::json& v, const std::string& where, std::string& out) {
        if (!v.is_string()) throw Error(where, "expected a string, got " + typeName(v));
        out = v.get<std::string>();
    }
    static void read(const nlohmann::json& v, const std::string& where, bool& out) {
        if (!v.is_boolean()) throw Error(where, "expected true or false, got " + typeName(v));
        out = v.get<bool>();
    }
    static void read(const nlohmann::json& v, const std::string& where, int64_t& out) {
        if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
            throw Error(where, v.dump() + " is too large for an integer field");
        if (v.is_number_integer()) {
            out = v.get<int64_t>();
            return;
        }
        if (v.is_number_float()) {
            double d = v.get<double>();
            if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) {
                out = static_cast<int64_t>(d);
                return;
            }
        }
        throw Error(where, "expected an integer, got " + typeName(v) + " " + v.dump());
    }
    static void read(const nlohmann::json& v, const std::string& where, double& out) {
        if (!v.is_number()) throw Error(where, "expected a number, got " + typeName(v));
        out = v.get<double>();
        if (!std::isfinite(out)) throw Error(where, "must be finite");
    }
    template <typename T>
    static void read(const nlohmann::json& v, const std::string& where, std::vector<T>& out) {
        if (!v.is_array()) throw Error(where, "expected an array, got " + typeName(v));
        out.clear();
        for (size_t i = 0; i < v.size(); ++i) {
            T x{};
            read(v[i], where + "[" + std::to_string(i) + "]", x);
            out.push_back(std::move(x));
        }
    }

private:
    const nlohmann::json& j_;
    std::string path_;
    std::set<std::string> seen_;
};

/// Typed, lenient reads of another tool's JSON object (unknown keys are fine; a known key of the wrong type
/// or out of range is an error "SOURCE: KEY: reason"). A null value counts as absent.
class JsonFields {
public:
    /// `source` names the file (and the object inside it: "adapter_config.json").
    JsonFields(const nlohmann::json& j, std::string source);

    const nlohmann::json& json() const { return j_; }
    const std::string& source() const { return source_; }
    std::string where(const std::string& key) const { return source_ + ": " + key; }
    bool has(const std::string& key) const;

    int64_t integer(const std::string& key, std::optional<int64_t> fallback = std::nullopt) const;
    double number(const std::string& key, std::optional<double> fallback = std::nullopt) const;
    std::string text(const std::string& key, std::optional<std::string> fallback = std::nullopt) const;
    bool flag(const std::string& key, std::optional<bool> fallback = std::nullopt) const;
    /// The value of `key`, which must be an object (absent: an empty object).
    const nlohmann::json& object(const std::string& key) const;
    /// The value of `key`, which must be an array (absent: an empty array).
    const nlohmann::json& array(const std::string& key) const;

    /// An integer value read on its own (an element of an array, …); `where` names it.
    static int64_t integerValue(const nlohmann::json& v, const std::string& where);
    static double numberValue(const nlohmann::json& v, const std::string& where);

private:
    const nlohmann::json& j_;
    std::string source_;
};

}  // namespace peft
