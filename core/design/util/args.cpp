// SPDX-License-Identifier: GPL-3.0-or-later
#include "util/args.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "util/error.h"

namespace peft {

Args::Args(const std::vector<std::string>& argv, const std::vector<OptionSpec>& options,
           const std::string& command)
    : command_(command), raw_(argv) {
    auto find = [&](const std::string& name) -> const OptionSpec* {
        for (const auto& o : options)
            if (o.name == name) return &o;
        return nullptr;
    };
    for (size_t i = 0; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (a.size() < 3 || a.compare(0, 2, "--") != 0) {
            positional_.push_back(a);
            continue;
        }
        std::string name = a.substr(2), value;
        bool inlineValue = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            inlineValue = true;
        }
        const OptionSpec* spec = find(name);
        if (!spec)
            throw Error("--" + name, "unknown option for '" + command_ + "' (see '" + command_ + " --help')");
        if (spec->takes_value && !inlineValue) {
            if (i + 1 >= argv.size()) throw Error("--" + name, "needs a value");
            value = argv[++i];
        } else if (!spec->takes_value && inlineValue) {
            throw Error("--" + name, "takes no value");
        }
        auto& slot = values_[name];
        if (!slot.empty() && !spec->repeatable) throw Error("--" + name, "given more than once");
        slot.push_back(value);
    }
}

std::optional<std::string> Args::get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second.back();
}

std::vector<std::string> Args::all(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::optional<int64_t> Args::getInt(const std::string& name) const {
    auto v = get(name);
    if (!v) return std::nullopt;
    errno = 0;
    char* end = nullptr;
    long long x = std::strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || errno == ERANGE)
        throw Error("--" + name, "expected an integer, got '" + *v + "'");
    return static_cast<int64_t>(x);
}

std::optional<double> Args::getDouble(const std::string& name) const {
    auto v = get(name);
    if (!v) return std::nullopt;
    errno = 0;
    char* end = nullptr;
    double x = std::strtod(v->c_str(), &end);
    if (v->empty() || *end != '\0' || errno == ERANGE || !std::isfinite(x))
        throw Error("--" + name, "expected a number, got '" + *v + "'");
    return x;
}

}  // namespace peft
