// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Strict JSON object reading: every field read is type-checked, unknown fields are reported, and every
// message names the field path ("modifications[2].r: expected an integer, got string").
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace peft {

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
    static void read(const nlohmann::json& v, const std::string& where, std::vector<int64_t>& out) {
        if (!v.is_array()) throw Error(where, "expected an array of integers, got " + typeName(v));
        out.clear();
        for (size_t i = 0; i < v.size(); ++i) {
            int64_t x = 0;
            read(v[i], where + "[" + std::to_string(i) + "]", x);
            out.push_back(x);
        }
    }

private:
    const nlohmann::json& j_;
    std::string path_;
    std::set<std::string> seen_;
};

}  // namespace peft
